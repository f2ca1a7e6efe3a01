// Package qemu is the device kind "qemu": the C firmware (firmware/stm32) in qemu-system-arm's
// netduinoplus2, the scenario's UID programmed into the board. NRST is the QEMU monitor (QMP);
// a power cut stops the VM and starts a new one with RAM lost — all but the firmware's noinit
// block, which the real board keeps in its battery-backed backup domain.
package qemu

import (
	"context"
	"fmt"
	"sync"

	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/dut"
	"github.com/pathrig/rig/rig/lines"
	"github.com/pathrig/rig/rig/link"
	vm "github.com/pathrig/rig/rig/qemu"
	"github.com/pathrig/rig/rig/scenario"
)

func init() {
	dut.Register(dut.Kind{
		Name: scenario.DeviceQEMU,
		Open: func(ctx context.Context, s dut.Spec) (dut.Driver, error) { return Open(ctx, s) },
		Faults: func(dut.Spec) ([]string, error) {
			return []string{scenario.FaultDeviceReset, scenario.FaultPowerCut}, nil
		},
	})
}

// Driver runs the firmware in one QEMU board.
type Driver struct {
	spec  dut.Spec
	m     *vm.Machine
	reset *lines.ResetLine

	mu        sync.Mutex
	connected bool
}

// Open starts QEMU paused with the firmware; the CPU runs at PowerOn.
func Open(ctx context.Context, s dut.Spec) (*Driver, error) {
	uid, err := protocol.ParseUID(s.Device.UID)
	if err != nil {
		return nil, fmt.Errorf("qemu device: device.uid: %w", err)
	}
	m, err := vm.Start(ctx, vm.Config{Image: s.Device.Image, UID: &uid, Log: s.Log})
	if err != nil {
		return nil, fmt.Errorf("start the qemu device: %w", err)
	}
	return &Driver{spec: s, m: m, reset: &lines.ResetLine{Name: "reset:" + uid.String(), Pin: m.ResetPin(), Rec: s.Rec}}, nil
}

// Machine is the QEMU board.
func (d *Driver) Machine() *vm.Machine { return d.m }

// PowerOn opens USART1's pty and lets the CPU run the first time; after a PowerOff it starts a
// new VM (a new pty) with the noinit block carried over.
func (d *Driver) PowerOn(ctx context.Context) (link.Port, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	baud := d.spec.Device.Baud
	if baud <= 0 {
		baud = 115200
	}
	if !d.connected {
		p, err := d.m.Connect(ctx, baud)
		if err != nil {
			return nil, err
		}
		d.connected = true
		return p, nil
	}
	return d.m.PowerOn(ctx, baud)
}

// Halt stops the CPU: the board sends nothing more (dut.Halter).
func (d *Driver) Halt(ctx context.Context) error { return d.m.Halt(ctx) }

// PowerOff stops the VM (RAM lost).
func (d *Driver) PowerOff(ctx context.Context) error { return d.m.PowerOff(ctx) }

// Reset is NRST through QMP.
func (d *Driver) Reset() *lines.ResetLine { return d.reset }

// Close quits QEMU.
func (d *Driver) Close() error { return d.m.Close() }
