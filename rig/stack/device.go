package stack

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/pathrig/rig/firmware/emulator"
	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/gateway"
	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/qemu"
	"github.com/pathrig/rig/rig/scenario"
)

// firmwareInterval is the telemetry period the C firmware boots with (TELEMETRY_INTERVAL_MS).
const firmwareInterval = 20 * time.Millisecond

// startDevice starts the scenario's device and tells the gateway how to reach it:
//   - emulated: the Go emulator on the device side of a pty pair; the gateway opens the tty side;
//   - qemu: the firmware image in QEMU, the scenario's UID programmed into the board; the stack
//     opens QEMU's pty (before the CPU runs) and hands the gateway the open port;
//   - serial: a real board; the gateway opens device.port.
func (s *Stack) startDevice(ctx, devCtx context.Context, dev scenario.Device, clog *slog.Logger, gc *gateway.Config) error {
	uid, err := protocol.ParseUID(dev.UID)
	if err != nil {
		return err
	}
	dlog := clog.With("component", "device")
	switch dev.Kind {
	case scenario.DeviceQEMU:
		if s.qemu, err = qemu.Start(ctx, qemu.Config{Image: dev.Image, UID: &uid, Log: dlog}); err != nil {
			return fmt.Errorf("stack: start the qemu device: %w", err)
		}
		if s.port, err = s.qemu.Connect(ctx, dev.Baud); err != nil {
			return fmt.Errorf("stack: connect to the qemu device: %w", err)
		}
		gc.Link = s.port
	case scenario.DeviceSerial:
		gc.Port = dev.Port
	default:
		if s.pty, err = link.NewPtyPair(); err != nil {
			return err
		}
		var fw protocol.FWVersion
		fmt.Sscanf(dev.Firmware, "%d.%d.%d", &fw.Major, &fw.Minor, &fw.Patch)
		s.device = emulator.New(emulator.Config{UID: uid, FW: fw, Boot: dev.Boot, Interval: dev.TelemetryInterval.D(), Log: dlog})
		s.goBackground("device", func(ctx context.Context) error { return s.device.Run(ctx, s.pty.Device()) }, devCtx)
		gc.Port = s.pty.Path()
	}
	return nil
}

// checkDevice runs once the gateway knows the device: the device must be the one the scenario
// names, and a real firmware gets the scenario's telemetry interval (the emulator starts with it).
func (s *Stack) checkDevice(ctx context.Context) error {
	dev := s.plan.Scenario.Device
	uid, _, _, _ := s.gateway.Identity()
	if uid != dev.UID {
		return fmt.Errorf("stack: the %s device reports UID %s but the scenario names %s (set device.uid to the board's UID)", dev.Kind, uid, dev.UID)
	}
	if dev.Kind != scenario.DeviceEmulated && dev.TelemetryInterval.D() != firmwareInterval {
		cmd := protocol.SetIntervalCommand(uint16(dev.TelemetryInterval.D() / time.Millisecond))
		if _, err := s.gateway.Command(ctx, cmd.Op, cmd.Args); err != nil {
			return fmt.Errorf("stack: set the device's telemetry interval to %s: %w", dev.TelemetryInterval, err)
		}
	}
	return nil
}

// ResetPin returns the device's NRST line (nil for a serial device: its GPIO lines are not wired yet).
func (s *Stack) ResetPin() gpio.PinOut {
	switch {
	case s.device != nil:
		return s.device.ResetPin()
	case s.qemu != nil:
		return s.qemu.ResetPin()
	}
	return nil
}

// devicePort is the serial path the device is reached on, for the record's volatile section.
func (s *Stack) devicePort() string {
	switch {
	case s.pty != nil:
		return s.pty.Path()
	case s.qemu != nil:
		return s.qemu.PortPath()
	}
	return s.plan.Scenario.Device.Port
}

// closeDevice closes what startDevice opened, after the gateway has stopped.
func (s *Stack) closeDevice() []error {
	var errs []error
	if s.pty != nil {
		errs = append(errs, s.pty.Close())
	}
	if s.port != nil {
		errs = append(errs, s.port.Close())
	}
	if s.qemu != nil {
		errs = append(errs, s.qemu.Close())
	}
	return errs
}
