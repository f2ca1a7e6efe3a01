package protocol

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/pathrig/rig/firmware/protocol/vectors"
)

// vector is one line of testdata/vectors.txt.
type vector struct {
	line   int
	name   string
	expect []string // "ok", "err:<reason>"; empty for "none"
	wire   []byte
	fields map[string]string
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	loaded, err := vectors.Load("testdata/vectors.txt")
	if err != nil {
		t.Fatalf("shared vectors: %v", err)
	}
	vs := make([]vector, 0, len(loaded))
	for _, v := range loaded {
		vs = append(vs, vector{line: v.Line, name: v.Name, expect: v.Expect, wire: v.Wire, fields: v.Fields})
	}
	if len(vs) < 30 {
		t.Fatalf("vectors.txt holds %d vectors; expected the full shared set", len(vs))
	}
	return vs
}

func (v vector) num(t *testing.T, key string) uint64 {
	t.Helper()
	s, ok := v.fields[key]
	if !ok {
		t.Fatalf("vectors.txt:%d %s: missing field %s", v.line, v.name, key)
	}
	n, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		t.Fatalf("vectors.txt:%d %s: field %s=%q: %v", v.line, v.name, key, s, err)
	}
	return n
}

func (v vector) hexField(t *testing.T, key string) []byte {
	t.Helper()
	s, ok := v.fields[key]
	if !ok {
		t.Fatalf("vectors.txt:%d %s: missing field %s", v.line, v.name, key)
	}
	if s == "-" {
		return []byte{}
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("vectors.txt:%d %s: field %s: %v", v.line, v.name, key, err)
	}
	return b
}

// frame builds the frame the fields describe.
func (v vector) frame(t *testing.T) Frame {
	return Frame{
		Version:      uint8(v.num(t, "ver")),
		Type:         Type(v.num(t, "type")),
		Boot:         uint32(v.num(t, "boot")),
		Seq:          uint32(v.num(t, "seq")),
		DeviceTimeMs: uint32(v.num(t, "time_ms")),
		Body:         v.hexField(t, "body"),
	}
}

type outcome struct {
	f   Frame
	err error
}

func feedAll(d *Decoder, p []byte, chunk int) []outcome {
	var got []outcome
	emit := func(f Frame, err error) { got = append(got, outcome{f, err}) }
	for len(p) > 0 {
		n := min(chunk, len(p))
		d.Feed(p[:n], emit)
		d.Feed(nil, emit) // an empty read, as a serial timeout gives, must change nothing
		p = p[n:]
	}
	return got
}

func describe(os []outcome) []string {
	s := []string{}
	for _, o := range os {
		if o.err != nil {
			s = append(s, "err:"+Reason(o.err))
		} else {
			s = append(s, "ok")
		}
	}
	return s
}

func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			want := strings.Join(v.expect, ",")
			var last *Frame
			for _, chunk := range []int{len(v.wire) + 1, 1, 2, 3, 7, 64} {
				got := feedAll(&Decoder{}, v.wire, chunk)
				if g := strings.Join(describe(got), ","); g != want {
					t.Fatalf("stream in chunks of %d: got outcomes %q, want %q (errors %v)", chunk, g, want, got)
				}
				for i := range got {
					if got[i].err == nil {
						last = &got[i].f
					}
				}
			}
			if last != nil {
				checkFields(t, v, *last)
			}
			single := bytes.IndexByte(v.wire, 0) == len(v.wire)-1
			if single && len(v.expect) == 1 {
				f, err := Decode(v.wire)
				if g := describe([]outcome{{f, err}}); g[0] != v.expect[0] {
					t.Fatalf("Decode: got %s (%v), want %s", g[0], err, v.expect[0])
				}
			}
			if single && want == "ok" {
				wire, err := Encode(v.frame(t))
				if err != nil {
					t.Fatalf("Encode: %v", err)
				}
				if !bytes.Equal(wire, v.wire) {
					t.Fatalf("Encode of the fields:\n got %x\nwant %x", wire, v.wire)
				}
			}
		})
	}
}

// checkFields compares a decoded frame with the vector's header and typed fields.
func checkFields(t *testing.T, v vector, f Frame) {
	t.Helper()
	want := v.frame(t)
	if f.Version != want.Version || f.Type != want.Type || f.Boot != want.Boot || f.Seq != want.Seq ||
		f.DeviceTimeMs != want.DeviceTimeMs || !bytes.Equal(f.Body, want.Body) {
		t.Fatalf("decoded frame %+v, fields say %+v", f, want)
	}
	eq := func(key, got string) {
		if v.fields[key] != got {
			t.Errorf("field %s: decoded %q, vector says %q", key, got, v.fields[key])
		}
	}
	hx := func(b []byte) string {
		if len(b) == 0 {
			return "-"
		}
		return hex.EncodeToString(b)
	}
	switch f.Type {
	case TypeHello:
		h, err := ParseHello(f.Body)
		if err != nil {
			t.Fatal(err)
		}
		eq("uid", h.UID.String())
		eq("fw", h.FW.String())
		eq("reset_cause", strconv.Itoa(int(h.ResetCause)))
		if !bytes.Equal(h.Marshal(), f.Body) {
			t.Errorf("HELLO re-marshal %x, body %x", h.Marshal(), f.Body)
		}
	case TypeTelemetry:
		tm, err := ParseTelemetry(f.Body)
		if err != nil {
			t.Fatal(err)
		}
		eq("temp_centi_c", strconv.Itoa(int(tm.TempCentiC)))
		eq("supply_mv", strconv.Itoa(int(tm.SupplyMv)))
		if !bytes.Equal(tm.Marshal(), f.Body) {
			t.Errorf("TELEMETRY re-marshal %x, body %x", tm.Marshal(), f.Body)
		}
	case TypeCommand:
		c, err := ParseCommand(f.Body)
		if err != nil {
			t.Fatal(err)
		}
		eq("op", fmt.Sprintf("0x%02x", uint8(c.Op)))
		eq("args", hx(c.Args))
		if !bytes.Equal(c.Marshal(), f.Body) {
			t.Errorf("COMMAND re-marshal %x, body %x", c.Marshal(), f.Body)
		}
		if _, ok := v.fields["answer"]; ok {
			eq("answer", strconv.Itoa(int(c.Check())))
		}
	case TypeResponse:
		r, err := ParseResponse(f.Body)
		if err != nil {
			t.Fatal(err)
		}
		eq("req_seq", strconv.Itoa(int(r.ReqSeq)))
		eq("op", fmt.Sprintf("0x%02x", uint8(r.Op)))
		eq("status", strconv.Itoa(int(r.Status)))
		eq("data", hx(r.Data))
		if !bytes.Equal(r.Marshal(), f.Body) {
			t.Errorf("RESPONSE re-marshal %x, body %x", r.Marshal(), f.Body)
		}
		if r.Status == StatusOK {
			if err := parseData(r); Reason(err) != v.fields["data_error"] {
				t.Errorf("%s data %x: parse error %v, vector says data_error=%q", r.Op, r.Data, err, v.fields["data_error"])
			}
		}
	}
}

// parseData parses the data of a successful RESPONSE with the op's parser.
func parseData(r Response) error {
	var err error
	switch r.Op {
	case OpIdentify:
		_, err = ParseIdentity(r.Data)
	case OpStats:
		_, err = ParseDeviceStats(r.Data)
	case OpBootStats:
		_, err = ParseBootStats(r.Data)
	case OpGetInterval:
		_, err = ParseInterval(r.Data)
	case OpReplay:
		_, err = ParseReplay(r.Data)
	case OpPing, OpSetInterval, OpFault:
		if len(r.Data) != 0 {
			err = bad(ReasonBodyLength, "%s data of %d bytes, want none", r.Op, len(r.Data))
		}
	}
	return err
}

// TestVectorsCoverage keeps the shared set complete: every type good, every reason bad.
func TestVectorsCoverage(t *testing.T) {
	types := map[Type]bool{}
	reasons := map[string]bool{}
	for _, v := range loadVectors(t) {
		for _, e := range v.expect {
			if r, ok := strings.CutPrefix(e, "err:"); ok {
				reasons[r] = true
			}
		}
		if s, ok := v.fields["type"]; ok {
			n, _ := strconv.ParseUint(s, 0, 8)
			types[Type(n)] = true
		}
	}
	for _, ty := range []Type{TypeHello, TypeTelemetry, TypeCommand, TypeResponse} {
		if !types[ty] {
			t.Errorf("no good %s vector", ty)
		}
	}
	for _, r := range Reasons() {
		if r != ReasonTruncated && !reasons[r] { // truncated is Decode-only: a stream just waits
			t.Errorf("no vector for reason %s", r)
		}
	}
	// The additions to v1 have their command, response and malformed-args vectors.
	answers := map[string]bool{}
	for _, v := range loadVectors(t) {
		if a, ok := v.fields["answer"]; ok {
			answers[v.fields["op"]+"/"+a] = true
		}
	}
	for _, k := range []string{"0x07/0", "0x07/2", "0x05/0", "0x05/2", "0x08/0", "0x08/2"} {
		if !answers[k] {
			t.Errorf("no COMMAND vector with op/answer %s", k)
		}
	}
}
