// Package serial is the device kind "serial": a board on a UART — a real STM32 on the bench, or
// anything else that speaks protocol v1 on a tty (the firmware in a QEMU started outside the rig).
// With a bench file (device.bench) the rig also holds the board's GPIO lines through periph on
// the Raspberry Pi 5: NRST for device-reset, the supply switch for power-cut, BOOT0 held low.
// Without one the board is only reachable over its UART, and the rig leaves it running.
package serial

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/pathrig/rig/rig/bench"
	"github.com/pathrig/rig/rig/bench/pi5"
	"github.com/pathrig/rig/rig/dut"
	"github.com/pathrig/rig/rig/lines"
	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/scenario"
)

// OpenGPIO opens a bench's lines; the Pi 5 (periph gpioioctl) unless a test swaps it for fakes.
type OpenGPIO func(ctx context.Context, g bench.GPIO, rec *lines.Recorder) (*dut.BenchLines, func(), error)

// Pi5 opens the lines on a Raspberry Pi 5.
func Pi5(ctx context.Context, g bench.GPIO, rec *lines.Recorder) (*dut.BenchLines, func(), error) {
	p, err := pi5.Open(ctx, g, rec)
	if err != nil {
		return nil, nil, err
	}
	return &dut.BenchLines{Reset: p.Reset, Boot0: p.Boot0, Power: p.Power}, p.Close, nil
}

// GPIO is how the kind opens bench lines (tests set a fake).
var GPIO OpenGPIO = Pi5

func init() {
	dut.Register(dut.Kind{
		Name: scenario.DeviceSerial,
		Open: func(ctx context.Context, s dut.Spec) (dut.Driver, error) { return Open(ctx, s) },
		Faults: func(s dut.Spec) ([]string, error) {
			if s.Device.Bench == "" {
				return nil, nil
			}
			b, err := bench.Load(s.Device.Bench)
			if err != nil {
				return nil, err
			}
			var out []string
			if b.GPIO.Reset != nil {
				out = append(out, scenario.FaultDeviceReset)
			}
			if b.GPIO.Power != nil {
				out = append(out, scenario.FaultPowerCut)
			}
			return out, nil
		},
	})
}

// Driver is one board on a UART.
type Driver struct {
	cfg   link.SerialConfig
	bench *bench.Config
	lines *dut.BenchLines
	close func()
	log   *slog.Logger

	mu   sync.Mutex
	port link.Port
}

// Open reads the bench file (when named) and opens its GPIO lines; the UART opens at PowerOn.
func Open(ctx context.Context, s dut.Spec) (*Driver, error) {
	d := &Driver{log: s.Log, cfg: link.SerialConfig{Path: s.Device.Port, Baud: s.Device.Baud, Framing: s.Framing}}
	if d.cfg.Baud <= 0 {
		d.cfg.Baud = bench.DefaultBaud
	}
	if s.Device.Bench != "" {
		b, err := bench.Load(s.Device.Bench)
		if err != nil {
			return nil, err
		}
		d.cfg, d.bench = b.SerialConfig(), b
		if !s.NoLines && (b.GPIO.Reset != nil || b.GPIO.Boot0 != nil || b.GPIO.Power != nil) {
			l, closeFn, err := GPIO(ctx, b.GPIO, s.Rec)
			if err != nil {
				return nil, fmt.Errorf("bench %s: %w", b.Name, err)
			}
			d.lines, d.close = l, closeFn
		}
	}
	return d, nil
}

// PowerOn switches the supply on (when the bench has a power line) and opens the UART, supervised:
// an unplugged USB adapter is reopened when it comes back.
func (d *Driver) PowerOn(ctx context.Context) (link.Port, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lines != nil && d.lines.Power != nil {
		if err := d.lines.Power.Set(ctx, true); err != nil {
			return nil, err
		}
	}
	if d.port != nil {
		return d.port, nil
	}
	p, err := link.Supervise(ctx, d.cfg, link.SuperviseOptions{Log: d.log})
	if err != nil {
		return nil, err
	}
	d.port = p
	return p, nil
}

// PowerOff switches the supply off through the bench's power line.
func (d *Driver) PowerOff(ctx context.Context) error {
	if d.lines == nil || d.lines.Power == nil {
		return fmt.Errorf("%w: power (name it as gpio.power in the bench file)", dut.ErrNoLine)
	}
	return d.lines.Power.Set(ctx, false)
}

// Reset is the bench's NRST line, nil without one.
func (d *Driver) Reset() *lines.ResetLine {
	if d.lines == nil {
		return nil
	}
	return d.lines.Reset
}

// Boot0 is the bench's BOOT0 line, nil without one.
func (d *Driver) Boot0() *lines.Line {
	if d.lines == nil {
		return nil
	}
	return d.lines.Boot0
}

// Bench is the bench file read, nil without one.
func (d *Driver) Bench() *bench.Config { return d.bench }

// Close releases the GPIO lines (the board keeps running: its supply stays on). The port is
// closed by its user.
func (d *Driver) Close() error {
	if d.close != nil {
		d.close()
	}
	return nil
}
