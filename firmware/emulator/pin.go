package emulator

import (
	"errors"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// ResetPin is the emulated device's NRST as a periph gpio.PinIO, so rig/lines drives it exactly as
// it drives a Pi 5 GPIO wired to the real board. Out(gpio.Low) holds the device in reset: it sends
// nothing and ignores what it receives. Out(gpio.High) (or In, the line floating up to its pull-up
// like the STM32's internal NRST pull-up) releases it: boot + 1, seq back to 0, HELLO again.
// (gpiotest.Pin is not used: it would pull a clock library into the module for no gain.)
type ResetPin struct {
	d *Device
}

var _ gpio.PinIO = (*ResetPin)(nil)

// String implements conn.Resource.
func (p *ResetPin) String() string { return "EMU_NRST(" + p.d.ID() + ")" }

// Halt implements conn.Resource; it leaves the level as it is.
func (p *ResetPin) Halt() error { return nil }

// Name implements pin.Pin.
func (p *ResetPin) Name() string { return "NRST" }

// Number implements pin.Pin; the line has no GPIO number.
func (p *ResetPin) Number() int { return -1 }

// Function implements pin.Pin.
func (p *ResetPin) Function() string {
	if p.d.inResetNow() {
		return "Out/Low"
	}
	return "Out/High"
}

// In implements gpio.PinIn: releasing the line lets the pull-up take it high, which boots the device.
func (p *ResetPin) In(pull gpio.Pull, edge gpio.Edge) error {
	if edge != gpio.NoEdge {
		return errors.New("emulator: NRST has no edge detection; poll Read instead")
	}
	if pull == gpio.PullDown {
		return errors.New("emulator: NRST has an internal pull-up; a pull-down cannot be emulated")
	}
	p.d.setReset(false)
	return nil
}

// Read implements gpio.PinIn: Low while the device is held in reset.
func (p *ResetPin) Read() gpio.Level { return gpio.Level(!p.d.inResetNow()) }

// WaitForEdge implements gpio.PinIn. The line produces no edges of its own, so it reports none
// at once instead of blocking for the timeout.
func (p *ResetPin) WaitForEdge(timeout time.Duration) bool { return false }

// Pull implements gpio.PinIn.
func (p *ResetPin) Pull() gpio.Pull { return gpio.PullUp }

// DefaultPull implements gpio.PinIn.
func (p *ResetPin) DefaultPull() gpio.Pull { return gpio.PullUp }

// Out implements gpio.PinOut. It returns once the device is in reset (no frame in flight) or booting.
func (p *ResetPin) Out(l gpio.Level) error {
	p.d.setReset(l == gpio.Low)
	return nil
}

// PWM implements gpio.PinOut; a reset line has no PWM.
func (p *ResetPin) PWM(gpio.Duty, physic.Frequency) error {
	return errors.New("emulator: NRST does not support PWM")
}

// PowerPin is the line that switches the emulated board's supply (a load switch or relay driven
// from a Pi 5 GPIO on the bench), as a periph gpio.PinIO: Out(gpio.Low) cuts power — the device
// goes silent and deaf — and Out(gpio.High) restores it: boot + 1 with reset cause power on.
type PowerPin struct {
	d *Device
}

var _ gpio.PinIO = (*PowerPin)(nil)

// PowerPin returns the device's supply line.
func (d *Device) PowerPin() *PowerPin { return d.power }

func (p *PowerPin) String() string { return "EMU_PWR(" + p.d.ID() + ")" }
func (p *PowerPin) Halt() error    { return nil }
func (p *PowerPin) Name() string   { return "PWR_EN" }
func (p *PowerPin) Number() int    { return -1 }
func (p *PowerPin) Function() string {
	return map[bool]string{true: "Out/High", false: "Out/Low"}[p.d.poweredNow()]
}

// In implements gpio.PinIn: a floating enable line is pulled up, so the board is powered.
func (p *PowerPin) In(pull gpio.Pull, edge gpio.Edge) error {
	if edge != gpio.NoEdge {
		return errors.New("emulator: PWR_EN has no edge detection")
	}
	p.d.setPower(true)
	return nil
}

func (p *PowerPin) Read() gpio.Level                       { return gpio.Level(p.d.poweredNow()) }
func (p *PowerPin) WaitForEdge(timeout time.Duration) bool { return false }
func (p *PowerPin) Pull() gpio.Pull                        { return gpio.PullUp }
func (p *PowerPin) DefaultPull() gpio.Pull                 { return gpio.PullUp }

// Out implements gpio.PinOut: Low cuts the supply, High restores it.
func (p *PowerPin) Out(l gpio.Level) error {
	p.d.setPower(l == gpio.High)
	return nil
}

// PWM implements gpio.PinOut; a supply switch has no PWM.
func (p *PowerPin) PWM(gpio.Duty, physic.Frequency) error {
	return errors.New("emulator: PWR_EN does not support PWM")
}
