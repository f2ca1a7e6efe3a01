package scenario

import (
	"fmt"
	"strings"
)

// Device kinds: where the device under test runs.
const (
	DeviceEmulated = "emulated" // the Go emulator (firmware/emulator) on a pty pair
	DeviceQEMU     = "qemu"     // the C firmware (firmware/stm32) in qemu-system-arm's netduinoplus2
	DeviceSerial   = "serial"   // a real board on a UART (device.port), GPIO lines wired later
)

// DeviceKinds lists the accepted values of device.kind and of `rig run --device`.
var DeviceKinds = []string{DeviceEmulated, DeviceQEMU, DeviceSerial}

// DefaultImage is the firmware image a qemu device runs when device.image is not set: what
// `make firmware` builds, relative to the folder the rig runs in (the repository root).
const DefaultImage = "firmware/stm32/build/fw.elf"

// kindError says what is wrong with a kind and its fields; "" when nothing is.
func (dv *Device) kindError() (field, msg string) {
	switch dv.Kind {
	case DeviceEmulated, DeviceQEMU, DeviceSerial:
	default:
		return "device.kind", fmt.Sprintf("%q is not one of %s", dv.Kind, strings.Join(DeviceKinds, ", "))
	}
	if dv.Kind == DeviceQEMU && dv.Image == "" {
		dv.Image = DefaultImage
	}
	if dv.Image != "" && dv.Kind != DeviceQEMU {
		return "device.image", fmt.Sprintf("only a qemu device runs a firmware image (kind is %s)", dv.Kind)
	}
	if dv.Kind == DeviceSerial && dv.Port == "" && dv.Bench == "" {
		return "device.port", "missing: a serial device needs its UART path, e.g. /dev/ttyAMA0 or /dev/ttyUSB0 (or device.bench: a bench file naming it and the GPIO lines)"
	}
	if dv.Port != "" && dv.Bench != "" {
		return "device.bench", "the bench file names the UART: give device.port or device.bench, not both"
	}
	if dv.Port != "" && dv.Kind != DeviceSerial {
		return "device.port", fmt.Sprintf("only a serial device has a port (kind is %s)", dv.Kind)
	}
	if dv.Bench != "" && dv.Kind != DeviceSerial {
		return "device.bench", fmt.Sprintf("only a serial device is wired on a bench (kind is %s)", dv.Kind)
	}
	return "", ""
}

// SetKind switches the device to kind (`rig run --device`) and validates the result: a serial
// device keeps the port its scenario names, and needs one.
func (dv *Device) SetKind(kind string) error {
	if kind == dv.Kind {
		return nil
	}
	nd := *dv
	nd.Kind = kind
	if kind != DeviceQEMU {
		nd.Image = ""
	}
	if kind != DeviceSerial {
		nd.Port, nd.Bench = "", ""
	}
	if field, msg := nd.kindError(); field != "" {
		return fmt.Errorf("%w: --device %s: %s: %s", ErrInvalid, kind, field, msg)
	}
	*dv = nd
	return nil
}

// UseSerial makes the device a board on a UART (`rig run --port` or `--bench`): port, or a bench
// file naming the port and the GPIO lines.
func (dv *Device) UseSerial(port, bench string) error {
	nd := *dv
	nd.Kind, nd.Port, nd.Bench, nd.Image = DeviceSerial, port, bench, ""
	if field, msg := nd.kindError(); field != "" {
		return fmt.Errorf("%w: --port/--bench: %s: %s", ErrInvalid, field, msg)
	}
	*dv = nd
	return nil
}
