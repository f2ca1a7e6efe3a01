package device

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pathrig/rig/firmware/emulator"
	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/lines"
	"github.com/pathrig/rig/rig/link"
)

// Emulated is a bench without hardware: the Go emulator of the STM32 on the master side of a pty
// pair, its tty opened through the same serial driver as a real UART (link.Supervise), and its
// NRST as the reset line. `rig device … --emulate` and the tests use it.
type Emulated struct {
	Device *emulator.Device
	Port   *link.Supervised
	Reset  *lines.ResetLine
	pty    *link.PtyPair
	stop   context.CancelFunc
	wg     sync.WaitGroup
}

// EmulatedUID is the emulated device's UID unless told otherwise.
const EmulatedUID = "303030313233343536373839"

// StartEmulated starts the emulator (UID EmulatedUID, firmware 1.0.0, boot 0, telemetry every
// interval) and opens its tty at baud.
func StartEmulated(ctx context.Context, baud int, interval time.Duration, log *slog.Logger) (*Emulated, error) {
	uid, _ := protocol.ParseUID(EmulatedUID)
	pp, err := link.NewPtyPair()
	if err != nil {
		return nil, err
	}
	dev := emulator.New(emulator.Config{UID: uid, FW: protocol.FWVersion{Major: 1}, Interval: interval, Log: log})
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	e := &Emulated{Device: dev, pty: pp, stop: stop}
	e.wg.Go(func() { dev.Run(runCtx, pp.Device()) })
	port, err := link.Supervise(ctx, link.SerialConfig{Path: pp.Path(), Baud: baud}, link.SuperviseOptions{Log: log})
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("device: emulated bench: %w", err)
	}
	e.Port = port
	e.Reset = &lines.ResetLine{Name: "reset", Pin: dev.ResetPin()}
	return e, nil
}

// Close stops the emulator and closes the pty pair.
func (e *Emulated) Close() {
	if e.Port != nil {
		e.Port.Close()
	}
	e.stop()
	e.wg.Wait()
	e.pty.Close()
}
