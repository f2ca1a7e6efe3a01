package dut_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pathrig/rig/rig/dut"
	_ "github.com/pathrig/rig/rig/dut/emulated"
	_ "github.com/pathrig/rig/rig/dut/qemu"
	_ "github.com/pathrig/rig/rig/dut/serial"
	"github.com/pathrig/rig/rig/scenario"
)

// TestSupports: every kind performs the universal faults; device-reset and power-cut need the
// kind's lines (a serial board has them only when its bench file names them); a refusal names
// the fault, the kind and, for a bench file, what to add to it.
func TestSupports(t *testing.T) {
	dir := t.TempDir()
	bench := func(name, gpio string) string {
		path := filepath.Join(dir, name+".yaml")
		body := "name: " + name + "\nserial:\n  port: /dev/ttyRIG0\n"
		if gpio != "" {
			body += "gpio:\n" + gpio
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	serialWith := func(benchFile string) scenario.Device {
		return scenario.Device{Kind: scenario.DeviceSerial, Bench: benchFile}
	}
	tests := []struct {
		name   string
		device scenario.Device
		reset  bool     // performs device-reset
		power  bool     // performs power-cut
		want   []string // in every refusal besides the fault and the kind
		bug    string
	}{
		{"emulated", scenario.Device{Kind: scenario.DeviceEmulated}, true, true, nil, ""},
		{"qemu", scenario.Device{Kind: scenario.DeviceQEMU}, true, true, nil, ""},
		{"serial, port only", scenario.Device{Kind: scenario.DeviceSerial, Port: "/dev/ttyRIG0"}, false, false, []string{"bench file"}, ""},
		{"serial, bench without gpio", serialWith(bench("plain", "")), false, false, []string{"bench file"}, ""},
		{"serial, bench with boot0 only", serialWith(bench("boot0", "  boot0: {line: GPIO24}\n")), false, false, []string{"bench file"}, ""},
		{"serial, bench with reset", serialWith(bench("reset", "  reset: {line: GPIO23}\n")), true, false, []string{"bench file"}, ""},
		{"serial, bench with power", serialWith(bench("power", "  power: {line: GPIO25}\n")), false, true, []string{"bench file"}, ""},
		{"serial, bench with reset and power", serialWith(bench("both", "  reset: {line: GPIO23}\n  power: {line: GPIO25}\n")), true, true, nil, ""},
		{"serial, bench file missing", serialWith(filepath.Join(dir, "missing.yaml")), false, false, []string{"missing.yaml"}, ""},
		{"serial, bench file invalid", serialWith(bench("invalid", "  reset: {line: GPIO23, polarity: sideways}\n")), false, false, []string{"polarity"}, ""},
	}
	faults := append(append([]string(nil), dut.UniversalFaults...), scenario.FaultDeviceReset, scenario.FaultPowerCut)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, fault := range faults {
				err := dut.Supports(dut.Spec{Device: tt.device}, fault)
				can := fault != scenario.FaultDeviceReset && fault != scenario.FaultPowerCut ||
					fault == scenario.FaultDeviceReset && tt.reset || fault == scenario.FaultPowerCut && tt.power
				if can {
					if err != nil {
						t.Errorf("Supports(%s) = %v, want nil", fault, err)
					}
					continue
				}
				if err == nil {
					t.Errorf("Supports(%s) = nil; want a refusal", fault)
					continue
				}
				var missing []string
				for _, s := range append([]string{fault, tt.device.Kind}, tt.want...) {
					if !strings.Contains(err.Error(), s) {
						missing = append(missing, s)
					}
				}
				switch {
				case len(missing) > 0 && tt.bug != "":
					t.Skipf("%s: Supports(%s) = %q, does not name %q", tt.bug, fault, err, missing)
				case len(missing) > 0:
					t.Errorf("Supports(%s) = %q; want it to name %q", fault, err, missing)
				}
			}
		})
	}

	t.Run("an unknown kind", func(t *testing.T) {
		err := dut.Supports(dut.Spec{Device: scenario.Device{Kind: "fpga"}}, scenario.FaultPowerCut)
		if err == nil || !strings.Contains(err.Error(), `"fpga"`) || !strings.Contains(err.Error(), scenario.DeviceEmulated) {
			t.Errorf("Supports on kind fpga: %v; want an error naming the kind and the known ones", err)
		}
	})
}
