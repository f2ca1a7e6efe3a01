package pi5

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/host/v3/gpioioctl"

	"github.com/pathrig/rig/rig/bench"
	"github.com/pathrig/rig/rig/lines"
)

var (
	initOnce  sync.Once
	initState *driverreg.State
	initErr   error
)

// ReadFacts initialises the periph drivers registered in this program (gpioioctl, and bcm283x if
// something imported it) and gathers the Facts.
func ReadFacts() (Facts, error) {
	initOnce.Do(func() { initState, initErr = driverreg.Init() })
	if initErr != nil {
		return Facts{}, fmt.Errorf("pi5: periph driver init: %w", initErr)
	}
	f := Facts{Compatible: readCompatible()}
	for _, d := range initState.Loaded {
		f.Drivers = append(f.Drivers, d.String())
	}
	for _, c := range gpioioctl.Chips {
		ch := Chip{Name: c.Name(), Label: c.Label()}
		for _, l := range c.Lines() {
			ch.Lines = append(ch.Lines, l.Name())
		}
		f.Chips = append(f.Chips, ch)
	}
	return f, nil
}

// Pins are the bench's opened control lines, ready for rig/lines.
type Pins struct {
	Reset *lines.ResetLine // nil when the bench file names no reset line
	Boot0 *lines.Line      // nil when it names no boot0 line
	Power *lines.Line      // nil when it names no power line
	Chip  Chip
	close []func()
}

// Close releases the lines (the kernel keeps their last level).
func (p *Pins) Close() {
	for _, c := range p.close {
		c()
	}
	p.close = nil
}

// Open checks the host (Check) and opens the bench's lines on its chip as outputs, each driven to
// its inactive level first: BOOT0 low (boot from flash), NRST released. rec, if not nil, logs
// every transition.
//
// Requesting a line as an output drives it low for an instant before the first level is set
// (gpioioctl requests it without an initial value), so opening an active-low NRST resets the device
// once; the rig opens the lines only for commands that reset it anyway.
func Open(ctx context.Context, g bench.GPIO, rec *lines.Recorder) (*Pins, error) {
	if g.Reset == nil && g.Boot0 == nil && g.Power == nil {
		return nil, errors.New("pi5: the bench file names no GPIO line (gpio.reset, gpio.boot0, gpio.power)")
	}
	f, err := ReadFacts()
	if err != nil {
		return nil, err
	}
	chip, err := Check(f, g.Chip)
	if err != nil {
		return nil, fmt.Errorf("pi5: %w", err)
	}
	var dev *gpioioctl.GPIOChip
	for _, c := range gpioioctl.Chips {
		if c.Name() == chip.Name {
			dev = c
		}
	}
	if dev == nil {
		return nil, fmt.Errorf("pi5: chip %s vanished after the check", chip.Name)
	}
	p := &Pins{Chip: chip}
	open := func(what string, l *bench.Line) (gpio.PinOut, error) {
		off, err := Resolve(chip, l.Line)
		if err != nil {
			return nil, fmt.Errorf("pi5: gpio.%s: %w", what, err)
		}
		line := dev.ByNumber(off)
		if line == nil {
			return nil, fmt.Errorf("pi5: gpio.%s: line %d missing on %s", what, off, chip.Name)
		}
		p.close = append(p.close, line.Close)
		return line, nil
	}
	if g.Boot0 != nil {
		pin, err := open("boot0", g.Boot0)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.Boot0 = &lines.Line{Name: "boot0", Pin: pin, ActiveLow: g.Boot0.ActiveLow(), Rec: rec}
		if err := p.Boot0.Set(ctx, false); err != nil {
			p.Close()
			return nil, fmt.Errorf("pi5: %w (is the line used by another program? `gpioinfo` shows its consumer)", err)
		}
	}
	if g.Power != nil {
		pin, err := open("power", g.Power)
		if err != nil {
			p.Close()
			return nil, err
		}
		// Supply on first: the board is powered whenever the rig holds the line.
		p.Power = &lines.Line{Name: "power", Pin: pin, ActiveLow: g.Power.ActiveLow(), Rec: rec}
		if err := p.Power.Set(ctx, true); err != nil {
			p.Close()
			return nil, fmt.Errorf("pi5: %w (is the line used by another program? `gpioinfo` shows its consumer)", err)
		}
	}
	if g.Reset != nil {
		pin, err := open("reset", g.Reset)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.Reset = &lines.ResetLine{Name: "reset", Pin: pin, Hold: g.Reset.Hold.D(), Rec: rec}
		if !g.Reset.ActiveLow() {
			// An active-high reset (an inverting transistor stage): drive it through a Line.
			p.Reset.Pin = invert{pin}
		}
		if err := p.Reset.Release(ctx); err != nil {
			p.Close()
			return nil, fmt.Errorf("pi5: %w (is the line used by another program? `gpioinfo` shows its consumer)", err)
		}
	}
	return p, nil
}

// invert turns an active-high reset stage into the active-low line ResetLine drives.
type invert struct{ gpio.PinOut }

func (i invert) Out(l gpio.Level) error { return i.PinOut.Out(!l) }

// registered returns the name of every periph driver registered in this program, loaded or not.
func registered() []string {
	ReadFacts()
	if initState == nil {
		return nil
	}
	var names []string
	for _, d := range initState.Loaded {
		names = append(names, d.String())
	}
	for _, f := range append(append([]driverreg.DriverFailure(nil), initState.Skipped...), initState.Failed...) {
		names = append(names, f.D.String())
	}
	return names
}
