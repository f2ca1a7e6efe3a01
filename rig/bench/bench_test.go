package bench

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/infile"
	"github.com/pathrig/rig/rig/scenario"
)

func TestLoadExample(t *testing.T) {
	c, err := Load("testdata/pi5-stm32.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Serial.Port != "/dev/rig-stm32" || c.Serial.Baud != 115200 || c.SerialConfig().Framing.String() != "8N1" {
		t.Errorf("serial: %+v", c.Serial)
	}
	if c.GPIO.Chip != "pinctrl-rp1" || c.GPIO.Reset.Line != "GPIO23" || !c.GPIO.Reset.ActiveLow() || c.GPIO.Boot0.ActiveLow() {
		t.Errorf("gpio: %+v", c.GPIO)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("b.yaml", []byte("name: x\nserial: {port: /dev/ttyAMA0}\ngpio: {reset: {line: \"23\"}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Serial.Baud != DefaultBaud || c.Serial.Framing != "8N1" || c.GPIO.Chip != DefaultChip || c.GPIO.BootTimeout.D() != DefaultBoot {
		t.Errorf("defaults: %+v", c)
	}
	if n, ok := c.GPIO.Reset.Offset(); !ok || n != 23 || c.GPIO.Reset.Polarity != ActiveLow || c.GPIO.Reset.Hold.D() != 10*time.Millisecond {
		t.Errorf("reset defaults: %+v", c.GPIO.Reset)
	}
	if c.GPIO.Boot0 != nil {
		t.Error("boot0 appeared")
	}
}

// TestBadFiles: every bad bench file names file, line and field.
func TestBadFiles(t *testing.T) {
	const ok = "name: b\nserial:\n  port: /dev/ttyAMA0\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown field", ok + "  bauds: 9600\n", "b.yaml:4: field serial.bauds: unknown field"},
		{"no name", "serial: {port: /dev/x}\n", "b.yaml: field name: missing"},
		{"no port", "name: b\nserial: {baud: 9600}\n", "b.yaml: field serial.port: missing"},
		{"baud range", ok + "  baud: 300\n", "b.yaml:4: field serial.baud: 300 is outside 1200..4000000"},
		{"baud type", ok + "  baud: fast\n", "b.yaml:4: field serial.baud: wrong type"},
		{"framing", ok + "  framing: 9N1\n", "b.yaml:4: field serial.framing: framing \"9N1\": 9 data bits"},
		{"polarity", ok + "gpio:\n  reset:\n    line: GPIO23\n    polarity: low\n", "b.yaml:7: field gpio.reset.polarity: \"low\": want active-low or active-high"},
		{"no line", ok + "gpio:\n  boot0:\n    polarity: active-high\n", "field gpio.boot0.line: missing"},
		{"bad line", ok + "gpio:\n  reset: {line: \"GPIO 23\"}\n", "b.yaml:5: field gpio.reset.line: \"GPIO 23\" is not a line name"},
		{"offset range", ok + "gpio:\n  reset: {line: \"900\"}\n", "field gpio.reset.line: offset 900 is outside 0..511"},
		{"same line", ok + "gpio:\n  reset: {line: GPIO23}\n  boot0: {line: GPIO23}\n", "b.yaml:6: field gpio.boot0.line: GPIO23 is also the reset line"},
		{"hold type", ok + "gpio:\n  reset: {line: GPIO23, hold: 10}\n", "b.yaml:5: field gpio.reset.hold: wrong type: want a duration"},
		{"hold range", ok + "gpio:\n  reset: {line: GPIO23, hold: 1m}\n", "field gpio.reset.hold: 1m0s is outside"},
		{"syntax", "name: [\n", "b.yaml"},
		{"fraction baud", ok + "  baud: 115200.9\n", "b.yaml:4: field serial.baud: wrong type: want an integer, got 115200.9, which is not a whole number"},
		{"quoted baud", ok + "  baud: \"9600\"\n", "b.yaml:4: field serial.baud: wrong type: want an integer, got the string \"9600\""},
		{"empty", "\n# nothing\n", "b.yaml: the file is empty"},
		{"second document", ok + "---\nname: c\n", "b.yaml:4: a second YAML document starts here"},
		{"tag", "name: b\nserial:\n  port: !dev x\n", "b.yaml:3: field serial.port: YAML tag !dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("b.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\nwant it to contain %q", err, tt.want)
			}
			if !errors.Is(err, scenario.ErrInvalid) {
				t.Errorf("error %v does not wrap scenario.ErrInvalid", err)
			}
		})
	}
	if _, err := Load("testdata/missing.yaml"); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Load("/dev/zero"); !errors.Is(err, infile.ErrNotRegular) || !strings.Contains(err.Error(), "bench: /dev/zero: is a character device, not a regular file: name the bench file itself") {
		t.Errorf("/dev/zero: %v", err)
	}
}
