//go:build linux

package link

import (
	"fmt"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// PtyPair is an emulated UART: a pseudo-terminal made in process. The device side (the pty
// master) is what an emulated device reads and writes; the tty side is opened by path through
// OpenSerial, exactly as the gateway opens /dev/ttyAMA0 — so CI runs the real go.bug.st/serial code.
type PtyPair struct {
	device *os.File // pty master, non-blocking so deadlines and Close unblock reads
	tty    *os.File // the tty side, held open so the pair survives the gateway closing and reopening it
	path   string
}

// NewPtyPair creates a pty pair in raw mode. creack/pty hands out a cooked tty (echo, CR/LF
// translation, ^C as a signal), which would mangle 0x00/0x0a/0x03 and echo the device's own frames
// back to it, so both directions are made raw here, before anything is written.
func NewPtyPair() (*PtyPair, error) {
	master, tty, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("link: create pty pair: %w (is /dev/ptmx available? in a container mount devpts)", err)
	}
	path := tty.Name()
	if err := makeRaw(tty); err != nil {
		master.Close()
		tty.Close()
		return nil, fmt.Errorf("link: pty %s: set raw mode: %w", path, err)
	}
	// creack/pty calls Fd() on the master, which makes it blocking: Go then cannot set deadlines
	// on it and Close does not unblock a Read. Re-open it as a non-blocking, pollable file.
	fd, err := unix.Dup(int(master.Fd()))
	master.Close()
	if err == nil {
		err = unix.SetNonblock(fd, true)
	}
	if err != nil {
		tty.Close()
		return nil, fmt.Errorf("link: pty %s: make the device side pollable: %w", path, err)
	}
	unix.CloseOnExec(fd)
	return &PtyPair{device: os.NewFile(uintptr(fd), "ptmx("+path+")"), tty: tty, path: path}, nil
}

// Device returns the device side (the pty master): the emulator's UART. It supports
// SetReadDeadline and SetWriteDeadline.
func (p *PtyPair) Device() *os.File { return p.device }

// Path returns the tty path the gateway opens with OpenSerial, e.g. /dev/pts/3.
func (p *PtyPair) Path() string { return p.path }

// Close closes both sides.
func (p *PtyPair) Close() error {
	err1 := p.device.Close()
	err2 := p.tty.Close()
	if err1 != nil {
		return fmt.Errorf("link: close pty %s: %w", p.path, err1)
	}
	if err2 != nil {
		return fmt.Errorf("link: close pty %s: %w", p.path, err2)
	}
	return nil
}

// makeRaw applies cfmakeraw(3) to the tty; the termios of a pty pair is shared by both sides.
func makeRaw(f *os.File) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	err = sc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			opErr = err
			return
		}
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF | unix.IXANY
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		t.Cc[unix.VMIN] = 1
		t.Cc[unix.VTIME] = 0
		opErr = unix.IoctlSetTermios(int(fd), unix.TCSETS, t)
	})
	if err != nil {
		return err
	}
	return opErr
}
