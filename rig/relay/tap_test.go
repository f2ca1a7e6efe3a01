package relay

import (
	"testing"
	"time"
)

// TestTapKeepsFirstSend: a frame the device sends again (REPLAY) keeps the reading and the time
// of its first send, so a replayed frame's latency counts from when it was first sent.
func TestTapKeepsFirstSend(t *testing.T) {
	now := time.Unix(1000, 0)
	tap := newTap(func() time.Time { return now })
	tap.telemetry(3, 7, Reading{TempCentiC: 2157, SupplyMv: 3293, DeviceTimeMs: 140})
	now = now.Add(2 * time.Second)
	tap.telemetry(3, 8, Reading{TempCentiC: 2158, SupplyMv: 3292, DeviceTimeMs: 160})
	tap.telemetry(3, 7, Reading{TempCentiC: 2157, SupplyMv: 3293, DeviceTimeMs: 140})
	got, ok := tap.Reading(3, 7)
	if !ok || got.At != time.Unix(1000, 0) || got.DeviceTimeMs != 140 {
		t.Fatalf("seq 7 after a replay: %+v %v, want the first send's reading at t=1000s", got, ok)
	}
	if tap.Count(3) != 3 || tap.End(3) != 9 {
		t.Fatalf("count %d end %d, want 3 frames read, end 9", tap.Count(3), tap.End(3))
	}
}
