package emulator

import (
	"errors"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/pathrig/rig/firmware/protocol"
)

// getInterval sends GET_INTERVAL and returns the period the device reports.
func (h *host) getInterval() uint16 {
	h.t.Helper()
	r, _ := h.command(protocol.GetIntervalCommand())
	if r.Status != protocol.StatusOK {
		h.t.Fatalf("GET_INTERVAL: status %s", r.Status)
	}
	ms, err := protocol.ParseInterval(r.Data)
	if err != nil {
		h.t.Fatalf("GET_INTERVAL: %v", err)
	}
	return ms
}

// TestGetInterval: GET_INTERVAL reports the configured period, what SET_INTERVAL set (0 when
// stopped), and the default again after a reset; args are refused with status 2.
func TestGetInterval(t *testing.T) {
	_, h, _ := startDevice(t, Config{UID: testUID, Boot: 1, Interval: 5 * time.Millisecond})
	if got := h.getInterval(); got != 5 {
		t.Fatalf("GET_INTERVAL at boot = %d, want the configured 5", got)
	}
	for _, ms := range []uint16{50, 0, 1, 65535, 7} {
		if r, _ := h.command(protocol.SetIntervalCommand(ms)); r.Status != protocol.StatusOK {
			t.Fatalf("SET_INTERVAL %d: status %s", ms, r.Status)
		}
		if got := h.getInterval(); got != ms {
			t.Fatalf("GET_INTERVAL after SET_INTERVAL %d = %d", ms, got)
		}
	}
	r, _ := h.command(protocol.Command{Op: protocol.OpGetInterval, Args: []byte{0x14, 0}})
	if r.Status != protocol.StatusBadArgs || len(r.Data) != 0 {
		t.Fatalf("GET_INTERVAL with args: status %s data %x, want bad_args and no data", r.Status, r.Data)
	}
	h.command(protocol.SetIntervalCommand(0))
	if r, _ := h.command(protocol.FaultCommand(protocol.FaultReset)); r.Status != protocol.StatusOK {
		t.Fatalf("FAULT RESET: status %s", r.Status)
	}
	if got := h.getInterval(); got != 5 {
		t.Fatalf("GET_INTERVAL after a reset = %d, want the default 5 (SET_INTERVAL does not survive a reset)", got)
	}
}

func TestIntervalMsSaturates(t *testing.T) {
	for _, tc := range []struct {
		p    time.Duration
		want uint16
	}{{0, 0}, {-time.Second, 0}, {500 * time.Microsecond, 1}, {20 * time.Millisecond, 20}, {time.Hour, 65535}} {
		if got := intervalMs(tc.p); got != tc.want {
			t.Errorf("intervalMs(%s) = %d, want %d", tc.p, got, tc.want)
		}
	}
}

// TestFaultClockSkew: FAULT CLOCK_SKEW over the link steps device_time_ms from the next frame on,
// cumulatively with SkewClock, keeps seq and boot, survives a reset and a power cut; args of the
// wrong length change nothing and answer status 2.
func TestFaultClockSkew(t *testing.T) {
	d, h, _ := startDevice(t, Config{UID: testUID, Boot: 1, Interval: 2 * time.Millisecond})
	const hour = 3_600_000
	telemetry := func() protocol.Frame {
		t.Helper()
		for {
			if f := h.nextOK(); f.Type == protocol.TypeTelemetry {
				return f
			}
		}
	}
	before := telemetry()
	r, _ := h.command(protocol.ClockSkewCommand(time.Hour))
	if r.Status != protocol.StatusOK {
		t.Fatalf("FAULT CLOCK_SKEW: status %s", r.Status)
	}
	after := telemetry()
	if after.DeviceTimeMs < before.DeviceTimeMs+hour || after.DeviceTimeMs > before.DeviceTimeMs+hour+2000 {
		t.Fatalf("device_time_ms %d after a +1 h skew, before %d: want a jump of 1 h (+ < 2 s)", after.DeviceTimeMs, before.DeviceTimeMs)
	}
	if after.Boot != before.Boot || after.Seq <= before.Seq {
		t.Fatalf("after the skew: boot %d seq %d, before boot %d seq %d", after.Boot, after.Seq, before.Boot, before.Seq)
	}

	// Wrong lengths: status 2, clock unchanged.
	for _, c := range []protocol.Command{
		protocol.FaultCommand(protocol.FaultClockSkew),
		{Op: protocol.OpFault, Args: []byte{0x04, 0xe8, 0x03}},
		{Op: protocol.OpFault, Args: []byte{0x04, 0xe8, 0x03, 0, 0, 0}},
	} {
		if r, _ := h.command(c); r.Status != protocol.StatusBadArgs {
			t.Fatalf("FAULT %x: status %s, want bad_args", c.Args, r.Status)
		}
	}
	// Cumulative: back 2 h over the link, forward 1 h through SkewClock: net 0.
	h.command(protocol.ClockSkewCommand(-2 * time.Hour))
	d.SkewClock(time.Hour)
	// Frames sent between the two steps (every 2 ms) carry the -2 h alone: read past them.
	next := d.Stats().TelemetrySent
	back := telemetry()
	for back.Seq < next {
		back = telemetry()
	}
	if back.DeviceTimeMs >= hour || back.DeviceTimeMs < after.DeviceTimeMs-hour {
		t.Fatalf("device_time_ms %d after -2 h then +1 h, want about %d (the boot's own uptime)", back.DeviceTimeMs, after.DeviceTimeMs-hour)
	}

	// Survives a reset: the next boot's HELLO is at boot time + skew.
	h.command(protocol.ClockSkewCommand(10 * time.Minute))
	h.command(protocol.FaultCommand(protocol.FaultReset))
	hello := h.nextOfType(protocol.TypeHello)
	if hello.DeviceTimeMs < 600_000 || hello.DeviceTimeMs > 602_000 {
		t.Fatalf("HELLO after FAULT RESET at device_time_ms %d, want 10 min + boot time", hello.DeviceTimeMs)
	}
	// And a power cut (the firmware keeps it in its backup domain).
	d.PowerPin().Out(gpio.Low)
	d.PowerPin().Out(gpio.High)
	hello = h.nextOfType(protocol.TypeHello)
	if hello.Boot != 3 || hello.DeviceTimeMs < 600_000 || hello.DeviceTimeMs > 602_000 {
		t.Fatalf("HELLO after a power cycle: boot %d device_time_ms %d, want boot 3 at 10 min + boot time", hello.Boot, hello.DeviceTimeMs)
	}
}

// nextOfType skips frames until one of type ty.
func (h *host) nextOfType(ty protocol.Type) protocol.Frame {
	h.t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if f := h.nextOK(); f.Type == ty {
			return f
		}
	}
	h.t.Fatalf("no %s within 2s", ty)
	return protocol.Frame{}
}

// TestTelemetryTimerCatchesUp: with Config.CatchUp the period is a dedicated timer's: a goroutine
// woken late by less than maxCatchUp periods still sends every frame that fell due, back to back;
// later than that it is a stall and the period restarts without a burst. Without it the device does
// as the firmware's polled loop: one frame when late, then the period restarts from now.
func TestTelemetryTimerCatchesUp(t *testing.T) {
	for _, tc := range []struct {
		name    string
		catchUp bool
		late    time.Duration // how long after the first frame fell due the timer is served
		frames  uint32
	}{
		{"on time", true, 0, 1},
		{"late by 2.5 periods", true, 2500 * time.Microsecond, 3},
		{"late by the bound", true, maxCatchUp * time.Millisecond, maxCatchUp + 1},
		{"stalled", true, 50 * time.Millisecond, 1},
		{"firmware: on time", false, 0, 1},
		{"firmware: late by 2.5 periods", false, 2500 * time.Microsecond, 1},
		{"firmware: stalled", false, 50 * time.Millisecond, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var wire countingWriter
			d := bootedOn(t, &wire, tc.catchUp)
			now := d.nextDue.Add(tc.late)
			wait := d.serviceLocked(now)
			if d.seq != tc.frames {
				t.Fatalf("sent %d frames, want %d", d.seq, tc.frames)
			}
			if wait <= 0 || wait > time.Millisecond {
				t.Fatalf("next frame due in %s, want within one period", wait)
			}
			if wire.writes != int(tc.frames) {
				t.Fatalf("%d UART writes, want %d", wire.writes, tc.frames)
			}
		})
	}
}

// TestCatchUpStopsOnAFailedWrite: a write that fails ends a catch-up (the next could block as
// long again, under the device's lock); the frame is still consumed, as on the wire.
func TestCatchUpStopsOnAFailedWrite(t *testing.T) {
	wire := countingWriter{fail: true}
	d := bootedOn(t, &wire, true)
	d.serviceLocked(d.nextDue.Add(5 * time.Millisecond))
	if wire.writes != 1 || d.seq != 1 || d.txErrors != 1 {
		t.Fatalf("%d writes, seq %d, tx errors %d; want one failed write, its frame consumed", wire.writes, d.seq, d.txErrors)
	}
}

// bootedOn is a device at 1 ms booted onto w with its HELLO sent, locked (until the test ends) so
// that the test can serve its telemetry timer at the times it chooses.
func bootedOn(t *testing.T, w *countingWriter, catchUp bool) *Device {
	d := New(Config{UID: testUID, Interval: time.Millisecond, CatchUp: catchUp})
	d.mu.Lock()
	t.Cleanup(d.mu.Unlock)
	d.w = w
	d.powered = true
	d.bootLocked(1, protocol.ResetPowerOn)
	d.needHello = false
	return d
}

type countingWriter struct {
	writes int
	fail   bool
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	if w.fail {
		return 0, errors.New("write timeout")
	}
	return len(p), nil
}
func (w *countingWriter) Read([]byte) (int, error) { select {} }
