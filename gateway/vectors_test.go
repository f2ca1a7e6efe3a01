package gateway

import (
	"testing"
	"time"

	"github.com/pathrig/rig/firmware/protocol/vectors"
)

// TestSharedVectorsOnTheLine injects every malformed frame of the shared vectors into the live
// serial line between the emulator's frames: the gateway counts each by the reason the vectors
// name, and good telemetry keeps flowing without a gap.
func TestSharedVectorsOnTheLine(t *testing.T) {
	vs, err := vectors.Load(vectors.Path())
	if err != nil {
		t.Fatal(err)
	}
	b := startBench(t, 7, 2*time.Millisecond)
	b.expectRun(t, 7, 0, 10)
	want := map[string]uint64{}
	injected := 0
	for _, v := range vs {
		if !v.OnlyErrors() || v.Wire[len(v.Wire)-1] != 0 {
			// Good frames would add frames of their own (other devices, other boots); bytes
			// without a closing delimiter would swallow the emulator's next frame.
			continue
		}
		if _, err := b.pty.Device().Write(v.Wire); err != nil {
			t.Fatalf("inject %s: %v", v.Name, err)
		}
		for _, r := range v.Errors() {
			want[r]++
		}
		injected++
	}
	if injected < 10 {
		t.Fatalf("only %d malformed vectors; the shared set should have more", injected)
	}
	waitFor(t, "every malformed vector counted by its reason", 5*time.Second, func() bool {
		got := b.gw.Stats().BadFrames
		for r, n := range want {
			if got[r] != n {
				return false
			}
		}
		return true
	})
	b.expectRun(t, 7, 10, 100)
	s := b.gw.Stats()
	for r, n := range want {
		if s.BadFrames[r] != n {
			t.Errorf("bad frames %s: %d, want %d", r, s.BadFrames[r], n)
		}
	}
	if s.SeqGaps != 0 || s.SeqBackwards != 0 {
		t.Errorf("telemetry disturbed by the injections: %+v", s)
	}
}
