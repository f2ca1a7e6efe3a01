// Package link owns the byte link between the gateway and a device: one small Port interface and
// its three implementations — a real UART through go.bug.st/serial (OpenSerial), a pty pair made
// in process whose tty side is opened through the same go.bug.st/serial code (NewPtyPair, the CI
// stand-in for /dev/ttyAMA0), and an in-memory pipe for fleets (NewPipe). Frames are not its
// business: firmware/protocol decodes what a Port reads.
package link

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"

	"go.bug.st/serial"
)

// DefaultReadTimeout bounds every Port.Read so a read loop observes context cancellation.
const DefaultReadTimeout = 100 * time.Millisecond

// Port is the host side of a link to one device.
//
// Read blocks at most the port's read timeout and returns (0, nil) when nothing arrived: that is
// a timeout, never end of stream. A read loop checks its context between reads. Read and Write may
// be called concurrently from different goroutines; Close unblocks neither reliably, so readers
// rely on the timeout.
type Port interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	Close() error
	Name() string // the path or a label, for logs and errors
}

// serialPort adapts a go.bug.st/serial port.
type serialPort struct {
	serial.Port
	name string
}

func (p *serialPort) Name() string { return p.name }

func (p *serialPort) Read(b []byte) (int, error) {
	n, err := p.Port.Read(b)
	if err != nil {
		return n, fmt.Errorf("link: read %s: %w", p.name, describe(err, p.name))
	}
	return n, nil
}

func (p *serialPort) Write(b []byte) (int, error) {
	n, err := p.Port.Write(b)
	if err != nil {
		return n, fmt.Errorf("link: write %s: %w", p.name, describe(err, p.name))
	}
	return n, nil
}

// OpenSerial opens a UART (or the tty side of a pty pair) at baud, 8N1, raw, no flow control, with
// DefaultReadTimeout. go.bug.st/serial opens ports exclusively (TIOCEXCL). OpenSerialConfig
// takes other framings; Supervise adds hot-unplug detection and reconnection.
func OpenSerial(ctx context.Context, path string, baud int) (Port, error) {
	return OpenSerialConfig(ctx, SerialConfig{Path: path, Baud: baud})
}

// OpenSerialConfig opens cfg.Path with cfg's baud rate and framing (zero Framing = 8N1), raw, no
// flow control, exclusively (TIOCEXCL), with cfg.ReadTimeout (0 = DefaultReadTimeout).
func OpenSerialConfig(ctx context.Context, cfg SerialConfig) (Port, error) {
	path, baud := cfg.Path, cfg.Baud
	if baud <= 0 {
		return nil, fmt.Errorf("link: open %s: baud rate %d: give a positive rate such as 115200", path, baud)
	}
	mode, err := cfg.Framing.mode(baud)
	if err != nil {
		return nil, fmt.Errorf("link: open %s: %w", path, err)
	}
	readTimeout := cfg.ReadTimeout
	if readTimeout <= 0 {
		readTimeout = DefaultReadTimeout
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("link: open %s: %w", path, err)
	}
	type result struct {
		p   serial.Port
		err error
	}
	// serial.Open has no context; open() on a tty can block (e.g. waiting for carrier on some
	// drivers), so run it aside and give up when ctx ends, closing a late success.
	done := make(chan result, 1)
	go func() {
		p, err := serial.Open(path, mode)
		done <- result{p, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		go func() {
			if r := <-done; r.p != nil {
				r.p.Close()
			}
		}()
		return nil, fmt.Errorf("link: open %s: %w", path, ctx.Err())
	}
	if r.err != nil {
		return nil, fmt.Errorf("link: open %s: %w", path, describe(r.err, path))
	}
	if err := r.p.SetReadTimeout(readTimeout); err != nil {
		r.p.Close()
		return nil, fmt.Errorf("link: open %s: set read timeout: %w", path, describe(err, path))
	}
	return &serialPort{Port: r.p, name: path}, nil
}

// remedyError keeps the cause for errors.Is/As and adds what the operator should do.
type remedyError struct {
	what, remedy string
	err          error
}

func (e *remedyError) Error() string {
	if e.remedy == "" {
		return e.what + ": " + e.err.Error()
	}
	return e.what + " (" + e.remedy + "): " + e.err.Error()
}

func (e *remedyError) Unwrap() error { return e.err }

// describe names what went wrong with a port and the remedy; go.bug.st/serial errors do neither.
func describe(err error, path string) error {
	var pe *serial.PortError
	if errors.As(err, &pe) {
		switch pe.Code() {
		case serial.PortBusy:
			return &remedyError{"port busy", "another process holds it; see fuser -v " + path, err}
		case serial.PortNotFound:
			return &remedyError{"no such port", "check the path, the cable and that the UART is enabled (dtoverlay on a Pi)", err}
		case serial.PermissionDenied:
			return &remedyError{"permission denied", "add the user to the dialout group or run the rig with access to " + path, err}
		case serial.InvalidSerialPort:
			return &remedyError{"not a serial port", "point --port at a tty device such as /dev/ttyAMA0 or /dev/ttyUSB0", err}
		case serial.InvalidSpeed:
			return &remedyError{"baud rate not supported", "use a rate the UART supports, e.g. 115200", err}
		case serial.PortClosed:
			return &remedyError{"port closed", "the port was closed or the device disconnected; reopen it", err}
		}
		return err
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &remedyError{"no such port", "check the path, the cable and that the UART is enabled (dtoverlay on a Pi)", err}
	case errors.Is(err, fs.ErrPermission):
		return &remedyError{"permission denied", "add the user to the dialout group or run the rig with access to " + path, err}
	case errors.Is(err, syscall.EBUSY):
		return &remedyError{"port busy", "another process holds it; see fuser -v " + path, err}
	case errors.Is(err, syscall.EIO), errors.Is(err, os.ErrClosed):
		return &remedyError{"device gone", "the device or pty was disconnected; check the cable and reopen", err}
	}
	return err
}
