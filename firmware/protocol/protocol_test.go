package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"testing"
)

func mustEncode(t testing.TB, f Frame) []byte {
	t.Helper()
	b, err := Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func telemetryFrame(seq uint32) Frame {
	return NewFrame(TypeTelemetry, 3, seq, seq*20, Telemetry{TempCentiC: int16(2000 + seq%100), SupplyMv: 3300}.Marshal())
}

// TestCRCParameters pins the CRC to CRC-32/ISO-HDLC with its catalogue check value.
func TestCRCParameters(t *testing.T) {
	if got := crc32.ChecksumIEEE([]byte("123456789")); got != 0xCBF43926 {
		t.Fatalf("check value: got 0x%08x, want 0xcbf43926", got)
	}
}

func TestCOBS(t *testing.T) {
	run := func(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name    string
		raw     []byte
		encoded []byte
	}{
		{"empty", nil, []byte{0x01}},
		{"one zero", []byte{0}, []byte{0x01, 0x01}},
		{"two zeros", []byte{0, 0}, []byte{0x01, 0x01, 0x01}},
		{"mixed", []byte{0x11, 0x22, 0x00, 0x33}, []byte{0x03, 0x11, 0x22, 0x02, 0x33}},
		{"253 non-zero", run(0x5a, 253), cat([]byte{0xfe}, run(0x5a, 253))},
		{"254 non-zero ends with a 0x01 block", run(0x5a, 254), cat([]byte{0xff}, run(0x5a, 254), []byte{0x01})},
		{"254 non-zero then zero", cat(run(0x5a, 254), []byte{0}), cat([]byte{0xff}, run(0x5a, 254), []byte{0x01, 0x01})},
		{"255 non-zero", run(0x5a, 255), cat([]byte{0xff}, run(0x5a, 254), []byte{0x02, 0x5a})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := appendCOBS(nil, tt.raw)
			if !bytes.Equal(got, tt.encoded) {
				t.Fatalf("encode:\n got %x\nwant %x", got, tt.encoded)
			}
			out := make([]byte, len(got))
			n, err := decodeCOBS(out, got)
			if err != nil || !bytes.Equal(out[:n], tt.raw) {
				t.Fatalf("decode: got %x, %v; want %x", out[:n], err, tt.raw)
			}
		})
	}
}

func TestDecodeSingle(t *testing.T) {
	good := mustEncode(t, telemetryFrame(5))
	tests := []struct {
		name   string
		wire   []byte
		reason string
	}{
		{"good", good, ""},
		{"empty input", nil, ReasonTruncated},
		{"no delimiter", good[:len(good)-1], ReasonTruncated},
		{"only a delimiter", []byte{0}, ReasonTooShort},
		{"two frames", append(append([]byte{}, good...), good...), ReasonCOBS},
		{"too long", append(bytes.Repeat([]byte{0x41}, MaxEncoded+1), 0), ReasonTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Decode(tt.wire)
			if got := Reason(err); got != tt.reason {
				t.Fatalf("Reason = %q (%v), want %q", got, err, tt.reason)
			}
			if err == nil && f.Seq != 5 {
				t.Fatalf("seq %d, want 5", f.Seq)
			}
		})
	}
}

func TestReason(t *testing.T) {
	if got := Reason(nil); got != "" {
		t.Errorf("Reason(nil) = %q", got)
	}
	if got := Reason(io.EOF); got != ReasonOther {
		t.Errorf("Reason(io.EOF) = %q, want %q", got, ReasonOther)
	}
	_, err := Decode([]byte{0x05, 0x41, 0x00})
	wrapped := fmt.Errorf("gateway: %w", err)
	if got := Reason(wrapped); got != ReasonCOBS {
		t.Errorf("Reason(wrapped) = %q, want cobs", got)
	}
	var fe *FrameError
	if !errors.As(wrapped, &fe) || fe.Reason != ReasonCOBS {
		t.Errorf("errors.As FrameError: %v", fe)
	}
}

func TestEncodeRefusesOversizeBody(t *testing.T) {
	if _, err := Encode(NewFrame(TypeCommand, 0, 1, 0, make([]byte, MaxBody))); err != nil {
		t.Fatalf("MaxBody: %v", err)
	}
	if _, err := Encode(NewFrame(TypeCommand, 0, 1, 0, make([]byte, MaxBody+1))); err == nil {
		t.Fatal("MaxBody+1: want an error")
	}
}

// TestDecoderResync covers the stream cases a noisy UART produces.
func TestDecoderResync(t *testing.T) {
	f0, f1 := mustEncode(t, telemetryFrame(0)), mustEncode(t, telemetryFrame(1))
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		wire []byte
		want []string // "ok:<seq>" or "err:<reason>"
	}{
		{"garbage prefix", cat([]byte{0x13, 0x37, 0xff, 0x00}, f0), []string{"err:cobs", "ok:0"}},
		{"garbage prefix without delimiter eats the first frame", cat([]byte{0x13, 0x37}, f0, f1), []string{"err:cobs", "ok:1"}},
		{"garbage between frames", cat(f0, []byte{0xaa, 0x55, 0xaa, 0x00}, f1), []string{"ok:0", "err:cobs", "ok:1"}},
		{"flush zeros between frames", cat(f0, []byte{0, 0, 0}, f1), []string{"ok:0", "ok:1"}},
		{"over-long run", cat(bytes.Repeat([]byte{0x7e}, 5000), []byte{0}, f0), []string{"err:too_long", "ok:0"}},
		{"over-long run at exactly the limit is not too long", cat(bytes.Repeat([]byte{0x7e}, MaxEncoded), []byte{0}, f0), []string{"err:cobs", "ok:0"}},
		{"truncated frame then frame", cat(f0[:10], []byte{0}, f1), []string{"err:too_short", "ok:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, chunk := range []int{len(tt.wire), 1, 5, 100} {
				var got []string
				var d Decoder
				for p := tt.wire; len(p) > 0; {
					n := min(chunk, len(p))
					d.Feed(p[:n], func(f Frame, err error) {
						if err != nil {
							got = append(got, "err:"+Reason(err))
							return
						}
						got = append(got, fmt.Sprintf("ok:%d", f.Seq))
					})
					p = p[n:]
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Fatalf("chunks of %d: got %v, want %v", chunk, got, tt.want)
				}
				if d.Pending() != 0 {
					t.Fatalf("chunks of %d: %d bytes still pending", chunk, d.Pending())
				}
			}
		})
	}
}

// TestDecoderManySmallReads streams a thousand frames split at random points, with noise.
func TestDecoderManySmallReads(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var stream []byte
	const n = 1000
	for i := range uint32(n) {
		stream = append(stream, mustEncode(t, telemetryFrame(i))...)
		if i%97 == 0 {
			stream = append(stream, 0xde, 0xad, 0x00) // delimited noise: one cobs error, no frame lost
		}
	}
	var d Decoder
	next, bad := uint32(0), 0
	for p := stream; len(p) > 0; {
		k := min(1+rng.IntN(40), len(p))
		if rng.IntN(10) == 0 {
			k = 0 // an empty read
		}
		d.Feed(p[:k], func(f Frame, err error) {
			if err != nil {
				bad++
				return
			}
			if f.Seq != next {
				t.Fatalf("seq %d, want %d", f.Seq, next)
			}
			next++
		})
		p = p[k:]
	}
	if next != n || bad != n/97+1 {
		t.Fatalf("got %d frames and %d bad, want %d and %d", next, bad, n, n/97+1)
	}
}

func TestTypedBodies(t *testing.T) {
	uid, err := ParseUID("3f0027000c51363038333934")
	if err != nil {
		t.Fatal(err)
	}
	if uid.String() != "3f0027000c51363038333934" {
		t.Errorf("UID round trip: %s", uid)
	}
	for _, s := range []string{"", "3f00", "3F0027000C5136303833393", "zz0027000c51363038333934"} {
		if _, err := ParseUID(s); err == nil {
			t.Errorf("ParseUID(%q): want an error", s)
		}
	}
	id := Identity{UID: uid, FW: FWVersion{1, 2, 3}}
	if got, err := ParseIdentity(id.Marshal()); err != nil || got != id {
		t.Errorf("Identity round trip: %+v %v", got, err)
	}
	st := DeviceStats{Boot: 9, TelemetrySent: 100, RxOK: 4, RxBad: 2}
	if got, err := ParseDeviceStats(st.Marshal()); err != nil || got != st {
		t.Errorf("DeviceStats round trip: %+v %v", got, err)
	}
	if ms, ok := SetIntervalCommand(1500).IntervalMs(); !ok || ms != 1500 {
		t.Errorf("IntervalMs = %d %v", ms, ok)
	}
	if code, ok := FaultCommand(FaultStall).Fault(); !ok || code != FaultStall {
		t.Errorf("Fault = %v %v", code, ok)
	}
	if _, ok := (Command{Op: OpSetInterval, Args: []byte{1}}).IntervalMs(); ok {
		t.Error("IntervalMs accepted 1-byte args")
	}
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"hello", func() error { _, err := ParseHello(make([]byte, 3)); return err }()},
		{"telemetry", func() error { _, err := ParseTelemetry(nil); return err }()},
		{"command", func() error { _, err := ParseCommand(nil); return err }()},
		{"response", func() error { _, err := ParseResponse(make([]byte, 5)); return err }()},
		{"identify", func() error { _, err := ParseIdentity(make([]byte, 3)); return err }()},
		{"stats", func() error { _, err := ParseDeviceStats(make([]byte, 3)); return err }()},
	} {
		if Reason(tc.err) != ReasonBodyLength {
			t.Errorf("%s: Reason = %q (%v), want body_length", tc.name, Reason(tc.err), tc.err)
		}
	}
}

// BenchmarkDecode streams telemetry frames through the Decoder; compare the MB/s with the
// 0.092 MB/s of a 921600-baud UART.
func BenchmarkDecode(b *testing.B) {
	var stream []byte
	for i := range uint32(1000) {
		stream = append(stream, mustEncode(b, telemetryFrame(i))...)
	}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	var d Decoder
	frames := 0
	for b.Loop() {
		d.Feed(stream, func(f Frame, err error) {
			if err == nil {
				frames++
			}
		})
	}
	if frames == 0 {
		b.Fatal("no frames decoded")
	}
}

func BenchmarkEncode(b *testing.B) {
	f := telemetryFrame(42)
	buf := make([]byte, 0, 64)
	wire, _ := Encode(f)
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendEncode(buf[:0], f)
	}
}

func TestEncodeBadCRC(t *testing.T) {
	for seq := range uint32(300) { // CRCs ending in 0x00 and other COBS edge cases included
		wire, err := EncodeBadCRC(telemetryFrame(seq))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(wire); Reason(err) != ReasonCRC {
			t.Fatalf("seq %d: Reason = %q (%v), want crc", seq, Reason(err), err)
		}
	}
	if _, err := EncodeBadCRC(NewFrame(TypeCommand, 0, 0, 0, make([]byte, MaxBody+1))); err == nil {
		t.Fatal("oversize body: want an error")
	}
}
