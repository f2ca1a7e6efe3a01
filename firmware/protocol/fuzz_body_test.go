package protocol

import (
	"bytes"
	"testing"
)

// FuzzBodies feeds untrusted frame bodies and response data to every body parser: none may
// panic, and what parses must marshal back to the same bytes.
func FuzzBodies(f *testing.F) {
	f.Add(BootStats{Boot: 7, ResetCause: ResetPin, TelemetrySent: 300}.Marshal())
	f.Add(Response{ReqSeq: 9, Op: OpBootStats, Data: BootStats{Boot: 1}.Marshal()}.Marshal())
	f.Add(BootStatsCommand(3).Marshal())
	f.Add(DeviceStats{Boot: 1, TelemetrySent: 2, RxOK: 3, RxBad: 4}.Marshal())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if bs, err := ParseBootStats(b); err == nil && !bytes.Equal(bs.Marshal(), b) {
			t.Fatalf("BOOT_STATS %x parses to %+v which marshals to %x", b, bs, bs.Marshal())
		}
		if ds, err := ParseDeviceStats(b); err == nil && !bytes.Equal(ds.Marshal(), b) {
			t.Fatalf("STATS %x round trip %x", b, ds.Marshal())
		}
		if r, err := ParseResponse(b); err == nil {
			if !bytes.Equal(r.Marshal(), b) {
				t.Fatalf("RESPONSE %x round trip %x", b, r.Marshal())
			}
			if r.Op == OpBootStats {
				_, _ = ParseBootStats(r.Data)
			}
		}
		if c, err := ParseCommand(b); err == nil {
			if !bytes.Equal(c.Marshal(), b) {
				t.Fatalf("COMMAND %x round trip %x", b, c.Marshal())
			}
			if boot, ok := c.BootOf(); ok && !bytes.Equal(BootStatsCommand(boot).Marshal(), b) {
				t.Fatalf("BOOT_STATS command %x round trip", b)
			}
		}
	})
}
