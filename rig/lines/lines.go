// Package lines owns the device's GPIO control lines — reset (NRST), BOOT0 and a power/fault line
// — as small types over periph's gpio.PinOut, and the record of every transition driven on them
// (evidence of what the rig did to the device, and when). A real Pi 5 pin (periph host gpioioctl)
// and the emulator's pin are interchangeable here.
package lines

import (
	"context"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Transition is one level driven on a line.
type Transition struct {
	Line  string     `json:"line"`
	Level gpio.Level `json:"level"` // true = High
	At    time.Time  `json:"at"`
}

// Recorder keeps the transitions driven on lines, in order. The zero value is ready; a nil
// *Recorder records nothing. Safe for concurrent use.
type Recorder struct {
	Now func() time.Time // nil → time.Now; inject a clock for deterministic evidence

	mu  sync.Mutex
	log []Transition
}

func (r *Recorder) add(line string, l gpio.Level) {
	if r == nil {
		return
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	r.mu.Lock()
	r.log = append(r.log, Transition{Line: line, Level: l, At: now()})
	r.mu.Unlock()
}

// Transitions returns a copy of the record.
func (r *Recorder) Transitions() []Transition {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Transition(nil), r.log...)
}

// Line is one output line with a polarity: Set(true) drives its active level.
type Line struct {
	Name      string      // e.g. "boot0", "power"; names the line in errors and the record
	Pin       gpio.PinOut // the pin driving it
	ActiveLow bool        // true for lines such as NRST whose active level is Low
	Rec       *Recorder   // optional
}

// Set drives the line active or inactive.
func (l Line) Set(ctx context.Context, active bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("lines: set %s: %w", l.name(), err)
	}
	level := gpio.Level(active != l.ActiveLow)
	return drive(l.name(), l.Pin, level, l.Rec)
}

func (l Line) name() string {
	if l.Name == "" {
		return "line"
	}
	return l.Name
}

func drive(name string, pin gpio.PinOut, level gpio.Level, rec *Recorder) error {
	if pin == nil {
		return fmt.Errorf("lines: %s has no pin; wire it in the bench profile (or use the emulator's pin)", name)
	}
	if err := pin.Out(level); err != nil {
		return fmt.Errorf("lines: drive %s (%s) %s: %w", name, pin, level, err)
	}
	rec.add(name, level)
	return nil
}

// DefaultHold is the reset pulse width when ResetLine.Hold is zero: far above the STM32's NRST
// minimum (20 µs) and the filter of any reset supervisor, short enough not to slow a run.
const DefaultHold = 10 * time.Millisecond

// ResetLine is the device's NRST: active low, released (High) while the device runs.
type ResetLine struct {
	Name string        // "" → "reset"
	Pin  gpio.PinOut   // the pin wired to NRST
	Hold time.Duration // pulse width; 0 → DefaultHold
	Rec  *Recorder     // optional
}

// Pulse resets the device: drive Low, wait Hold, drive High. The line is released even when ctx
// ends during the hold, so the device is never left in reset by a cancelled step; the ctx error is
// returned then.
func (r ResetLine) Pulse(ctx context.Context) error {
	name := r.nameOr()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("lines: pulse %s: %w", name, err)
	}
	hold := r.Hold
	if hold <= 0 {
		hold = DefaultHold
	}
	if err := drive(name, r.Pin, gpio.Low, r.Rec); err != nil {
		return err
	}
	t := time.NewTimer(hold)
	defer t.Stop()
	var waitErr error
	select {
	case <-t.C:
	case <-ctx.Done():
		waitErr = fmt.Errorf("lines: pulse %s: cancelled during the hold, line released early: %w", name, ctx.Err())
	}
	if err := drive(name, r.Pin, gpio.High, r.Rec); err != nil {
		return err
	}
	return waitErr
}

// Assert holds the device in reset (Low) until Release.
func (r ResetLine) Assert(ctx context.Context) error {
	return Line{Name: r.nameOr(), Pin: r.Pin, ActiveLow: true, Rec: r.Rec}.Set(ctx, true)
}

// Release lets the device run (High).
func (r ResetLine) Release(ctx context.Context) error {
	return Line{Name: r.nameOr(), Pin: r.Pin, ActiveLow: true, Rec: r.Rec}.Set(ctx, false)
}

func (r ResetLine) nameOr() string {
	if r.Name == "" {
		return "reset"
	}
	return r.Name
}
