// Package emulated is the device kind "emulated": the Go emulator of the STM32 (firmware/emulator)
// on a pty pair whose tty side the rig opens through go.bug.st/serial — or, for fleets, on an
// in-memory pipe with a UART's receive buffer. Its NRST and supply are the emulator's own pins.
package emulated

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/pathrig/rig/firmware/emulator"
	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/dut"
	"github.com/pathrig/rig/rig/lines"
	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/scenario"
)

func init() {
	dut.Register(dut.Kind{
		Name: scenario.DeviceEmulated,
		Open: func(ctx context.Context, s dut.Spec) (dut.Driver, error) { return Open(s) },
		Faults: func(dut.Spec) ([]string, error) {
			return []string{scenario.FaultDeviceReset, scenario.FaultPowerCut}, nil
		},
	})
}

// Driver runs one emulated device.
type Driver struct {
	spec  dut.Spec
	emu   *emulator.Device
	reset *lines.ResetLine
	power lines.Line

	mu      sync.Mutex
	started bool
	port    link.Port
	pty     *link.PtyPair
	conn    net.Conn
	cancel  context.CancelFunc
	done    chan error
}

// Open makes the emulator for s.Device; nothing runs before PowerOn.
func Open(s dut.Spec) (*Driver, error) {
	uid, err := protocol.ParseUID(s.Device.UID)
	if err != nil {
		return nil, fmt.Errorf("emulated: device.uid: %w", err)
	}
	var fw protocol.FWVersion
	fmt.Sscanf(s.Device.Firmware, "%d.%d.%d", &fw.Major, &fw.Minor, &fw.Patch)
	period := s.Device.TelemetryInterval.D()
	if s.Period > 0 {
		period = s.Period
	}
	// A period finer than SET_INTERVAL carries is a benchmark's offered rate: kept as a dedicated
	// timer would keep it, however the host schedules the emulator.
	emu := emulator.New(emulator.Config{UID: uid, FW: fw, Boot: s.Device.Boot, Interval: period, CatchUp: s.Period > 0, Log: s.Log})
	d := &Driver{spec: s, emu: emu}
	d.reset = &lines.ResetLine{Name: "reset:" + uid.String(), Pin: emu.ResetPin(), Rec: s.Rec}
	d.power = lines.Line{Name: "power:" + uid.String(), Pin: emu.PowerPin(), Rec: s.Rec}
	return d, nil
}

// Emulator is the emulated device (its counters are evidence of what it sent).
func (d *Driver) Emulator() *emulator.Device { return d.emu }

// PowerOn starts the emulator on its link the first time, and switches its supply on after that.
func (d *Driver) PowerOn(ctx context.Context) (link.Port, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		return d.port, d.power.Set(ctx, true)
	}
	var devSide io.ReadWriter
	if d.spec.InMemory {
		var host link.Port
		d.conn, host = link.NewUART("emulated:"+d.spec.Device.UID, 4096) // a UART never blocks its sender
		devSide, d.port = d.conn, host
	} else {
		pp, err := link.NewPtyPair()
		if err != nil {
			return nil, err
		}
		port, err := link.Supervise(ctx, link.SerialConfig{Path: pp.Path(), Baud: baud(d.spec.Device.Baud)}, link.SuperviseOptions{Log: d.spec.Log})
		if err != nil {
			pp.Close()
			return nil, fmt.Errorf("emulated: %w", err)
		}
		d.pty, d.port, devSide = pp, port, pp.Device()
	}
	rctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.done = cancel, make(chan error, 1)
	go func() { d.done <- d.emu.Run(rctx, devSide) }()
	d.started = true
	return d.port, nil
}

// PowerOff switches the emulator's supply off: silent and deaf, RAM lost, boot history kept.
func (d *Driver) PowerOff(ctx context.Context) error { return d.power.Set(ctx, false) }

// Reset is the emulator's NRST.
func (d *Driver) Reset() *lines.ResetLine { return d.reset }

// Close stops the emulator and its link. The port PowerOn returned is closed by its user.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.started {
		return nil
	}
	d.cancel()
	if d.conn != nil {
		d.conn.Close()
	}
	<-d.done // stopped on purpose: a read that failed as its link closed is the stop itself
	if d.pty != nil {
		d.pty.Close()
	}
	d.started = false
	return nil
}

func baud(b int) int {
	if b <= 0 {
		return 115200
	}
	return b
}
