package selfcheck

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"syscall"
	"time"

	"go.bug.st/serial"

	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/bench"
	"github.com/pathrig/rig/rig/bench/pi5"
	"github.com/pathrig/rig/rig/device"
)

const pingOp = protocol.OpPing

// Remedies that several items give.
const (
	remedyWiring   = "check the wiring (docs/bench.md#wiring-table): Pi TXD (pin 8) to the STM32's RX (PA10), the STM32's TX (PA9) to Pi RXD (pin 10) — TX crosses to RX — and a common ground (pin 6 to GND); the board powered and running its firmware (rig device reset); the serial console off the UART (no console=serial0 in cmdline.txt)"
	remedyFraming  = "bytes arrived but no frame decoded: serial.baud and serial.framing in the bench file must match the firmware (115200 8N1 by default); a floating RX line without a common ground also reads as noise"
	remedyLineBusy = "is the line used by another program? `gpioinfo` shows its consumer; the user needs access to /dev/gpiochip* (group gpio)"
	remedyPackage  = "install the rig package (sudo apt install ./rig_VERSION_arm64.deb from make dist): it installs the unit and the udev rule"
)

func checkSerialPort(ctx context.Context, e *Env, s *State) Result {
	cfg := e.Bench.SerialConfig()
	path := cfg.Path
	where := path
	if real, err := e.EvalSymlinks(path); err == nil && real != path {
		where = path + " → " + real
	}
	st, err := e.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		remedy := "enable the UART (dtparam=uart0=on in /boot/firmware/config.txt, then reboot) or plug the USB-UART in"
		if path == e.Link {
			remedy += "; " + path + " is the udev rule's name: see udev-rule"
		}
		return fail(remedy, "%s does not exist", path)
	case err != nil:
		return errorResult("check the path in the bench file (serial.port)", "stat %s: %v", path, err)
	case st.Mode()&fs.ModeCharDevice == 0:
		return fail("point serial.port at a tty device such as /dev/ttyAMA0 or /dev/rig-stm32", "%s is not a character device (%s)", where, st.Mode().Type())
	}
	port, err := e.OpenPort(ctx, cfg)
	if err != nil {
		var pe *serial.PortError
		switch {
		case errors.Is(err, fs.ErrPermission) || (errors.As(err, &pe) && pe.Code() == serial.PermissionDenied):
			return fail("add the user to the dialout group (sudo usermod -aG dialout $USER, then log in again)", "%s: %v", where, err)
		case errors.Is(err, syscall.EBUSY) || (errors.As(err, &pe) && pe.Code() == serial.PortBusy):
			return fail("another process holds the port: the gateway service (sudo systemctl stop gateway) or a serial console; fuser -v "+path+" names it", "%s: %v", where, err)
		}
		return fail("check serial.port, serial.baud and serial.framing in the bench file", "%s: %v", where, err)
	}
	if e.Record != nil {
		port = e.Record.Port(port)
	}
	s.startClient(e, port)
	return pass("%s opens at %d %s", where, cfg.Baud, cfg.Framing)
}

func checkDeviceAnswers(ctx context.Context, e *Env, s *State) Result {
	ctx, cancel := context.WithTimeout(ctx, e.Command*time.Duration(e.Pings+3))
	defer cancel()
	res, err := device.Probe(ctx, s.client, e.Pings)
	if err != nil {
		st := s.client.Stats()
		switch {
		case s.bytesIn.Load() == 0:
			return fail(remedyWiring, "nothing came back: %v", err)
		case st.FramesOK == 0:
			return fail(remedyFraming, "%d bytes came back, no frame decoded (bad frames: %s): %v", s.bytesIn.Load(), badFrames(st), err)
		}
		return fail("the device answers some frames but not the commands: check the firmware (rig device probe shows what a healthy answer looks like with --emulate)", "%v", err)
	}
	s.UID, s.Boot = res.UID, res.Boot
	return pass("%s · firmware %s · boot %d · %d PINGs, median %s · bad frames %s", res.UID, res.Firmware, res.Boot, res.Latency.Count, msText(res.Latency.Median), badFrames(res.Host))
}

func badFrames(st device.LineStats) string {
	if len(st.BadFrames) == 0 {
		return "0"
	}
	var parts []string
	var n uint64
	for k, v := range st.BadFrames {
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
		n += v
	}
	sort.Strings(parts)
	return fmt.Sprintf("%d (%s)", n, strings.Join(parts, ", "))
}

func checkGPIOChip(ctx context.Context, e *Env, s *State) Result {
	g := e.Bench.GPIO
	if g.Reset == nil && g.Boot0 == nil && g.Power == nil {
		return skip("the bench file names no GPIO line (gpio.reset, gpio.boot0, gpio.power): the rig cannot reset or power-cycle the board")
	}
	f, err := e.GPIOFacts()
	if err != nil {
		return errorResult("run on the bench's Pi with access to /dev/gpiochip*", "%v", err)
	}
	chip, err := pi5.Check(f, g.Chip)
	switch {
	case errors.Is(err, pi5.ErrBCM283x):
		return fail("use the binaries of the rig package or make dist: they link periph's gpioioctl only", "%v", err)
	case err != nil:
		return fail("set gpio.chip to the header's chip as `gpioinfo` labels it (pinctrl-rp1 on a Pi 5); the user needs access to /dev/gpiochip* (group gpio)", "%v", err)
	}
	var named []string
	for _, l := range []struct {
		field string
		spec  *string
	}{{"reset", lineSpec(g.Reset)}, {"boot0", lineSpec(g.Boot0)}, {"power", lineSpec(g.Power)}} {
		if l.spec == nil {
			continue
		}
		off, err := pi5.Resolve(chip, *l.spec)
		if err != nil {
			return fail("fix gpio."+l.field+".line in the bench file", "gpio.%s: %v", l.field, err)
		}
		named = append(named, fmt.Sprintf("%s %s (offset %d)", l.field, *l.spec, off))
	}
	board := "on a Raspberry Pi 5"
	if !f.IsPi5() {
		board = "on a board that is not a Raspberry Pi 5 (device tree: " + strings.Join(f.Compatible, ", ") + ")"
	}
	return pass("%s is %s (%d lines) %s; periph drivers %s; %s", chip.Label, chip.Name, len(chip.Lines), board, strings.Join(f.Drivers, ", "), strings.Join(named, ", "))
}

func lineSpec(l *bench.Line) *string {
	if l == nil {
		return nil
	}
	return &l.Line
}

func checkResetLine(ctx context.Context, e *Env, s *State) Result {
	g := e.Bench.GPIO
	if g.Reset == nil {
		return skip("the bench file names no reset line (gpio.reset): the rig cannot reset the board, and the device-reset fault is refused")
	}
	l, err := s.openLines(ctx, e)
	if err != nil {
		return fail(remedyLineBusy, "opening the bench's lines: %v", err)
	}
	wait := g.BootTimeout.D()
	// Requesting an active-low NRST as an output pulses it once (rig/bench/pi5): let that boot end.
	if err := s.settle(ctx, e, wait); err != nil {
		return fail("the board stopped answering once its lines were opened: check that gpio.reset names NRST's line and its polarity, and that BOOT0 is low", "no PING answered within %s of opening the lines: %v", wait, err)
	}
	res, err := device.Reset(ctx, s.client, l.Reset, l.Boot0, wait)
	if err != nil {
		return fail("check the NRST wire (Pi GPIO23, header pin 16, through about 1 kΩ to the board's NRST), gpio.reset.line and gpio.reset.polarity, and that BOOT0 is low (boot from flash)", "%v", err)
	}
	s.Boot = res.BootAfter
	return pass("boot %d → %d · reset cause %s · HELLO %s after releasing NRST (held %s)", res.BootBefore, res.BootAfter, res.ResetCause, msText(res.HelloAfter), res.Hold)
}

func checkBoot0Line(ctx context.Context, e *Env, s *State) Result {
	g := e.Bench.GPIO
	if g.Boot0 == nil {
		return skip("the bench file names no BOOT0 line (gpio.boot0): the rig leaves BOOT0 to the board (boot from flash)")
	}
	l, err := s.openLines(ctx, e)
	if err != nil {
		return fail(remedyLineBusy, "opening the bench's lines: %v", err)
	}
	if s.results["reset-line"] != Pass {
		// Without a working NRST the device cannot show that it obeys BOOT0: drive it only.
		why := "the bench names no reset line"
		if g.Reset != nil {
			why = "reset-line did not pass"
		}
		if err := l.Boot0.Set(ctx, true); err != nil {
			return fail(remedyLineBusy, "%v", err)
		}
		if err := l.Boot0.Set(ctx, false); err != nil {
			return fail(remedyLineBusy, "%v", err)
		}
		return pass("driven high, then low (left low: boot from flash); whether the board obeys it is not shown: %s", why)
	}
	wait := g.BootTimeout.D()
	low := false
	defer func() {
		if !low {
			l.Boot0.Set(context.WithoutCancel(ctx), false)
		}
	}()
	hellos, stop := s.client.Hellos()
	defer stop()
	if err := l.Boot0.Set(ctx, true); err != nil {
		return fail(remedyLineBusy, "%v", err)
	}
	if err := l.Reset.Pulse(ctx); err != nil {
		return fail(remedyLineBusy, "%v", err)
	}
	if h, ok := waitHello(ctx, hellos, wait); ok {
		return fail("wire Pi GPIO24 (header pin 18) to the board's BOOT0 and check gpio.boot0.line and gpio.boot0.polarity", "with BOOT0 driven high the board still booted its firmware after a reset (HELLO boot %d): BOOT0 does not reach the board", h.Boot)
	}
	if err := l.Boot0.Set(ctx, false); err != nil {
		return fail(remedyLineBusy, "%v", err)
	}
	low = true
	drain(hellos)
	if err := l.Reset.Pulse(ctx); err != nil {
		return fail(remedyLineBusy, "%v", err)
	}
	h, ok := waitHello(ctx, hellos, wait)
	if !ok {
		return fail("the board is still in its ROM bootloader: check gpio.boot0.polarity, then rig device reset --bench FILE", "with BOOT0 high the firmware stayed silent, but with BOOT0 low again no HELLO came within %s of a reset", wait)
	}
	s.Boot = h.Boot
	return pass("BOOT0 high: no firmware for %s after a reset (the ROM bootloader); BOOT0 low: the firmware booted again (boot %d)", wait, h.Boot)
}

func checkPowerLine(ctx context.Context, e *Env, s *State) Result {
	g := e.Bench.GPIO
	if g.Power == nil {
		return skip("the bench file names no power line (gpio.power): the rig cannot cut the board's supply, and the power-cut fault is refused")
	}
	l, err := s.openLines(ctx, e)
	if err != nil {
		return fail(remedyLineBusy, "opening the bench's lines: %v", err)
	}
	wait := g.BootTimeout.D()
	if err := s.settle(ctx, e, wait); err != nil {
		return fail("the board stopped answering before its supply was cut: run rig device probe --bench FILE", "no PING answered within %s: %v", wait, err)
	}
	on := true
	defer func() {
		if !on {
			l.Power.Set(context.WithoutCancel(ctx), true)
		}
	}()
	hellos, stop := s.client.Hellos()
	defer stop()
	const remedySwitch = "gpio.power must switch the board's supply: check the relay or load switch between the supply and the board, its control wire from the Pi, and gpio.power.polarity"
	if err := l.Power.Set(ctx, false); err != nil {
		return fail(remedyLineBusy, "%v", err)
	}
	on = false
	if err := s.ping(ctx, e); err == nil {
		return fail(remedySwitch, "with its supply cut the device still answered a PING")
	}
	if !s.quietFor(ctx, silence) {
		return fail(remedySwitch, "with its supply cut the device still sent frames")
	}
	drain(hellos)
	restored := time.Now()
	if err := l.Power.Set(ctx, true); err != nil {
		return fail(remedyLineBusy, "%v", err)
	}
	on = true
	h, ok := waitHello(ctx, hellos, wait)
	if !ok {
		return fail("the board did not boot once its supply came back: check the switch's output voltage and gpio.boot_timeout", "silent while cut, but no HELLO within %s of restoring the supply", wait)
	}
	s.Boot = h.Boot
	return pass("cut: silent (PING unanswered, no frame for %s) · restored: HELLO boot %d, reset cause %s, %s later", silence, h.Boot, h.ResetCause, msText(h.At.Sub(restored)))
}

func msText(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}
