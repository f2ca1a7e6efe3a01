package engine

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/pathrig/rig/firmware/stm32"
	"github.com/pathrig/rig/rig/qemu"
	"github.com/pathrig/rig/rig/scenario"
)

// TestQEMUSameVerdicts runs audit-baseline on both profiles twice — the Go emulator, then the C
// firmware in QEMU (`rig run ... --device qemu`) — and wants the same verdict for every control,
// and the device identity read from the firmware over the UART.
func TestQEMUSameVerdicts(t *testing.T) {
	skip := func(format string, args ...any) {
		if os.Getenv("RIG_REQUIRE_QEMU") != "" {
			t.Fatalf("RIG_REQUIRE_QEMU is set but: "+format, args...)
		}
		t.Skipf(format, args...)
	}
	if _, err := exec.LookPath(qemu.DefaultBinary); err != nil {
		skip("%v", qemu.ErrNotInstalled)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	image, _, err := stm32.Build(ctx, t.TempDir())
	if errors.Is(err, stm32.ErrNoToolchain) {
		skip("%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, profile := range []string{"exposed", "hardened"} {
		t.Run(profile, func(t *testing.T) {
			emu, _ := runPlan(t, plan(t, "audit-baseline", profile))
			p := plan(t, "audit-baseline", profile)
			if err := p.Scenario.Device.SetKind(scenario.DeviceQEMU); err != nil {
				t.Fatal(err)
			}
			p.Scenario.Device.Image = image
			fw, _ := runPlan(t, p)

			if len(fw.Results) != len(emu.Results) || len(fw.Results) == 0 {
				t.Fatalf("%d results with qemu, %d with the emulator", len(fw.Results), len(emu.Results))
			}
			for i, r := range emu.Results {
				q := fw.Results[i]
				if q.Control != r.Control || q.Status != r.Status {
					t.Errorf("%s: emulator %s, qemu %s %s (%s)", r.Control, r.Status, q.Control, q.Status, q.Reason)
				}
			}
			if fw.Summary.Findings != emu.Summary.Findings || fw.Summary.Headline != emu.Summary.Headline {
				t.Errorf("summary with qemu %+v, with the emulator %+v", fw.Summary, emu.Summary)
			}
			if fw.Device == nil || fw.Device.UID != p.Scenario.Device.UID || fw.Device.Firmware != "1.0.0" {
				t.Errorf("device identity from the firmware %+v, want uid %s fw 1.0.0", fw.Device, p.Scenario.Device.UID)
			}
			t.Logf("%s: %d controls, %q on both devices", profile, len(fw.Results), fw.Summary.Headline)
		})
	}
}
