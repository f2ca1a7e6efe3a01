package selfcheck

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/pathrig/rig/firmware/emulator"
	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/bench"
	"github.com/pathrig/rig/rig/bench/pi5"
	"github.com/pathrig/rig/rig/dut"
	"github.com/pathrig/rig/rig/lines"
	"github.com/pathrig/rig/rig/link"
)

// EmulatedChip is the GPIO "chip" of an emulated bench: the emulator's pins.
const EmulatedChip = "emulator"

// Emulation is a bench without hardware for `rig bench check --emulate` and the tests: the Go
// emulator of the STM32 on a pty pair whose tty the check opens through go.bug.st/serial like a
// real UART, its NRST and supply the emulator's own pins, and BOOT0 a model of the STM32's boot
// strap (Strap). The host items still look at this machine.
type Emulation struct {
	Env    Env
	Device *emulator.Device
	Strap  *Strap
	pp     *link.PtyPair
	stop   func()
}

// Close stops the emulator and its pty pair.
func (m *Emulation) Close() {
	m.stop()
	m.pp.Close()
}

// EmulatedUID is the emulated bench device's UID (the one `rig device --emulate` uses).
const EmulatedUID = "303030313233343536373839"

// Emulated starts an emulated bench; interval is the device's telemetry period (0: 1s).
func Emulated(log *slog.Logger, interval time.Duration) (*Emulation, error) {
	if interval <= 0 {
		interval = time.Second
	}
	uid, _ := protocol.ParseUID(EmulatedUID)
	emu := emulator.New(emulator.Config{UID: uid, FW: protocol.FWVersion{Major: 1}, Interval: interval, Log: log})
	pp, err := link.NewPtyPair()
	if err != nil {
		return nil, err
	}
	b, err := bench.Parse("emulated bench", fmt.Appendf(nil, `name: emulated
serial: {port: %q, baud: 115200, framing: 8N1}
gpio:
  chip: %s
  reset: {line: NRST, polarity: active-low, hold: 10ms}
  boot0: {line: BOOT0, polarity: active-high}
  power: {line: PWR_EN, polarity: active-high}
  boot_timeout: 1s
`, pp.Path(), EmulatedChip))
	if err != nil {
		pp.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { emu.Run(ctx, pp.Device()) })
	strap := &Strap{NRST: emu.ResetPin()}
	m := &Emulation{Device: emu, Strap: strap, pp: pp, stop: func() { cancel(); wg.Wait() }}
	m.Env = Host(b)
	m.Env.GPIOFacts = func() (pi5.Facts, error) {
		return pi5.Facts{Compatible: []string{"rig,stm32-emulator"}, Drivers: []string{"emulator"},
			Chips: []pi5.Chip{{Name: EmulatedChip, Label: EmulatedChip, Lines: []string{"NRST", "BOOT0", "PWR_EN"}}}}, nil
	}
	m.Env.OpenLines = func(ctx context.Context, g bench.GPIO, rec *lines.Recorder) (*dut.BenchLines, func(), error) {
		return &dut.BenchLines{
			Reset: &lines.ResetLine{Name: "reset", Pin: strap.Reset(), Hold: g.Reset.Hold.D(), Rec: rec},
			Boot0: &lines.Line{Name: "boot0", Pin: strap.Boot0(), ActiveLow: g.Boot0.ActiveLow(), Rec: rec},
			Power: &lines.Line{Name: "power", Pin: emu.PowerPin(), ActiveLow: g.Power.ActiveLow(), Rec: rec},
		}, nil, nil
	}
	return m, nil
}

// Strap models the STM32's BOOT0 strap over the emulator, which has no boot modes of its own: the
// level of BOOT0 is sampled when NRST is released; high starts the ROM system bootloader, which
// says nothing in protocol v1 — modelled by keeping the emulator in reset until NRST is pulsed
// again with BOOT0 low.
type Strap struct {
	NRST gpio.PinOut // the emulator's reset pin

	mu    sync.Mutex
	boot0 gpio.Level
}

// Boot0 is the BOOT0 pin.
func (s *Strap) Boot0() gpio.PinOut { return boot0Pin{PinOut: s.NRST, s: s} }

// Reset is the NRST pin as the board sees it: BOOT0 decides what a release starts.
func (s *Strap) Reset() gpio.PinOut { return strapReset{PinOut: s.NRST, s: s} }

type boot0Pin struct {
	gpio.PinOut // only Out and String are used by rig/lines
	s           *Strap
}

func (p boot0Pin) String() string { return "EMU_BOOT0" }
func (p boot0Pin) Out(l gpio.Level) error {
	p.s.mu.Lock()
	p.s.boot0 = l
	p.s.mu.Unlock()
	return nil
}

type strapReset struct {
	gpio.PinOut
	s *Strap
}

func (p strapReset) Out(l gpio.Level) error {
	p.s.mu.Lock()
	bootloader := p.s.boot0 == gpio.High
	p.s.mu.Unlock()
	if l == gpio.High && bootloader {
		return nil // released into the ROM bootloader: the firmware does not run
	}
	return p.s.NRST.Out(l)
}
