package qemu

import (
	"context"
	"errors"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// pinTimeout bounds one monitor command driven through the pin (gpio.PinOut has no context).
const pinTimeout = 5 * time.Second

// ResetPin is the QEMU board's NRST as a periph gpio.PinIO, so rig/lines.ResetLine drives it as it
// drives a Pi 5 GPIO wired to the real board. Out(gpio.Low) stops the VM (the device neither sends
// nor receives); Out(gpio.High) — or In, the line floating up to NRST's pull-up — is system_reset
// then cont: the firmware boots again from its reset vector, keeping its noinit boot counter.
// While the board is powered off (Machine.PowerOff) Out returns an error naming that state.
type ResetPin struct {
	m *Machine
}

var _ gpio.PinIO = (*ResetPin)(nil)

// String implements conn.Resource.
func (p *ResetPin) String() string { return "QEMU_NRST(" + p.m.cfg.Machine + ")" }

// Halt implements conn.Resource; it leaves the level as it is.
func (p *ResetPin) Halt() error { return nil }

// Name implements pin.Pin.
func (p *ResetPin) Name() string { return "NRST" }

// Number implements pin.Pin; the line has no GPIO number.
func (p *ResetPin) Number() int { return -1 }

// Function implements pin.Pin.
func (p *ResetPin) Function() string {
	if p.low() {
		return "Out/Low"
	}
	return "Out/High"
}

func (p *ResetPin) low() bool {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	return p.m.inReset
}

// In implements gpio.PinIn: releasing the line lets the pull-up take it high, which boots the board.
func (p *ResetPin) In(pull gpio.Pull, edge gpio.Edge) error {
	if edge != gpio.NoEdge {
		return errors.New("qemu: NRST has no edge detection; poll Read instead")
	}
	if pull == gpio.PullDown {
		return errors.New("qemu: NRST has an internal pull-up; a pull-down cannot be emulated")
	}
	return p.Out(gpio.High)
}

// Read implements gpio.PinIn: Low while the board is held in reset.
func (p *ResetPin) Read() gpio.Level { return gpio.Level(!p.low()) }

// WaitForEdge implements gpio.PinIn; the line produces no edges of its own.
func (p *ResetPin) WaitForEdge(time.Duration) bool { return false }

// Pull implements gpio.PinIn.
func (p *ResetPin) Pull() gpio.Pull { return gpio.PullUp }

// DefaultPull implements gpio.PinIn.
func (p *ResetPin) DefaultPull() gpio.Pull { return gpio.PullUp }

// Out implements gpio.PinOut through the QEMU monitor, each command bounded by pinTimeout.
func (p *ResetPin) Out(l gpio.Level) error {
	ctx, cancel := context.WithTimeout(context.Background(), pinTimeout)
	defer cancel()
	if l == gpio.Low {
		return p.m.holdReset(ctx)
	}
	return p.m.releaseReset(ctx)
}

// PWM implements gpio.PinOut; a reset line has no PWM.
func (p *ResetPin) PWM(gpio.Duty, physic.Frequency) error {
	return errors.New("qemu: NRST does not support PWM")
}
