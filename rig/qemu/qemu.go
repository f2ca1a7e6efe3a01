// Package qemu owns the firmware-in-the-loop device: the real STM32 firmware binary
// (firmware/stm32) running in qemu-system-arm's netduinoplus2 machine (STM32F405). It starts QEMU
// paused with USART1 on a pty and the QMP monitor on a unix socket, opens the pty through
// rig/link (go.bug.st/serial, exactly as a real UART) and only then lets the CPU run — bytes QEMU
// writes to a pty nobody holds open are lost, HELLO included. Its reset line is a periph
// gpio.PinIO driving the monitor: Low stops the VM, the rising edge is system_reset + cont. Its
// power line is PowerOff/PowerOn: QEMU stopped and started again with RAM lost except the
// firmware's noinit block, which the board keeps in its battery-backed backup domain.
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

// Mailbox of the firmware (firmware/stm32/src/board.h), past the F405's 128 KiB of SRAM:
// netduinoplus2 maps no UID ROM at 0x1FFF7A10 and models no RCC reset flags, so the rig programs
// the device's UID there, the way a factory programs the real one, and, at each power-on, the
// reset cause the silicon would have flagged.
const (
	uidMailbox      = 0x20020000
	uidMailboxMagic = 0x44495551 // "QUID"
	resetMailbox    = uidMailbox + 16
	resetMailboxTag = 0x52534300 // the low byte carries the cause
)

// Symbols of the firmware ELF that bound its noinit block (firmware/stm32/stm32f405.ld).
const (
	noinitSymbol    = "board_noinit"
	noinitEndSymbol = "board_noinit_end"
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

// Machine is one QEMU board: powered from Start until PowerOff, again from PowerOn, until Close.
// Each power-on is a new QEMU process with a new pty.
type Machine struct {
	cfg    Config
	log    *slog.Logger
	bin    string
	args   []string // QEMU's arguments for every power-on: firmware, UID mailbox, pty, monitor
	dir    string   // monitor sockets and saved noinit blocks; removed by Close
	block  noinitBlock
	output bytes.Buffer // QEMU's stdout and stderr, for errors
	outMu  sync.Mutex
	pin    *ResetPin

	life sync.Mutex // one lifecycle transition at a time: PowerOff, PowerOn, Close

	mu      sync.Mutex
	p       *process // the QEMU process while powered; nil while off
	saved   []byte   // the noinit block PowerOff saved, for PowerOn
	powerOn int      // power-ons so far (Start is the first), to name files
	running bool     // the CPU runs (cont issued, not stopped)
	inReset bool
	closed  bool
}

// process is one QEMU process: one power-on of the board.
type process struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error // set before exited is closed
	qmp     *qmp
	pty     string
}

// noinitBlock is where the firmware keeps what survives a reset and a power cut (boot counter,
// boot history, clock skew). size 0: the image has none, and a power cut loses all of RAM.
type noinitBlock struct{ addr, size uint32 }

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
	var block noinitBlock
	ef, err := elf.Open(cfg.Image)
	if err == nil {
		if ef.Machine != elf.EM_ARM {
			err = fmt.Errorf("machine %v", ef.Machine)
		} else {
			block, err = findNoinit(ef)
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
	m := &Machine{cfg: cfg, log: log.With("device", "qemu:"+cfg.Machine), bin: bin, dir: dir, block: block}
	m.pin = &ResetPin{m: m}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	m.args = []string{
		"-M", cfg.Machine, "-nodefaults", "-display", "none", "-S",
		"-kernel", cfg.Image,
		"-chardev", "pty,id=" + uartID, "-serial", "chardev:" + uartID,
		"-qmp", "unix:" + m.qmpSocket() + ",server=on,wait=off",
	}
	if cfg.UID != nil {
		words := []uint32{uidMailboxMagic, binary.LittleEndian.Uint32(cfg.UID[0:]), binary.LittleEndian.Uint32(cfg.UID[4:]), binary.LittleEndian.Uint32(cfg.UID[8:])}
		for i, w := range words {
			// -device loader writes these again on every system_reset: fine for constants.
			m.args = append(m.args, "-device", fmt.Sprintf("loader,addr=0x%x,data=0x%08x,data-len=4", uidMailbox+4*i, w))
		}
	}
	p, err := m.launch(ctx, nil)
	if err != nil {
		return nil, err
	}
	m.p, m.powerOn = p, 1
	m.log.Info("qemu board ready, paused", "port", p.pty)
	return m, nil
}

// findNoinit reads the bounds of the firmware's noinit block from its ELF symbols.
func findNoinit(ef *elf.File) (noinitBlock, error) {
	syms, err := ef.Symbols()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return noinitBlock{}, err
	}
	addr := map[string]uint64{}
	for _, s := range syms {
		if s.Name == noinitSymbol || s.Name == noinitEndSymbol {
			addr[s.Name] = s.Value
		}
	}
	start, ok := addr[noinitSymbol]
	if !ok {
		return noinitBlock{}, nil // nothing survives a power cut
	}
	end, ok := addr[noinitEndSymbol]
	switch {
	case !ok:
		return noinitBlock{}, fmt.Errorf("symbol %s without %s: the noinit block has no size", noinitSymbol, noinitEndSymbol)
	case end <= start || end-start > 64<<10 || start%4 != 0 || (end-start)%4 != 0 || end > 1<<32:
		return noinitBlock{}, fmt.Errorf("noinit block 0x%x..0x%x (%s..%s) is not a word-aligned block of at most 64 KiB", start, end, noinitSymbol, noinitEndSymbol)
	}
	return noinitBlock{addr: uint32(start), size: uint32(end - start)}, nil
}

func (m *Machine) qmpSocket() string { return filepath.Join(m.dir, "qmp.sock") }

// launch starts one QEMU process paused (-S) with m.args and extra, and returns it once its
// monitor answers and its UART's pty is known. On failure nothing is left running.
func (m *Machine) launch(ctx context.Context, extra []string) (_ *process, err error) {
	sock := m.qmpSocket()
	os.Remove(sock) // a previous power-on's; QEMU would replace it, but a dial could race that
	args := append(append([]string(nil), m.args...), extra...)
	p := &process{cmd: exec.Command(m.bin, args...), exited: make(chan struct{})}
	dieWithParent(p.cmd)
	w := lockedWriter{&m.outMu, &m.output}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("qemu: start %s: %w", m.bin, err)
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		close(p.exited)
	}()
	defer func() {
		if err != nil {
			m.stop(p)
		}
	}()
	m.log.Debug("qemu started", "pid", p.cmd.Process.Pid, "args", strings.Join(args, " "))

	ctx, cancel := context.WithTimeout(ctx, m.cfg.StartTimeout)
	defer cancel()
	// QEMU creates the socket while it starts; poll for it, giving up if QEMU exits.
	for {
		if p.qmp, err = dialQMP(ctx, sock); err == nil {
			break
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("qemu: %s exited while starting (%v): %s", m.cfg.Machine, p.exitErr, m.Output())
		case <-ctx.Done():
			return nil, fmt.Errorf("qemu: monitor socket %s did not answer: %v (QEMU said: %s)", sock, err, m.Output())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if p.pty, err = uartPath(ctx, p.qmp); err != nil {
		return nil, err
	}
	return p, nil
}

// uartPath asks the monitor which pty QEMU allocated for USART1.
func uartPath(ctx context.Context, q *qmp) (string, error) {
	raw, err := q.command(ctx, "query-chardev", nil)
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

// PortPath returns the pty of USART1, e.g. /dev/pts/7: a new one after every PowerOn, "" while the
// board is powered off.
func (m *Machine) PortPath() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.p == nil {
		return ""
	}
	return m.p.pty
}

// Output returns what QEMU printed so far, over every power-on (for errors and logs).
func (m *Machine) Output() string {
	m.outMu.Lock()
	defer m.outMu.Unlock()
	return strings.TrimSpace(m.output.String())
}

// errOff is the error of an operation that needs the board powered; called with m.mu held.
func (m *Machine) errOff(what string) error {
	if m.closed {
		return fmt.Errorf("qemu: %s: the board is closed", what)
	}
	return fmt.Errorf("qemu: %s: the board is powered off (PowerOn first)", what)
}

// current returns the powered process, or an error naming the state.
func (m *Machine) current(what string) (*process, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.p == nil || m.closed {
		return nil, m.errOff(what)
	}
	return m.p, nil
}

// Connect opens USART1's pty through go.bug.st/serial at baud and then lets the CPU run, so the
// first byte the firmware sends (the 0x00 before HELLO) reaches the returned port. The caller
// closes the port.
func (m *Machine) Connect(ctx context.Context, baud int) (link.Port, error) {
	p, err := m.current("connect")
	if err != nil {
		return nil, err
	}
	port, err := link.OpenSerial(ctx, p.pty, baud)
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	if err := m.Continue(ctx); err != nil {
		port.Close()
		return nil, err
	}
	return port, nil
}

// Continue lets the CPU run (QMP cont).
func (m *Machine) Continue(ctx context.Context) error {
	p, err := m.current("continue")
	if err != nil {
		return err
	}
	if _, err := p.qmp.command(ctx, "cont", nil); err != nil {
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
	if m.p == nil || m.closed {
		return m.errOff("hold in reset")
	}
	if m.inReset {
		return nil
	}
	if _, err := m.p.qmp.command(ctx, "stop", nil); err != nil {
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
	if m.p == nil || m.closed {
		return m.errOff("release reset")
	}
	if !m.inReset {
		return nil
	}
	q := m.p.qmp
	q.drainEvents()
	if _, err := q.command(ctx, "system_reset", nil); err != nil {
		return fmt.Errorf("qemu: release reset: %w", err)
	}
	// system_reset only requests the reset; cont before it happened would run the old state.
	if err := q.waitEvent(ctx, "RESET"); err != nil {
		return fmt.Errorf("qemu: release reset: %w", err)
	}
	if _, err := q.command(ctx, "cont", nil); err != nil {
		return fmt.Errorf("qemu: release reset: %w", err)
	}
	m.inReset = false
	m.running = true
	m.log.Info("device released from reset")
	return nil
}

// ResetPin returns the board's NRST line. While the board is powered off, driving it is an error.
func (m *Machine) ResetPin() *ResetPin { return m.pin }

// Powered reports whether the board is powered: from Start until PowerOff, from PowerOn until the
// next PowerOff; never after Close.
func (m *Machine) Powered() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.p != nil && !m.closed
}

// PowerOff cuts the board's power: the CPU stops between two instructions, the noinit block
// (boot counter, boot history, clock skew: the backup domain on the real board, kept by its
// battery) is saved through the monitor (pmemsave, into the machine's folder), and QEMU quits —
// killed if it has not exited within StopTimeout. All other RAM is lost. The port the caller holds
// goes dead (reads fail); the caller closes it. Already off: nil. If the block cannot be saved
// (QEMU died on its own) the board still ends up off, the error says so, and the next PowerOn
// boots with the block cleared, as after a dead backup battery.
func (m *Machine) PowerOff(ctx context.Context) error {
	m.life.Lock()
	defer m.life.Unlock()
	m.mu.Lock() // waits for a reset-line command in flight
	if m.closed {
		m.mu.Unlock()
		return m.errOff("power off")
	}
	p := m.p
	if p == nil {
		m.mu.Unlock()
		return nil
	}
	m.p, m.saved, m.running, m.inReset = nil, nil, false, false
	m.mu.Unlock()

	saved, saveErr := m.saveNoinit(ctx, p)
	stopErr := m.stop(p)
	m.mu.Lock()
	m.saved = saved
	m.mu.Unlock()
	if saveErr != nil {
		saveErr = fmt.Errorf("qemu: power off: the noinit block was not saved, the next PowerOn boots with it cleared: %w", saveErr)
	}
	m.log.Info("board powered off", "noinit_bytes", len(saved), "port", p.pty)
	return errors.Join(saveErr, stopErr)
}

// Halt stops the CPU (QMP stop) without cutting the power: the board sends nothing more, and what
// its UART already sent can still be read off the pty before PowerOff, whose quit hangs the pty up
// (a hangup flushes the input nobody has read yet).
func (m *Machine) Halt(ctx context.Context) error {
	m.mu.Lock()
	p := m.p
	m.mu.Unlock()
	if p == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.StopTimeout)
	defer cancel()
	if _, err := p.qmp.command(ctx, "stop", nil); err != nil {
		return fmt.Errorf("qemu: halt: %w", err)
	}
	return nil
}

// drainGrace is how long PowerOff waits between stopping the CPU and quitting QEMU, so that a
// reader of the pty takes the UART's last bytes before the hangup flushes them.
const drainGrace = 150 * time.Millisecond

// saveNoinit stops the CPU and reads the noinit block out of the stopped machine.
func (m *Machine) saveNoinit(ctx context.Context, p *process) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.StopTimeout)
	defer cancel()
	if _, err := p.qmp.command(ctx, "stop", nil); err != nil {
		return nil, err
	}
	time.Sleep(drainGrace)
	if m.block.size == 0 {
		return nil, nil
	}
	m.mu.Lock()
	file := filepath.Join(m.dir, fmt.Sprintf("noinit-%d.bin", m.powerOn))
	m.mu.Unlock()
	args := map[string]any{"val": m.block.addr, "size": m.block.size, "filename": file}
	if _, err := p.qmp.command(ctx, "pmemsave", args); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if len(b) != int(m.block.size) {
		return nil, fmt.Errorf("pmemsave wrote %d bytes of 0x%x, want %d", len(b), m.block.addr, m.block.size)
	}
	return b, nil
}

// PowerOn powers the board on again after PowerOff: a new QEMU process, paused, with the same
// firmware and UID mailbox; the noinit block PowerOff saved and the reset cause power-on (for
// HELLO: QEMU has no RCC reset flags) are written into its RAM through QEMU's gdbstub; then its
// new pty is opened through rig/link at baud and the CPU runs, as Start and Connect do. It returns
// the new port (PortPath names it); the caller closes it. An error when the board is not off; on
// an error the board stays off.
func (m *Machine) PowerOn(ctx context.Context, baud int) (_ link.Port, err error) {
	m.life.Lock()
	defer m.life.Unlock()
	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return nil, m.errOff("power on")
	case m.p != nil:
		m.mu.Unlock()
		return nil, errors.New("qemu: power on: the board is already powered (PowerOff first)")
	}
	saved, n := m.saved, m.powerOn+1
	m.mu.Unlock()

	gdbSock := filepath.Join(m.dir, fmt.Sprintf("gdb-%d.sock", n))
	p, err := m.launch(ctx, []string{"-gdb", "unix:" + gdbSock + ",server=on,wait=off"})
	if err != nil {
		return nil, fmt.Errorf("qemu: power on: %w", err)
	}
	defer func() {
		if err != nil {
			m.stop(p)
		}
	}()
	// Written once, before the first instruction: unlike -device loader data, which QEMU writes
	// again on every system_reset and so would roll the block back at the next reset.
	writes := []memWrite{{resetMailbox, binary.LittleEndian.AppendUint32(nil, resetMailboxTag|uint32(protocol.ResetPowerOn))}}
	if saved != nil {
		writes = append(writes, memWrite{m.block.addr, saved})
	}
	if err := gdbWrite(ctx, gdbSock, writes); err != nil {
		return nil, fmt.Errorf("qemu: power on: restore RAM: %w", err)
	}
	port, err := link.OpenSerial(ctx, p.pty, baud)
	if err != nil {
		return nil, fmt.Errorf("qemu: power on: %w", err)
	}
	if _, err := p.qmp.command(ctx, "cont", nil); err != nil {
		port.Close()
		return nil, fmt.Errorf("qemu: power on: %w", err)
	}
	m.mu.Lock()
	m.p, m.powerOn, m.running, m.saved = p, n, true, nil
	m.mu.Unlock()
	m.log.Info("board powered on", "port", p.pty, "noinit_bytes", len(saved))
	return port, nil
}

// stop quits one QEMU process through its monitor and kills it if it has not exited within
// StopTimeout.
func (m *Machine) stop(p *process) error {
	var err error
	if p.qmp != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.StopTimeout)
		p.qmp.command(ctx, "quit", nil) // QEMU may close the socket before replying
		cancel()
	}
	select {
	case <-p.exited:
	case <-time.After(m.cfg.StopTimeout):
		m.log.Warn("qemu did not quit; killing it", "pid", p.cmd.Process.Pid)
		p.cmd.Process.Kill()
		select {
		case <-p.exited:
		case <-time.After(m.cfg.StopTimeout):
			err = fmt.Errorf("qemu: pid %d survived SIGKILL for %s", p.cmd.Process.Pid, m.cfg.StopTimeout)
		}
	}
	if p.qmp != nil {
		p.qmp.close()
	}
	return err
}

// Close quits QEMU if the board is powered (through the monitor, killing it if it has not exited
// within StopTimeout) and removes the machine's folder (monitor sockets, saved noinit blocks).
// Safe to call more than once, and in any state.
func (m *Machine) Close() error {
	m.life.Lock()
	defer m.life.Unlock()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	p := m.p
	m.p, m.saved = nil, nil
	m.mu.Unlock()
	var errs []error
	if p != nil {
		errs = append(errs, m.stop(p))
	}
	if m.dir != "" {
		errs = append(errs, os.RemoveAll(m.dir))
	}
	return errors.Join(errs...)
}
