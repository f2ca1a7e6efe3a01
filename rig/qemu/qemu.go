// Package qemu owns the firmware-in-the-loop device: the real STM32 firmware binary
// (firmware/stm32) running in qemu-system-arm's netduinoplus2 machine (STM32F405). It starts QEMU
// paused with USART1 on a pty and the QMP monitor on a unix socket, opens the pty through
// rig/link (go.bug.st/serial, exactly as a real UART) and only then lets the CPU run — bytes QEMU
// writes to a pty nobody holds open are lost, HELLO included. Its reset line is a periph
// gpio.PinIO driving the monitor: Low stops the VM, the rising edge is system_reset + cont.
package qemu

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/link"
)

// Defaults of Config.
const (
	DefaultBinary       = "qemu-system-arm"
	DefaultMachine      = "netduinoplus2"
	DefaultStartTimeout = 10 * time.Second
	DefaultStopTimeout  = 3 * time.Second
	uartID              = "uart0"
)

// UID mailbox of the firmware (firmware/stm32/src/board.h): netduinoplus2 maps no UID ROM at
// 0x1FFF7A10, so the rig programs the device's UID here, the way a factory programs the real one.
const (
	uidMailbox      = 0x20020000
	uidMailboxMagic = 0x44495551 // "QUID"
)

// ErrNotInstalled is returned by Start when the QEMU binary is not found.
var ErrNotInstalled = errors.New("qemu: qemu-system-arm not found (apt-get install qemu-system-arm)")

// Config of one emulated board.
type Config struct {
	Image   string        // firmware ELF (make firmware → firmware/stm32/build/fw.elf)
	UID     *protocol.UID // programmed into the UID mailbox; nil → none: the firmware reports 24 zeros
	Binary  string        // "" → DefaultBinary (looked up in PATH)
	Machine string        // "" → DefaultMachine
	// StartTimeout bounds starting QEMU and reaching its monitor; StopTimeout bounds a clean quit
	// before QEMU is killed. 0 → the defaults.
	StartTimeout, StopTimeout time.Duration
	Log                       *slog.Logger
}

// Machine is one running QEMU board.
type Machine struct {
	cfg     Config
	log     *slog.Logger
	cmd     *exec.Cmd
	dir     string
	qmp     *qmp
	pty     string
	output  bytes.Buffer // QEMU's stdout and stderr, for errors
	outMu   sync.Mutex
	exited  chan struct{}
	exitErr error
	pin     *ResetPin

	mu      sync.Mutex
	running bool // the CPU runs (cont issued, not stopped)
	inReset bool
	closed  bool
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() > 64<<10 {
		return len(p), nil
	}
	return w.b.Write(p)
}

// Start launches QEMU paused (-S) with the firmware and returns once its monitor answers and the
// UART's pty is known. Nothing runs until Connect.
func Start(ctx context.Context, cfg Config) (_ *Machine, err error) {
	if cfg.Binary == "" {
		cfg.Binary = DefaultBinary
	}
	if cfg.Machine == "" {
		cfg.Machine = DefaultMachine
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bin, err := exec.LookPath(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotInstalled, err)
	}
	if st, err := os.Stat(cfg.Image); err != nil || st.IsDir() {
		return nil, fmt.Errorf("qemu: firmware image %q: not a readable file (build it with `make firmware`; the image is firmware/stm32/build/fw.elf)", cfg.Image)
	}
	// QEMU would run any other file as a raw flash image, and the device would just never speak.
	ef, err := elf.Open(cfg.Image)
	if err == nil {
		if ef.Machine != elf.EM_ARM {
			err = fmt.Errorf("machine %v", ef.Machine)
		}
		ef.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("qemu: firmware image %q is not an ARM ELF file (%v); build firmware/stm32 with `make firmware`", cfg.Image, err)
	}
	dir, err := os.MkdirTemp("", "rig-qemu-")
	if err != nil {
		return nil, fmt.Errorf("qemu: create a folder for the monitor socket: %w", err)
	}
	m := &Machine{cfg: cfg, log: log.With("device", "qemu:"+cfg.Machine), dir: dir, exited: make(chan struct{})}
	m.pin = &ResetPin{m: m}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	sock := filepath.Join(dir, "qmp.sock")
	args := []string{
		"-M", cfg.Machine, "-nodefaults", "-display", "none", "-S",
		"-kernel", cfg.Image,
		"-chardev", "pty,id=" + uartID, "-serial", "chardev:" + uartID,
		"-qmp", "unix:" + sock + ",server=on,wait=off",
	}
	if cfg.UID != nil {
		words := []uint32{uidMailboxMagic, binary.LittleEndian.Uint32(cfg.UID[0:]), binary.LittleEndian.Uint32(cfg.UID[4:]), binary.LittleEndian.Uint32(cfg.UID[8:])}
		for i, w := range words {
			args = append(args, "-device", fmt.Sprintf("loader,addr=0x%x,data=0x%08x,data-len=4", uidMailbox+4*i, w))
		}
	}
	m.cmd = exec.Command(bin, args...)
	dieWithParent(m.cmd)
	w := lockedWriter{&m.outMu, &m.output}
	m.cmd.Stdout, m.cmd.Stderr = w, w
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("qemu: start %s: %w", bin, err)
	}
	go func() {
		m.exitErr = m.cmd.Wait()
		close(m.exited)
	}()
	m.log.Debug("qemu started", "pid", m.cmd.Process.Pid, "args", strings.Join(args, " "))

	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	// QEMU creates the socket while it starts; poll for it, giving up if QEMU exits.
	for {
		if m.qmp, err = dialQMP(ctx, sock); err == nil {
			break
		}
		select {
		case <-m.exited:
			return nil, fmt.Errorf("qemu: %s exited while starting (%v): %s", cfg.Machine, m.exitErr, m.Output())
		case <-ctx.Done():
			return nil, fmt.Errorf("qemu: monitor socket %s did not answer: %v (QEMU said: %s)", sock, err, m.Output())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if m.pty, err = m.uartPath(ctx); err != nil {
		return nil, err
	}
	m.log.Info("qemu board ready, paused", "port", m.pty)
	return m, nil
}

// uartPath asks the monitor which pty QEMU allocated for USART1.
func (m *Machine) uartPath(ctx context.Context) (string, error) {
	raw, err := m.qmp.command(ctx, "query-chardev", nil)
	if err != nil {
		return "", fmt.Errorf("qemu: %w", err)
	}
	var devs []struct{ Label, Filename string }
	if err := json.Unmarshal(raw, &devs); err != nil {
		return "", fmt.Errorf("qemu: query-chardev: %w", err)
	}
	for _, d := range devs {
		if d.Label == uartID {
			if p, ok := strings.CutPrefix(d.Filename, "pty:"); ok {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("qemu: no pty for chardev %s in %s", uartID, raw)
}

// PortPath returns the pty of USART1, e.g. /dev/pts/7.
func (m *Machine) PortPath() string { return m.pty }

// Output returns what QEMU printed so far (for errors and logs).
func (m *Machine) Output() string {
	m.outMu.Lock()
	defer m.outMu.Unlock()
	return strings.TrimSpace(m.output.String())
}

// Connect opens USART1's pty through go.bug.st/serial at baud and then lets the CPU run, so the
// first byte the firmware sends (the 0x00 before HELLO) reaches the returned port. The caller
// closes the port.
func (m *Machine) Connect(ctx context.Context, baud int) (link.Port, error) {
	p, err := link.OpenSerial(ctx, m.pty, baud)
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	if err := m.Continue(ctx); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// Continue lets the CPU run (QMP cont).
func (m *Machine) Continue(ctx context.Context) error {
	if _, err := m.qmp.command(ctx, "cont", nil); err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	m.mu.Lock()
	m.running = true
	m.mu.Unlock()
	return nil
}

// holdReset stops the CPU: the board neither sends nor receives, as with NRST held low.
func (m *Machine) holdReset(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.inReset {
		return nil
	}
	if _, err := m.qmp.command(ctx, "stop", nil); err != nil {
		return fmt.Errorf("qemu: hold in reset: %w", err)
	}
	m.inReset = true
	m.log.Info("device held in reset")
	return nil
}

// releaseReset resets the machine and lets it run: the firmware boots again (boot + 1, seq 0).
func (m *Machine) releaseReset(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.inReset {
		return nil
	}
	m.qmp.drainEvents()
	if _, err := m.qmp.command(ctx, "system_reset", nil); err != nil {
		return fmt.Errorf("qemu: release reset: %w", err)
	}
	// system_reset only requests the reset; cont before it happened would run the old state.
	if err := m.qmp.waitEvent(ctx, "RESET"); err != nil {
		return fmt.Errorf("qemu: release reset: %w", err)
	}
	if _, err := m.qmp.command(ctx, "cont", nil); err != nil {
		return fmt.Errorf("qemu: release reset: %w", err)
	}
	m.inReset = false
	m.running = true
	m.log.Info("device released from reset")
	return nil
}

// ResetPin returns the board's NRST line.
func (m *Machine) ResetPin() *ResetPin { return m.pin }

// Close quits QEMU through the monitor, kills it if it has not exited within StopTimeout, and
// removes the monitor socket's folder. Safe to call more than once.
func (m *Machine) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	var errs []error
	if m.cmd != nil && m.cmd.Process != nil {
		if m.qmp != nil {
			ctx, cancel := context.WithTimeout(context.Background(), m.cfg.StopTimeout)
			m.qmp.command(ctx, "quit", nil) // QEMU may close the socket before replying
			cancel()
		}
		select {
		case <-m.exited:
		case <-time.After(m.cfg.StopTimeout):
			m.log.Warn("qemu did not quit; killing it", "pid", m.cmd.Process.Pid)
			m.cmd.Process.Kill()
			select {
			case <-m.exited:
			case <-time.After(m.cfg.StopTimeout):
				errs = append(errs, fmt.Errorf("qemu: pid %d survived SIGKILL for %s", m.cmd.Process.Pid, m.cfg.StopTimeout))
			}
		}
	}
	if m.qmp != nil {
		m.qmp.close()
	}
	if m.dir != "" {
		errs = append(errs, os.RemoveAll(m.dir))
	}
	return errors.Join(errs...)
}
