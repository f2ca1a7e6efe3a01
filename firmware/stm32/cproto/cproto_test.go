package cproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/pathrig/rig/firmware/protocol"
)

func requireC(t testing.TB) {
	if !Available {
		if os.Getenv("RIG_REQUIRE_QEMU") != "" {
			t.Fatal("RIG_REQUIRE_QEMU is set but cgo is off: the C protocol module cannot be compared")
		}
		t.Skip("cgo is off (no C compiler): the C protocol module cannot be compared with the Go codec")
	}
}

// goOutcomes runs the Go stream decoder on p.
func goOutcomes(p []byte) []Outcome {
	var d protocol.Decoder
	var out []Outcome
	d.Feed(p, func(f protocol.Frame, err error) {
		if err != nil {
			out = append(out, Outcome{Reason: protocol.Reason(err)})
		} else {
			out = append(out, Outcome{Frame: f})
		}
	})
	return out
}

func same(a, b []Outcome) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		fa, fb := a[i].Frame, b[i].Frame
		if a[i].Reason != b[i].Reason || fa.Version != fb.Version || fa.Type != fb.Type || fa.Boot != fb.Boot ||
			fa.Seq != fb.Seq || fa.DeviceTimeMs != fb.DeviceTimeMs || !bytes.Equal(fa.Body, fb.Body) {
			return false
		}
	}
	return true
}

// seeds returns the wire bytes of every shared vector.
func seeds(t testing.TB) [][]byte {
	f, err := os.Open("../../protocol/testdata/vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 8192), 8192)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		b, err := hex.DecodeString(fields[2])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzCReceiverAgrees feeds the same bytes to the C receiver (the firmware's) and the Go decoder
// (the gateway's): they must report the same frames and the same reasons, in the same order, the
// C encoder must give the Go encoder's bytes for every frame decoded, and the firmware must answer
// every COMMAND with the status Go's Command.Check gives it. Seeds: every shared vector, and the
// frames of the additions to v1 (GET_INTERVAL, FAULT CLOCK_SKEW, REPLAY) with args of every length.
func FuzzCReceiverAgrees(f *testing.F) {
	requireC(f)
	for _, s := range seeds(f) {
		f.Add(s)
	}
	for _, body := range [][]byte{
		{0x07}, {0x07, 0x14}, {0x05, 0x04, 0x80, 0xee, 0x36, 0x00}, {0x05, 0x04}, {0x05, 0x04, 1, 2, 3},
		{0x05, 0x04, 1, 2, 3, 4, 5}, {0x05, 0x03, 0, 0, 0, 0}, {0x05, 0x05},
		{0x08, 7, 0, 0, 0, 59, 0, 0, 0}, {0x08}, {0x08, 7, 0, 0, 0}, {0x08, 7, 0, 0, 0, 59, 0, 0, 0, 0},
	} {
		wire, err := protocol.Encode(protocol.NewFrame(protocol.TypeCommand, 0, 42, 0, body))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		r := NewReceiver()
		defer r.Close()
		c, g := r.Feed(p), goOutcomes(p)
		if !same(c, g) {
			t.Fatalf("stream %x:\n C  %+v\n Go %+v", p, c, g)
		}
		for _, o := range g {
			if o.Reason != "" {
				continue
			}
			if o.Frame.Type == protocol.TypeCommand {
				cmd, err := protocol.ParseCommand(o.Frame.Body)
				if err != nil {
					t.Fatal(err)
				}
				if c, g := CommandCheck(o.Frame.Body), cmd.Check(); c != g {
					t.Fatalf("COMMAND %x: C answers %s, Go %s", o.Frame.Body, c, g)
				}
			}
			want, err := protocol.Encode(o.Frame)
			if err != nil {
				t.Fatal(err)
			}
			if got := Encode(o.Frame, false); !bytes.Equal(got, want) {
				t.Fatalf("encode %+v: C %x, Go %x", o.Frame, got, want)
			}
			bad, _ := protocol.EncodeBadCRC(o.Frame)
			if got := Encode(o.Frame, true); !bytes.Equal(got, bad) {
				t.Fatalf("encode with a bad CRC %+v: C %x, Go %x", o.Frame, got, bad)
			}
		}
	})
}

// TestCEncodeBodyLimit: both encoders refuse a body over MaxBody.
func TestCEncodeBodyLimit(t *testing.T) {
	requireC(t)
	f := protocol.NewFrame(protocol.TypeCommand, 0, 1, 0, make([]byte, protocol.MaxBody+1))
	if Encode(f, false) != nil {
		t.Error("C encoded a body over MaxBody")
	}
	if _, err := protocol.Encode(f); err == nil {
		t.Error("Go encoded a body over MaxBody")
	}
	f.Body = f.Body[:protocol.MaxBody]
	want, _ := protocol.Encode(f)
	if got := Encode(f, false); !bytes.Equal(got, want) {
		t.Errorf("MaxBody frame: C %x, Go %x", got, want)
	}
}

// TestCCommandCheckAgrees: for every op, every fault code and args of 0 to 10 bytes, the firmware's
// proto_command_check gives the status of Go's Command.Check.
func TestCCommandCheckAgrees(t *testing.T) {
	requireC(t)
	n := 0
	for op := range 256 {
		for code := range 256 {
			if op != int(protocol.OpFault) && code > 0 {
				break // the first arg byte only matters to FAULT
			}
			for nargs := range 11 {
				body := []byte{byte(op)}
				for i := range nargs {
					body = append(body, byte(code+i*37)) // args[0] is the fault code
				}
				cmd, _ := protocol.ParseCommand(body)
				if c, g := CommandCheck(body), cmd.Check(); c != g {
					t.Fatalf("COMMAND %x: C answers %s, Go %s", body, c, g)
				}
				n++
			}
		}
	}
	t.Logf("%d command bodies: C and Go agree", n)
}

// TestCReplayRing: the firmware's REPLAY ring answers what the protocol says, against a plain Go
// model (every frame kept; the last 64 of them, filtered by seq ≥ from): the count announced, and
// the frames sent after it, oldest first, as added. Seqs with gaps and a wrap of the u32 included.
func TestCReplayRing(t *testing.T) {
	requireC(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		r := NewRing()
		var all []Sent
		seq := rng.Uint32()
		if round%4 == 0 {
			seq = math.MaxUint32 - 40 // wraps inside the round
		}
		for i := range 300 {
			s := Sent{Seq: seq, TimeMs: rng.Uint32()}
			binary.LittleEndian.PutUint32(s.Body[:], rng.Uint32())
			r.Add(s)
			all = append(all, s)
			seq += 1 + uint32(rng.IntN(3)/2) // now and then a gap
			held := all[max(0, len(all)-protocol.ReplayDepth):]
			for _, from := range []uint32{0, held[0].Seq, held[len(held)/2].Seq, held[len(held)-1].Seq, held[len(held)-1].Seq + 1, rng.Uint32(), math.MaxUint32} {
				var want []Sent
				for _, h := range held {
					if h.Seq >= from {
						want = append(want, h)
					}
				}
				n, got := r.Replay(from)
				if int(n) != len(want) || !reflect.DeepEqual(got, want) {
					t.Fatalf("round %d after %d frames, REPLAY from %d: C announces %d and sends %+v; want %d: %+v", round, i+1, from, n, got, len(want), want)
				}
			}
		}
		r.Close()
	}
}
