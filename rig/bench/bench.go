// Package bench owns the description of a real bench — which serial port the device's UART is
// on, at what baud and framing, and which GPIO lines drive its NRST and BOOT0 with which polarity —
// read from a small YAML file (decoded strictly, like scenario files: errors name file, line and
// field). rig/bench/pi5 opens the lines on a Raspberry Pi 5; rig/device uses both.
package bench

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/pathrig/rig/rig/infile"
	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/scenario"
)

// Defaults of a bench file.
const (
	DefaultChip  = "pinctrl-rp1" // the Pi 5's RP1 gpiochip label: the 40-pin header lines
	DefaultBaud  = 115200
	DefaultHold  = 10 * time.Millisecond
	DefaultBoot  = 2 * time.Second // how long a reset waits for the HELLO of the next boot
	ActiveLow    = "active-low"
	ActiveHigh   = "active-high"
	maxHold      = 10 * time.Second
	maxBootWait  = 5 * time.Minute
	minBaud      = 1200
	maxBaud      = 4000000
	defaultFrame = "8N1"
)

// Config is one bench file.
type Config struct {
	Name   string `yaml:"name"`
	Serial Serial `yaml:"serial"`
	GPIO   GPIO   `yaml:"gpio"`
}

// Serial is the device's UART as the Pi sees it.
type Serial struct {
	Port    string `yaml:"port"`    // required: /dev/ttyAMA0, /dev/rig-stm32 (udev symlink), /dev/ttyUSB0
	Baud    int    `yaml:"baud"`    // default 115200
	Framing string `yaml:"framing"` // default 8N1

	framing link.Framing
}

// GPIO names the control lines. All are optional: without a reset line `rig device reset`
// refuses, and without boot0 the rig never drives BOOT0.
type GPIO struct {
	Chip  string `yaml:"chip"`  // gpiochip label; default pinctrl-rp1
	Reset *Line  `yaml:"reset"` // NRST
	Boot0 *Line  `yaml:"boot0"` // BOOT0
	// Power switches the board's supply (a relay or load switch); active-high by default. Without
	// it the rig cannot cut the device's power (the power-cut fault is refused).
	Power *Line `yaml:"power"`
	// BootTimeout bounds the wait for the HELLO after a reset pulse; default 2s.
	BootTimeout scenario.Duration `yaml:"boot_timeout"`
}

// Line is one GPIO output.
type Line struct {
	// Line is the kernel line name on the chip ("GPIO23", as gpioinfo lists it) or its offset on
	// the chip ("23"). On a Pi 5 the RP1 offsets equal the BCM GPIO numbers of the header.
	Line     string            `yaml:"line"`
	Polarity string            `yaml:"polarity"` // active-low or active-high; default per line
	Hold     scenario.Duration `yaml:"hold"`     // reset pulse width; default 10ms (reset only)
}

// ActiveLow reports the polarity.
func (l *Line) ActiveLow() bool { return l.Polarity == ActiveLow }

// Offset returns the chip offset when the line is given as a number.
func (l *Line) Offset() (int, bool) {
	n, err := strconv.Atoi(l.Line)
	return n, err == nil
}

// SerialConfig is what rig/link opens.
func (c *Config) SerialConfig() link.SerialConfig {
	return link.SerialConfig{Path: c.Serial.Port, Baud: c.Serial.Baud, Framing: c.Serial.framing}
}

// Load reads and validates a bench file.
func Load(path string) (*Config, error) {
	data, err := infile.Read(path, "bench file", infile.MaxDefinition)
	if errors.As(err, new(*infile.Error)) {
		return nil, fmt.Errorf("bench: %w", err) // a device, a folder or far too large: names the file and the limit
	}
	if err != nil {
		return nil, fmt.Errorf("bench: %w (name an existing bench file; docs/bench.md#bench-file has an example, rig/bench/testdata/pi5-stm32.yaml)", err)
	}
	return Parse(path, data)
}

var lineName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// Parse decodes and validates a bench file's bytes; name is used in errors.
func Parse(name string, data []byte) (*Config, error) {
	var c Config
	d, err := scenario.DecodeStrict(name, data, &c)
	if err != nil {
		return nil, err
	}
	if c.Name == "" {
		return nil, d.At("name", "missing: every bench file needs a name")
	}
	if c.Serial.Port == "" {
		return nil, d.At("serial.port", "missing: the device's UART, e.g. /dev/ttyAMA0 or /dev/rig-stm32")
	}
	if c.Serial.Baud == 0 {
		c.Serial.Baud = DefaultBaud
	}
	if c.Serial.Baud < minBaud || c.Serial.Baud > maxBaud {
		return nil, d.At("serial.baud", "%d is outside %d..%d", c.Serial.Baud, minBaud, maxBaud)
	}
	if c.Serial.Framing == "" {
		c.Serial.Framing = defaultFrame
	}
	f, err := link.ParseFraming(c.Serial.Framing)
	if err != nil {
		return nil, d.At("serial.framing", "%v", err)
	}
	c.Serial.framing, c.Serial.Framing = f, f.String()
	if c.GPIO.Chip == "" {
		c.GPIO.Chip = DefaultChip
	}
	if c.GPIO.BootTimeout.D() == 0 {
		c.GPIO.BootTimeout = scenario.Duration(DefaultBoot)
	}
	if bt := c.GPIO.BootTimeout.D(); bt < 0 || bt > maxBootWait {
		return nil, d.At("gpio.boot_timeout", "%s is outside 0..%s", bt, maxBootWait)
	}
	for _, l := range []struct {
		field string
		line  *Line
		def   string
	}{{"gpio.reset", c.GPIO.Reset, ActiveLow}, {"gpio.boot0", c.GPIO.Boot0, ActiveHigh}, {"gpio.power", c.GPIO.Power, ActiveHigh}} {
		if l.line == nil {
			continue
		}
		if l.line.Line == "" {
			return nil, d.At(l.field+".line", "missing: a line name such as GPIO23 or a chip offset such as 23")
		}
		if !lineName.MatchString(l.line.Line) {
			return nil, d.At(l.field+".line", "%q is not a line name (GPIO23) or offset (23)", l.line.Line)
		}
		if n, ok := l.line.Offset(); ok && (n < 0 || n > 511) {
			return nil, d.At(l.field+".line", "offset %d is outside 0..511", n)
		}
		switch l.line.Polarity {
		case "":
			l.line.Polarity = l.def
		case ActiveLow, ActiveHigh:
		default:
			return nil, d.At(l.field+".polarity", "%q: want active-low or active-high", l.line.Polarity)
		}
		if l.line.Hold.D() == 0 {
			l.line.Hold = scenario.Duration(DefaultHold)
		}
		if h := l.line.Hold.D(); h < 0 || h > maxHold {
			return nil, d.At(l.field+".hold", "%s is outside 0..%s", h, maxHold)
		}
	}
	if r, b := c.GPIO.Reset, c.GPIO.Boot0; r != nil && b != nil && r.Line == b.Line {
		return nil, d.At("gpio.boot0.line", "%s is also the reset line: NRST and BOOT0 need their own lines", b.Line)
	}
	if pw := c.GPIO.Power; pw != nil {
		for _, o := range []struct {
			name string
			l    *Line
		}{{"reset", c.GPIO.Reset}, {"boot0", c.GPIO.Boot0}} {
			if o.l != nil && o.l.Line == pw.Line {
				return nil, d.At("gpio.power.line", "%s is also the %s line: the supply switch needs its own line", pw.Line, o.name)
			}
		}
	}
	return &c, nil
}
