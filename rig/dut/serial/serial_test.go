package serial_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pathrig/rig/firmware/emulator"
	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/bench"
	"github.com/pathrig/rig/rig/dut"
	"github.com/pathrig/rig/rig/dut/serial"
	"github.com/pathrig/rig/rig/lines"
	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/scenario"
	"periph.io/x/conn/v3/gpio"
)

// fakeGPIO swaps the kind's GPIO opener for the emulator's pins for the test's duration and
// records which lines were asked for.
func fakeGPIO(t *testing.T, board *emulator.Device, fail error) *[]string {
	t.Helper()
	var opened []string
	old := serial.GPIO
	serial.GPIO = func(ctx context.Context, g bench.GPIO, rec *lines.Recorder) (*dut.BenchLines, func(), error) {
		if fail != nil {
			return nil, nil, fail
		}
		bl := &dut.BenchLines{}
		if g.Reset != nil {
			opened = append(opened, "reset:"+g.Reset.Line)
			bl.Reset = &lines.ResetLine{Name: "reset", Pin: board.ResetPin(), Rec: rec}
		}
		if g.Power != nil {
			opened = append(opened, "power:"+g.Power.Line)
			bl.Power = &lines.Line{Name: "power", Pin: board.PowerPin(), Rec: rec}
		}
		return bl, func() { opened = append(opened, "closed") }, nil
	}
	t.Cleanup(func() { serial.GPIO = old })
	return &opened
}

func writeBench(t *testing.T, port, gpioYAML string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bench.yaml")
	body := "name: test-bench\nserial:\n  port: " + port + "\n"
	if gpioYAML != "" {
		body += "gpio:\n" + gpioYAML
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestOpen: what the driver holds for each way of naming the board.
func TestOpen(t *testing.T) {
	pp, err := link.NewPtyPair()
	if err != nil {
		t.Fatal(err)
	}
	defer pp.Close()
	uid, _ := protocol.ParseUID("303030313233343536373839")
	board := emulator.New(emulator.Config{UID: uid})
	errBusy := errors.New("gpiochip0 busy")

	tests := []struct {
		name      string
		device    scenario.Device
		noLines   bool
		gpioErr   error
		wantErr   string // in Open's error; "" for none
		wantLines []string
		reset     bool // Reset() is a line
		power     bool // PowerOff drives a line
	}{
		{"port only", scenario.Device{Kind: scenario.DeviceSerial, Port: pp.Path()}, false, nil, "", nil, false, false},
		{"bench with reset and power", scenario.Device{Kind: scenario.DeviceSerial, Bench: writeBench(t, pp.Path(), "  reset: {line: GPIO23}\n  power: {line: GPIO25}\n")},
			false, nil, "", []string{"reset:GPIO23", "power:GPIO25", "closed"}, true, true},
		{"bench with reset, lines left alone", scenario.Device{Kind: scenario.DeviceSerial, Bench: writeBench(t, pp.Path(), "  reset: {line: GPIO23}\n")},
			true, nil, "", nil, false, false},
		{"bench without gpio", scenario.Device{Kind: scenario.DeviceSerial, Bench: writeBench(t, pp.Path(), "")}, false, nil, "", nil, false, false},
		{"gpio does not open", scenario.Device{Kind: scenario.DeviceSerial, Bench: writeBench(t, pp.Path(), "  reset: {line: GPIO23}\n")},
			false, errBusy, "bench test-bench: gpiochip0 busy", nil, false, false},
		{"bench file missing", scenario.Device{Kind: scenario.DeviceSerial, Bench: filepath.Join(t.TempDir(), "nope.yaml")},
			false, nil, "nope.yaml", nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			opened := fakeGPIO(t, board, tt.gpioErr)
			drv, err := serial.Open(ctx, dut.Spec{Device: tt.device, NoLines: tt.noLines})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open: %v; want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got := drv.Reset() != nil; got != tt.reset {
				t.Errorf("Reset() is a line: %v, want %v", got, tt.reset)
			}
			port, err := drv.PowerOn(ctx)
			if err != nil {
				t.Fatalf("PowerOn: %v", err)
			}
			if port.Name() != pp.Path() {
				t.Errorf("PowerOn opened %s, want %s", port.Name(), pp.Path())
			}
			if again, err := drv.PowerOn(ctx); err != nil || again != port {
				t.Errorf("a second PowerOn: %v, %v; want the same port", again, err)
			}
			err = drv.PowerOff(ctx)
			switch {
			case tt.power && err != nil:
				t.Errorf("PowerOff: %v", err)
			case tt.power && board.PowerPin().Read() != gpio.Low:
				t.Errorf("PowerOff left the supply on")
			case !tt.power && (!errors.Is(err, dut.ErrNoLine) || !strings.Contains(err.Error(), "gpio.power")):
				t.Errorf("PowerOff without a power line: %v; want dut.ErrNoLine naming gpio.power", err)
			}
			if tt.power {
				if _, err := drv.PowerOn(ctx); err != nil || board.PowerPin().Read() != gpio.High {
					t.Errorf("PowerOn after PowerOff: %v, supply %v; want the supply back on", err, board.PowerPin().Read())
				}
			}
			port.Close()
			if err := drv.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if !slices.Equal(*opened, tt.wantLines) {
				t.Errorf("lines opened and closed: %v, want %v", *opened, tt.wantLines)
			}
		})
	}
}

// TestPowerOnNamesThePort: a UART that is not there is an error naming its path.
func TestPowerOnNamesThePort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "ttyNONE")
	drv, err := serial.Open(ctx, dut.Spec{Device: scenario.Device{Kind: scenario.DeviceSerial, Port: path}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drv.PowerOn(ctx); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("PowerOn on a missing UART: %v; want an error naming %s", err, path)
	}
}
