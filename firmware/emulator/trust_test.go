package emulator

import (
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/pathrig/rig/firmware/protocol"
)

// TestPowerCutAndBootStats: cutting the supply line silences the device; restoring it boots the
// next boot with reset cause power on; BOOT_STATS answers, over the link, what each earlier boot
// sent, and refuses a boot the device never had.
func TestPowerCutAndBootStats(t *testing.T) {
	d, h, _ := startDevice(t, Config{UID: testUID, Boot: 5, Interval: 2 * time.Millisecond})
	if h.nextOK().Type != protocol.TypeHello {
		t.Fatal("no HELLO at power on")
	}
	for h.nextOK().Seq < 5 {
	}
	pwr := d.PowerPin()
	if err := pwr.Out(gpio.Low); err != nil {
		t.Fatal(err)
	}
	if pwr.Read() != gpio.Low {
		t.Fatal("power line reads high after the cut")
	}
	sent5 := d.Stats().TelemetrySent
	if err := pwr.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	for {
		f := h.nextOK()
		if f.Boot == 5 {
			continue
		}
		hello, _ := protocol.ParseHello(f.Body)
		if f.Type != protocol.TypeHello || f.Boot != 6 || hello.ResetCause != protocol.ResetPowerOn {
			t.Fatalf("after power restored: %s boot %d cause %s, want HELLO boot 6 power_on", f.Type, f.Boot, hello.ResetCause)
		}
		break
	}
	rsp, _ := h.command(protocol.BootStatsCommand(5))
	bs, err := protocol.ParseBootStats(rsp.Data)
	if err != nil || rsp.Status != protocol.StatusOK {
		t.Fatalf("BOOT_STATS 5: status %s, %v", rsp.Status, err)
	}
	if bs.Boot != 5 || bs.TelemetrySent != sent5 || bs.ResetCause != protocol.ResetPowerOn {
		t.Fatalf("BOOT_STATS 5 = %+v, want boot 5, %d sent, power_on", bs, sent5)
	}
	if rsp, _ := h.command(protocol.BootStatsCommand(99)); rsp.Status != protocol.StatusBadArgs || len(rsp.Data) != 0 {
		t.Fatalf("BOOT_STATS of an unknown boot: status %s data %x, want bad_args and no data", rsp.Status, rsp.Data)
	}
}

// TestClockSkew: a skewed clock moves device_time_ms, not the sequence.
func TestClockSkew(t *testing.T) {
	d, h, _ := startDevice(t, Config{UID: testUID, Boot: 1, Interval: 2 * time.Millisecond})
	var before protocol.Frame
	for before.Type != protocol.TypeTelemetry {
		before = h.nextOK()
	}
	d.SkewClock(time.Hour)
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		f := h.nextOK()
		if f.Type != protocol.TypeTelemetry || f.DeviceTimeMs < before.DeviceTimeMs+3_600_000 {
			continue
		}
		if f.Boot != 1 || f.Seq <= before.Seq {
			t.Fatalf("after skew: boot %d seq %d, want boot 1 and seq after %d", f.Boot, f.Seq, before.Seq)
		}
		return
	}
	t.Fatal("no telemetry frame carried the skewed clock")
}
