package link

import (
	"bytes"
	"testing"

	"github.com/pathrig/rig/firmware/protocol"
)

type sink struct{ bytes.Buffer }

func (s *sink) Read(p []byte) (int, error) { return 0, nil }

func decodeAll(t *testing.T, wire []byte) (ok map[uint32]bool, bad int) {
	t.Helper()
	ok = map[uint32]bool{}
	var dec protocol.Decoder
	dec.Feed(wire, func(f protocol.Frame, err error) {
		if err != nil {
			bad++
			return
		}
		ok[f.Seq] = true
	})
	return ok, bad
}

func frame(t *testing.T, seq uint32) []byte {
	t.Helper()
	w, err := protocol.Encode(protocol.NewFrame(protocol.TypeTelemetry, 1, seq, seq*20, protocol.Telemetry{TempCentiC: 2150, SupplyMv: 3300}.Marshal()))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestNoisyCorruptionIsConfinedAndRecorded: every corrupted frame is rejected by the receiver's
// CRC, every other frame arrives, and the line's damage record names exactly the rejected ones.
func TestNoisyCorruptionIsConfinedAndRecorded(t *testing.T) {
	var s sink
	n := NewNoisy(&s, 1)
	n.SetCorruption(0.02)
	const frames = 2000
	for i := range uint32(frames) {
		if _, err := n.Write(frame(t, i)); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			n.Garbage(int(i%37) + 1)
		}
	}
	ok, bad := decodeAll(t, s.Bytes())
	st := n.Stats()
	damaged := map[uint32]bool{}
	for _, d := range st.Damaged {
		damaged[d.Seq] = true
	}
	if len(damaged) == 0 || len(damaged) == frames {
		t.Fatalf("%d of %d frames damaged at 2%% per byte", len(damaged), frames)
	}
	if len(ok)+len(damaged) != frames {
		t.Fatalf("%d good + %d damaged != %d sent", len(ok), len(damaged), frames)
	}
	for seq := range damaged {
		if ok[seq] {
			t.Fatalf("seq %d recorded as damaged but decoded fine", seq)
		}
	}
	if bad < len(damaged) {
		t.Fatalf("receiver saw %d bad frames, line damaged %d", bad, len(damaged))
	}
}

func TestNoisyStallHoldsThenDelivers(t *testing.T) {
	var s sink
	n := NewNoisy(&s, 2)
	n.Write(frame(t, 0))
	n.Stall()
	n.Write(frame(t, 1))
	n.Garbage(10)
	n.Write(frame(t, 2))
	if got, _ := decodeAll(t, s.Bytes()); len(got) != 1 {
		t.Fatalf("%d frames through a stalled line, want only the one before the stall", len(got))
	}
	if err := n.Resume(); err != nil {
		t.Fatal(err)
	}
	got, bad := decodeAll(t, s.Bytes())
	if len(got) != 3 || bad != 1 {
		t.Fatalf("after resume: %d frames, %d bad; want 3 and the garbage burst as 1 bad", len(got), bad)
	}
	if st := n.Stats(); st.Stalls != 1 || st.MaxHeld == 0 || st.GarbageBytes != 10 {
		t.Fatalf("stats %+v", st)
	}
}
