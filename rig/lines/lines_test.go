package lines

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// fakePin is a gpio.PinOut that records every level and can be told to fail.
type fakePin struct {
	mu     sync.Mutex
	levels []gpio.Level
	fail   error
}

func (p *fakePin) String() string { return "FAKE0" }
func (p *fakePin) Halt() error    { return nil }
func (p *fakePin) Name() string   { return "FAKE0" }
func (p *fakePin) Number() int    { return 0 }
func (p *fakePin) Function() string {
	return "Out"
}
func (p *fakePin) PWM(gpio.Duty, physic.Frequency) error { return errors.New("no PWM") }
func (p *fakePin) Out(l gpio.Level) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	p.levels = append(p.levels, l)
	return nil
}

var _ gpio.PinOut = (*fakePin)(nil)

func TestPulse(t *testing.T) {
	pin := &fakePin{}
	tick := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	rec := &Recorder{Now: func() time.Time { tick = tick.Add(time.Millisecond); return tick }}
	r := ResetLine{Pin: pin, Hold: 5 * time.Millisecond, Rec: rec}
	start := time.Now()
	if err := r.Pulse(context.Background()); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 5*time.Millisecond {
		t.Errorf("pulse took %s, shorter than its hold", el)
	}
	if got := pin.levels; len(got) != 2 || got[0] != gpio.Low || got[1] != gpio.High {
		t.Fatalf("pin saw %v, want [Low High]", got)
	}
	tr := rec.Transitions()
	if len(tr) != 2 || tr[0].Line != "reset" || tr[0].Level != gpio.Low || tr[1].Level != gpio.High || !tr[1].At.After(tr[0].At) {
		t.Fatalf("record %+v", tr)
	}
}

// TestPulseCancelledReleases: a step cancelled mid-pulse must not leave the device in reset.
func TestPulseCancelledReleases(t *testing.T) {
	pin := &fakePin{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	err := ResetLine{Pin: pin, Hold: time.Hour}.Pulse(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
	if got := pin.levels; len(got) != 2 || got[1] != gpio.High {
		t.Fatalf("pin saw %v, want the line released High", got)
	}
}

func TestLineErrors(t *testing.T) {
	err := ResetLine{}.Pulse(context.Background())
	if err == nil || !strings.Contains(err.Error(), "reset has no pin") {
		t.Fatalf("nil pin: %v", err)
	}
	pin := &fakePin{fail: errors.New("EBUSY")}
	err = Line{Name: "boot0", Pin: pin}.Set(context.Background(), true)
	if err == nil || !strings.Contains(err.Error(), "boot0") || !strings.Contains(err.Error(), "EBUSY") {
		t.Fatalf("failing pin: %v", err)
	}
}

func TestLinePolarity(t *testing.T) {
	tests := []struct {
		name      string
		activeLow bool
		active    bool
		want      gpio.Level
	}{
		{"active high on", false, true, gpio.High},
		{"active high off", false, false, gpio.Low},
		{"active low on", true, true, gpio.Low},
		{"active low off", true, false, gpio.High},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pin := &fakePin{}
			if err := (Line{Name: "power", Pin: pin, ActiveLow: tt.activeLow}).Set(context.Background(), tt.active); err != nil {
				t.Fatal(err)
			}
			if pin.levels[0] != tt.want {
				t.Fatalf("drove %v, want %v", pin.levels[0], tt.want)
			}
		})
	}
	pin := &fakePin{}
	r := ResetLine{Name: "nrst", Pin: pin}
	if err := r.Assert(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if pin.levels[0] != gpio.Low || pin.levels[1] != gpio.High {
		t.Fatalf("assert/release drove %v", pin.levels)
	}
}
