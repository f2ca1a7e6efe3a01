package smoketest

import (
	"context"
	"flag"
	"testing"
	"time"
)

var (
	benchFile = flag.String("rig.bench", "", "bench file of the real bench; the smoketest is skipped without it")
	record    = flag.String("rig.record", "", "write the session as a rig.trace/v1 file")
	pings     = flag.Int("rig.pings", 10, "PINGs of the first probe")
)

// TestBench runs on hardware only.
func TestBench(t *testing.T) {
	if *benchFile == "" {
		t.Skip("hardware smoketest: run on the bench with -rig.bench /etc/rig/bench.yaml (see docs/bench.md#bring-up-checklist)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, *benchFile, Options{Pings: *pings, Record: *record})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Session
	if s.Probe.UID == "" || s.Probe.UID != s.Reset.UID || s.Reset.UID != s.After.UID {
		t.Errorf("identity changed across the session: %s, %s, %s", s.Probe.UID, s.Reset.UID, s.After.UID)
	}
	if s.Reset.BootAfter != s.Reset.BootBefore+1 || s.Reset.ResetCause != "pin" {
		t.Errorf("reset: %+v (want boot+1 and reset cause pin: NRST wired?)", s.Reset)
	}
	if n := len(s.Probe.Host.BadFrames); n != 0 || s.Probe.Device.RxBad != 0 {
		t.Errorf("bad frames on the line: host %v, device rx_bad %d (check GND, baud, framing)", s.Probe.Host.BadFrames, s.Probe.Device.RxBad)
	}
	if res.Link.Disconnects != 0 {
		t.Errorf("the serial device disconnected %d times during the session", res.Link.Disconnects)
	}
	t.Logf("device %s fw %s · PING min %s median %s max %s · boot %d → %d · HELLO %s after release",
		s.Probe.UID, s.Probe.Firmware, s.Probe.Latency.Min, s.Probe.Latency.Median, s.Probe.Latency.Max,
		s.Reset.BootBefore, s.Reset.BootAfter, s.Reset.HelloAfter)
}
