package protocol

import (
	"bytes"
	"testing"
	"time"
)

// FuzzBodies feeds untrusted frame bodies and response data to every body parser: none may
// panic, and what parses must marshal back to the same bytes.
func FuzzBodies(f *testing.F) {
	f.Add(BootStats{Boot: 7, ResetCause: ResetPin, TelemetrySent: 300}.Marshal())
	f.Add(Response{ReqSeq: 9, Op: OpBootStats, Data: BootStats{Boot: 1}.Marshal()}.Marshal())
	f.Add(BootStatsCommand(3).Marshal())
	f.Add(DeviceStats{Boot: 1, TelemetrySent: 2, RxOK: 3, RxBad: 4}.Marshal())
	f.Add([]byte{})
	f.Add(MarshalInterval(20))
	f.Add(GetIntervalCommand().Marshal())
	f.Add(ClockSkewCommand(-1500 * time.Millisecond).Marshal())
	f.Add(Response{ReqSeq: 10, Op: OpGetInterval, Data: MarshalInterval(20)}.Marshal())
	f.Add(ReplayCommand(7, 59).Marshal())
	f.Add(MarshalReplay(12))
	f.Add(Response{ReqSeq: 18, Op: OpReplay, Data: MarshalReplay(12)}.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		if bs, err := ParseBootStats(b); err == nil && !bytes.Equal(bs.Marshal(), b) {
			t.Fatalf("BOOT_STATS %x parses to %+v which marshals to %x", b, bs, bs.Marshal())
		}
		if ms, err := ParseInterval(b); err == nil && !bytes.Equal(MarshalInterval(ms), b) {
			t.Fatalf("GET_INTERVAL %x parses to %d which marshals to %x", b, ms, MarshalInterval(ms))
		}
		if n, err := ParseReplay(b); err == nil && !bytes.Equal(MarshalReplay(n), b) {
			t.Fatalf("REPLAY %x parses to %d which marshals to %x", b, n, MarshalReplay(n))
		}
		if ds, err := ParseDeviceStats(b); err == nil && !bytes.Equal(ds.Marshal(), b) {
			t.Fatalf("STATS %x round trip %x", b, ds.Marshal())
		}
		if r, err := ParseResponse(b); err == nil {
			if !bytes.Equal(r.Marshal(), b) {
				t.Fatalf("RESPONSE %x round trip %x", b, r.Marshal())
			}
			switch r.Op {
			case OpBootStats:
				_, _ = ParseBootStats(r.Data)
			case OpGetInterval:
				_, _ = ParseInterval(r.Data)
			case OpReplay:
				_, _ = ParseReplay(r.Data)
			}
		}
		if c, err := ParseCommand(b); err == nil {
			if !bytes.Equal(c.Marshal(), b) {
				t.Fatalf("COMMAND %x round trip %x", b, c.Marshal())
			}
			if boot, ok := c.BootOf(); ok && !bytes.Equal(BootStatsCommand(boot).Marshal(), b) {
				t.Fatalf("BOOT_STATS command %x round trip", b)
			}
			if skew, ok := c.ClockSkew(); ok && !bytes.Equal(ClockSkewCommand(skew).Marshal(), b) {
				t.Fatalf("CLOCK_SKEW command %x parses to %s which marshals to %x", b, skew, ClockSkewCommand(skew).Marshal())
			}
			if boot, from, ok := c.ReplayOf(); ok && !bytes.Equal(ReplayCommand(boot, from).Marshal(), b) {
				t.Fatalf("REPLAY command %x parses to boot %d from %d which marshals to %x", b, boot, from, ReplayCommand(boot, from).Marshal())
			}
			if c.Op == OpGetInterval && len(c.Args) == 0 && !bytes.Equal(GetIntervalCommand().Marshal(), b) {
				t.Fatalf("GET_INTERVAL command %x round trip", b)
			}
			// Check is total: every body gets one of the three statuses, OK only when the
			// args have the op's length.
			switch st := c.Check(); st {
			case StatusOK:
				if n, _ := c.Op.ArgsLen(); c.Op != OpFault && len(c.Args) != n {
					t.Fatalf("Check OK for %s with %d bytes of args, want %d", c.Op, len(c.Args), n)
				}
			case StatusUnknownOp, StatusBadArgs:
			default:
				t.Fatalf("Check = %s", st)
			}
		}
	})
}
