package pi5

import (
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func rp1() Chip {
	lines := make([]string, 54)
	for i := range 28 {
		lines[i] = fmt.Sprintf("GPIO%d", i)
	}
	lines[28] = "PCIE_RP1_WAKE"
	return Chip{Name: "gpiochip4", Label: "pinctrl-rp1", Lines: lines}
}

var (
	bcm2712 = Chip{Name: "gpiochip0", Label: "pinctrl-bcm2712", Lines: []string{"-", "2712_BOOT_CS_N"}}
	pi5DT   = ParseCompatible([]byte("raspberrypi,5-model-b\x00brcm,bcm2712\x00"))
	pi4DT   = []string{"raspberrypi,4-model-b", "brcm,bcm2711"}
)

// TestCheck: the decision to open lines, over injected facts.
func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		facts   Facts
		label   string
		want    string // chip name on success
		wantErr error
		errHas  string
	}{
		{"pi5 gpioioctl only", Facts{pi5DT, []string{DriverGPIOIoctl}, []Chip{bcm2712, rp1()}}, "pinctrl-rp1", "gpiochip4", nil, ""},
		{"pi5 bcm283x loaded", Facts{pi5DT, []string{DriverBCM283x, DriverGPIOIoctl}, []Chip{bcm2712, rp1()}}, "pinctrl-rp1", "", ErrBCM283x, "BCM2711 register offsets"},
		{"bcm2712 alone is a pi5", Facts{[]string{"brcm,bcm2712"}, []string{DriverBCM283x}, []Chip{rp1()}}, "pinctrl-rp1", "", ErrBCM283x, "host.Init"},
		{"pi5 without rp1 chip", Facts{pi5DT, []string{DriverGPIOIoctl}, []Chip{bcm2712}}, "pinctrl-rp1", "", ErrNoChip, "kernel"},
		{"no chips at all", Facts{pi5DT, nil, nil}, "pinctrl-rp1", "", ErrNoChip, "gpio group"},
		{"pi4 with bcm283x is not our concern", Facts{pi4DT, []string{DriverBCM283x, DriverGPIOIoctl}, []Chip{{Name: "gpiochip0", Label: "pinctrl-bcm2711"}}}, "pinctrl-bcm2711", "gpiochip0", nil, ""},
		{"other board wrong label", Facts{nil, []string{DriverGPIOIoctl}, []Chip{{Name: "gpiochip0", Label: "gpio-sim"}}}, "pinctrl-rp1", "", ErrNoChip, "gpiochip0=gpio-sim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Check(tt.facts, tt.label)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err = %v, want %v containing %q", err, tt.wantErr, tt.errHas)
				}
				return
			}
			if err != nil || c.Name != tt.want {
				t.Fatalf("got %+v, %v; want chip %s", c.Name, err, tt.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	c := rp1()
	for _, tt := range []struct {
		spec string
		want int
		err  string
	}{
		{"GPIO23", 23, ""}, {"23", 23, ""}, {"GPIO24", 24, ""}, {"0", 0, ""},
		{"gpio23", 0, `did you mean "GPIO23"`}, {"GPIO99", 0, "gpioinfo gpiochip4"}, {"54", 0, "lines 0..53"},
	} {
		n, err := Resolve(c, tt.spec)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Resolve(%q) = %d, %v; want error with %q", tt.spec, n, err, tt.err)
			}
			continue
		}
		if err != nil || n != tt.want {
			t.Errorf("Resolve(%q) = %d, %v; want %d", tt.spec, n, err, tt.want)
		}
	}
}

// TestReadFactsHere: on this machine (no Pi) the facts are gathered without error, and gpioioctl is
// registered. bcm283x registers itself only on ARM, so on a PC the check below cannot see it;
// TestNoBCM283xOnArm64 checks the arm64 builds instead.
func TestReadFactsHere(t *testing.T) {
	f, err := ReadFacts()
	if err != nil {
		t.Fatal(err)
	}
	reg := registered()
	for _, d := range reg {
		if d == DriverBCM283x {
			t.Fatalf("bcm283x is linked in: %v", reg)
		}
	}
	if !slices.Contains(reg, DriverGPIOIoctl) {
		t.Errorf("gpioioctl is not registered: %v", reg)
	}
	t.Logf("facts here: compatible=%v drivers=%v chips=%d pi5=%v", f.Compatible, f.Drivers, len(f.Chips), f.IsPi5())
}

// TestNoBCM283xOnArm64: none of the binaries built for the Pi links periph's bcm283x (nor host,
// which would pull it in): on a Pi 5 it would claim the header pins with BCM2711 offsets.
func TestNoBCM283xOnArm64(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	cmd := exec.Command(gobin, "list", "-deps", "../../cmd/rig", "../../../gateway/cmd/gateway", "../smoketest")
	cmd.Env = append(cmd.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "periph.io/x/host/v3/gpioioctl") {
		t.Fatalf("gpioioctl is not linked for arm64: the list is wrong")
	}
	for _, d := range deps {
		if d == "periph.io/x/host/v3/bcm283x" || d == "periph.io/x/host/v3" {
			t.Errorf("%s is linked into a Pi binary", d)
		}
	}
}
