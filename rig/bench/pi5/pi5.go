// Package pi5 opens the bench's GPIO lines on a Raspberry Pi 5 through periph.io host/v3's
// gpioioctl driver (the Linux GPIO character device, /dev/gpiochip*), on the chip labelled
// pinctrl-rp1 — the RP1 I/O controller that owns the 40-pin header.
//
// It refuses to run when periph's bcm283x driver is loaded on a Pi 5: that driver recognises the
// BCM2712 as "a BCM283x", memory-maps the BCM2711's GPIO registers (base 0xFE200000), which are not
// where the RP1's are, re-registers GPIO0..GPIO46 over gpioioctl's lines, and takes its lines from
// the first pinctrl-* chip (pinctrl-bcm2712, not pinctrl-rp1). The rig therefore imports gpioioctl
// only, never periph.io/x/host/v3 (host.Init) or bcm283x, and checks the facts before opening a
// line. The decision is Check, a pure function over Facts, so it is tested without a Pi.
package pi5

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Device-tree compatible strings of the Pi 5.
const (
	CompatiblePi5     = "raspberrypi,5-model-b"
	CompatibleBCM2712 = "brcm,bcm2712"
	// DriverBCM283x is the periph driver name of bcm283x's GPIO driver.
	DriverBCM283x = "bcm283x-gpio"
	// DriverGPIOIoctl is the periph driver name of gpioioctl.
	DriverGPIOIoctl = "ioctl-gpio"
)

// ErrBCM283x is returned by Check when bcm283x would claim the Pi 5's pins.
var ErrBCM283x = errors.New("periph's bcm283x driver is loaded on a Raspberry Pi 5")

// ErrNoChip is returned by Check when no gpiochip carries the wanted label.
var ErrNoChip = errors.New("no GPIO chip with the wanted label")

// Chip is what the kernel says about one gpiochip.
type Chip struct {
	Name  string   // gpiochip4
	Label string   // pinctrl-rp1
	Lines []string // line names by offset ("" when unnamed)
}

// Facts is what the rig needs to know about the host before it drives a line.
type Facts struct {
	Compatible []string // /proc/device-tree/compatible, e.g. ["raspberrypi,5-model-b", "brcm,bcm2712"]
	Drivers    []string // periph drivers that loaded (driverreg.Init), e.g. ["ioctl-gpio"]
	Chips      []Chip   // the gpiochips gpioioctl could open
}

// IsPi5 reports whether the device tree says Raspberry Pi 5 (or any BCM2712 board, whose header
// also hangs off RP1).
func (f Facts) IsPi5() bool {
	for _, c := range f.Compatible {
		if c == CompatiblePi5 || c == CompatibleBCM2712 {
			return true
		}
	}
	return false
}

// Check decides whether lines may be opened on the chip labelled label, and returns that chip.
func Check(f Facts, label string) (Chip, error) {
	pi5 := f.IsPi5()
	for _, d := range f.Drivers {
		if d == DriverBCM283x && pi5 {
			return Chip{}, fmt.Errorf("%w (device tree: %s): it drives the header through BCM2711 register offsets that are not the RP1's and replaces gpioioctl's GPIOnn pins with its own; build the program without periph.io/x/host/v3's host.Init or a bcm283x import (the rig opens lines through gpioioctl on %s only)",
				ErrBCM283x, strings.Join(f.Compatible, ", "), label)
		}
	}
	if len(f.Chips) == 0 {
		return Chip{}, fmt.Errorf("%w %q: no GPIO character device could be opened (is /dev/gpiochip* there and readable? add the user to the gpio group; on a Pi 5 the header is on %s)", ErrNoChip, label, "pinctrl-rp1")
	}
	var labels []string
	for _, c := range f.Chips {
		if c.Label == label {
			return c, nil
		}
		labels = append(labels, c.Name+"="+c.Label)
	}
	sort.Strings(labels)
	hint := "set gpio.chip in the bench file to the label `gpioinfo` shows for the header's chip"
	if pi5 {
		hint = "this Pi 5's kernel exposes no RP1 gpiochip: use a current Raspberry Pi OS kernel (6.1 or later)"
	}
	return Chip{}, fmt.Errorf("%w %q (chips: %s): %s", ErrNoChip, label, strings.Join(labels, ", "), hint)
}

// Resolve returns the offset on chip c of spec: a line name ("GPIO23") or an offset ("23").
func Resolve(c Chip, spec string) (int, error) {
	if n, err := strconv.Atoi(spec); err == nil {
		if n < 0 || n >= len(c.Lines) {
			return 0, fmt.Errorf("line %d: %s (%s) has lines 0..%d", n, c.Label, c.Name, len(c.Lines)-1)
		}
		return n, nil
	}
	for i, name := range c.Lines {
		if name == spec {
			return i, nil
		}
	}
	for i, name := range c.Lines {
		if strings.EqualFold(name, spec) {
			return 0, fmt.Errorf("line %q: not on %s; did you mean %q (offset %d)? line names are case-sensitive", spec, c.Label, name, i)
		}
	}
	return 0, fmt.Errorf("line %q: no line of that name on %s (%s, %d lines; `gpioinfo %s` lists them)", spec, c.Label, c.Name, len(c.Lines), c.Name)
}

// ParseCompatible splits the NUL-separated /proc/device-tree/compatible.
func ParseCompatible(b []byte) []string {
	var out []string
	for _, p := range bytes.Split(b, []byte{0}) {
		if len(p) > 0 {
			out = append(out, string(p))
		}
	}
	return out
}

// readCompatible reads the device tree's compatible list; nil when there is no device tree (a PC).
func readCompatible() []string {
	b, err := os.ReadFile("/proc/device-tree/compatible")
	if err != nil {
		return nil
	}
	return ParseCompatible(b)
}
