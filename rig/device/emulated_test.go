package device

import (
	"context"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/dut"
	"github.com/pathrig/rig/rig/dut/emulated"
	"github.com/pathrig/rig/rig/lines"
	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/scenario"
)

// emulatedBench is a bench without hardware, opened the way every device is: the emulated kind's
// driver (rig/dut/emulated) — the emulator on a pty whose tty the serial driver opens, its NRST
// the emulator's pin.
type emulatedBench struct {
	Port  *link.Supervised
	Reset *lines.ResetLine
	drv   *emulated.Driver
}

func startEmulated(t *testing.T, ctx context.Context, interval time.Duration) *emulatedBench {
	t.Helper()
	drv, err := emulated.Open(dut.Spec{Device: scenario.Device{Kind: scenario.DeviceEmulated, UID: EmulatedUID, Firmware: "1.0.0", TelemetryInterval: scenario.Duration(interval), Baud: 115200}})
	if err != nil {
		t.Fatal(err)
	}
	port, err := drv.PowerOn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { port.Close(); drv.Close() })
	return &emulatedBench{Port: port.(*link.Supervised), Reset: drv.Reset(), drv: drv}
}
