package qemu

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/lines"
	"github.com/pathrig/rig/rig/link"
	"periph.io/x/conn/v3/gpio"
)

// session reads a board's frames and sends it commands, accounting every boot's HELLO and
// TELEMETRY as received: each boot's seq 0, 1, 2, ... with nothing missing (a bad frame or a gap
// fails the test).
type session struct {
	t    *testing.T
	r    *rx
	seen map[uint32]*bootSeen
	cur  uint32
	req  uint32
}

type bootSeen struct {
	hello     protocol.Frame
	cause     protocol.ResetCause
	telemetry uint32 // TELEMETRY frames received in that boot
	lastTime  uint32 // device_time_ms of the last one
}

func newSession(t *testing.T, p link.Port) *session {
	return &session{t: t, r: &rx{t: t, p: p}, seen: map[uint32]*bootSeen{}, req: 500}
}

// port switches to the port of a new power-on, keeping the accounting.
func (s *session) port(p link.Port) { s.r = &rx{t: s.t, p: p} }

func (s *session) account(w wireFrame) {
	s.t.Helper()
	agree(s.t, w)
	switch w.f.Type {
	case protocol.TypeHello:
		h, err := protocol.ParseHello(w.f.Body)
		if err != nil {
			s.t.Fatal(err)
		}
		if _, dup := s.seen[w.f.Boot]; dup || w.f.Seq != 0 || h.UID != testUID {
			s.t.Fatalf("HELLO boot %d seq %d uid %s: boot seen before, seq not 0, or not the programmed UID", w.f.Boot, w.f.Seq, h.UID)
		}
		s.seen[w.f.Boot] = &bootSeen{hello: w.f, cause: h.ResetCause}
		s.cur = w.f.Boot
	case protocol.TypeTelemetry:
		b := s.seen[w.f.Boot]
		if b == nil || w.f.Boot != s.cur || w.f.Seq != b.telemetry {
			s.t.Fatalf("TELEMETRY boot %d seq %d, want boot %d seq %d", w.f.Boot, w.f.Seq, s.cur, s.seen[s.cur].telemetry)
		}
		b.telemetry++
		b.lastTime = w.f.DeviceTimeMs
	}
}

// recv reads frames, accounting each, until one of type ty.
func (s *session) recv(ty protocol.Type) protocol.Frame {
	s.t.Helper()
	for {
		w := s.r.next(5 * time.Second)
		s.account(w)
		if w.f.Type == ty {
			return w.f
		}
	}
}

// telemetry reads until the current boot has sent n TELEMETRY frames and returns the last.
func (s *session) telemetry(n uint32) protocol.Frame {
	s.t.Helper()
	var f protocol.Frame
	for s.seen[s.cur].telemetry < n {
		f = s.recv(protocol.TypeTelemetry)
	}
	return f
}

// do sends a command and returns its RESPONSE, which must have the status given.
func (s *session) do(c protocol.Command, status protocol.Status) (protocol.Frame, protocol.Response) {
	s.t.Helper()
	s.req++
	command(s.t, s.r.p, s.req, c)
	f := s.recv(protocol.TypeResponse)
	rsp, err := protocol.ParseResponse(f.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	if rsp.ReqSeq != s.req || rsp.Op != c.Op || rsp.Status != status {
		s.t.Fatalf("%s %x: response %+v, want req_seq %d status %s", c.Op, c.Args, rsp, s.req, status)
	}
	return f, rsp
}

func (s *session) interval() uint16 {
	s.t.Helper()
	_, rsp := s.do(protocol.GetIntervalCommand(), protocol.StatusOK)
	ms, err := protocol.ParseInterval(rsp.Data)
	if err != nil {
		s.t.Fatal(err)
	}
	return ms
}

func (s *session) bootStats(boot uint32) protocol.BootStats {
	s.t.Helper()
	_, rsp := s.do(protocol.BootStatsCommand(boot), protocol.StatusOK)
	bs, err := protocol.ParseBootStats(rsp.Data)
	if err != nil {
		s.t.Fatal(err)
	}
	return bs
}

// drain reads what is left on a port whose board lost power, accounting the whole frames, until
// the port fails (the pty's other end is gone) or stays silent for quiet. It returns how many
// bytes it read and the read error that ended it, if any.
func (s *session) drain(quiet time.Duration) (int, error) {
	s.t.Helper()
	total := 0
	last := time.Now()
	for time.Since(last) < quiet {
		n, err := s.r.p.Read(s.r.buf[:])
		if err != nil {
			return total, err
		}
		if n == 0 {
			continue
		}
		total += n
		last = time.Now()
		for _, b := range s.r.buf[:n] {
			if b == 0 && len(s.r.raw) == 0 {
				continue
			}
			s.r.raw = append(s.r.raw, b)
			s.r.dec.Feed([]byte{b}, func(f protocol.Frame, err error) {
				if err != nil {
					s.t.Fatalf("bad frame %x (%v) before the power cut", s.r.raw, err)
				}
				s.account(wireFrame{f: f, wire: append([]byte(nil), s.r.raw...)})
				s.r.raw = s.r.raw[:0]
			})
		}
	}
	return total, nil
}

// TestPowerCycle cuts the QEMU board's power while telemetry flows and restores it: the old port
// goes silent; on the new port the firmware boots with boot + 1 and reset cause power-on, its
// boot history (BOOT_STATS of the boot the cut ended = the frames received in it, ± the frame the
// cut caught on the wire) and clock skew intact, and its RAM state (the telemetry interval) back
// to the firmware default. A reset through the line afterwards still says unknown and counts on
// from the restored block, which QEMU does not write again.
func TestPowerCycle(t *testing.T) {
	m, p := board(t, &testUID)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := newSession(t, p)

	s.recv(protocol.TypeHello)
	b0 := s.cur
	if s.seen[b0].cause != protocol.ResetPowerOn {
		t.Fatalf("first HELLO reset cause %s, want power_on", s.seen[b0].cause)
	}
	const skew = 10 * time.Minute
	s.do(protocol.ClockSkewCommand(skew), protocol.StatusOK)
	s.do(protocol.SetIntervalCommand(10), protocol.StatusOK)
	if got := s.interval(); got != 10 {
		t.Fatalf("GET_INTERVAL = %d after SET_INTERVAL 10", got)
	}
	s.telemetry(s.seen[b0].telemetry + 20)

	oldPath, oldProc := m.PortPath(), m.p
	if oldPath != p.Name() {
		t.Fatalf("PortPath %s, the port opened is %s", oldPath, p.Name())
	}
	// As the rig cuts the power (rig/dut with its relay): the CPU halts first and what the UART
	// already sent is read before the VM goes, since a pty's hangup flushes what nobody read.
	if err := m.Halt(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.drain(200 * time.Millisecond); err != nil {
		t.Fatalf("drain before the cut: %v", err)
	}
	cut := time.Now()
	if err := m.PowerOff(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("PowerOff took %s", time.Since(cut).Round(time.Millisecond))
	select {
	case <-oldProc.exited:
	default:
		t.Fatal("PowerOff returned with the QEMU process still running")
	}
	if m.Powered() || m.PortPath() != "" {
		t.Fatalf("after PowerOff: Powered %v, PortPath %q; want off and no port", m.Powered(), m.PortPath())
	}
	n, readErr := s.drain(300 * time.Millisecond)
	received := s.seen[b0].telemetry
	t.Logf("old port after the cut: %d bytes left to read, then %v; %d TELEMETRY frames received in boot %d", n, readErr, received, b0)
	if readErr == nil {
		if n, _ := p.Read(s.r.buf[:]); n != 0 {
			t.Fatalf("the old port still delivers bytes after the cut: %x", s.r.buf[:n])
		}
	}
	if err := m.PowerOff(ctx); err != nil {
		t.Fatalf("PowerOff when off: %v, want nil", err)
	}
	if err := m.ResetPin().Out(gpio.Low); err == nil || !strings.Contains(err.Error(), "powered off") {
		t.Fatalf("reset line while off: %v, want an error naming the state", err)
	}
	if _, err := m.Connect(ctx, 115200); err == nil {
		t.Fatal("Connect while off: want an error")
	}

	p2, err := m.PowerOn(ctx, 115200)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	p.Close()
	if !m.Powered() || m.PortPath() != p2.Name() || p2.Name() == oldPath {
		t.Fatalf("after PowerOn: Powered %v, PortPath %q, new port %q, old %q", m.Powered(), m.PortPath(), p2.Name(), oldPath)
	}
	if _, err := m.PowerOn(ctx, 115200); err == nil || !strings.Contains(err.Error(), "already powered") {
		t.Fatalf("PowerOn when on: %v, want an error", err)
	}
	s.port(p2)
	hello := s.recv(protocol.TypeHello)
	if hello.Boot != b0+1 || s.seen[hello.Boot].cause != protocol.ResetPowerOn {
		t.Fatalf("HELLO after the power cycle: boot %d cause %s, want boot %d power_on", hello.Boot, s.seen[hello.Boot].cause, b0+1)
	}
	if min, max := uint32(skew.Milliseconds()), uint32((skew + 5*time.Second).Milliseconds()); hello.DeviceTimeMs < min || hello.DeviceTimeMs > max {
		t.Fatalf("HELLO device_time_ms %d, want the %s skew kept across the cut (%d..%d)", hello.DeviceTimeMs, skew, min, max)
	}
	bs := s.bootStats(b0)
	if bs.Boot != b0 || bs.ResetCause != protocol.ResetPowerOn || bs.TelemetrySent < received || bs.TelemetrySent > received+1 {
		t.Fatalf("BOOT_STATS %d after the power cycle = %+v; %d frames received in that boot (+1 at most: one cut on the wire)", b0, bs, received)
	}
	if got := s.interval(); got != 20 {
		t.Fatalf("GET_INTERVAL after the power cycle = %d, want the firmware default 20 (RAM lost)", got)
	}
	s.telemetry(5)

	// The reset line: the mailbox's power-on was consumed, and the restored block is not written
	// again by the reset (QEMU's loader would): boot + 1 again, unknown as always under QEMU.
	s.do(protocol.SetIntervalCommand(0), protocol.StatusOK) // no frame cut short by the pulse
	sent1 := s.seen[b0+1].telemetry
	if err := (lines.ResetLine{Pin: m.ResetPin()}).Pulse(ctx); err != nil {
		t.Fatal(err)
	}
	s.recv(protocol.TypeHello)
	if s.cur != b0+2 || s.seen[s.cur].cause != protocol.ResetUnknown {
		t.Fatalf("after a reset pulse: boot %d cause %s, want boot %d unknown", s.cur, s.seen[s.cur].cause, b0+2)
	}
	if bs := s.bootStats(b0 + 1); bs.TelemetrySent != sent1 || bs.ResetCause != protocol.ResetPowerOn {
		t.Fatalf("BOOT_STATS %d = %+v, want power_on with %d sent", b0+1, bs, sent1)
	}
	if bs := s.bootStats(b0); bs.TelemetrySent < received || bs.TelemetrySent > received+1 {
		t.Fatalf("BOOT_STATS %d = %+v after the reset, received %d", b0, bs, received)
	}
	t.Logf("boot %d: %d frames received, %d sent by the device's count; then boots %d (power-on) and %d (reset line)", b0, received, bs.TelemetrySent, b0+1, b0+2)

	// Close while powered after a power cycle: no QEMU left, no folder left.
	proc, dir := m.p, m.dir
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-proc.exited:
	default:
		t.Fatal("Close returned with QEMU running")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("machine folder %s after Close: %v", dir, err)
	}
}

// TestPowerOffThenClose: Close in the off state leaves nothing behind, and every transition after
// it is refused with the state named.
func TestPowerOffThenClose(t *testing.T) {
	m, p := board(t, &testUID)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := newSession(t, p)
	s.recv(protocol.TypeHello)
	proc, dir := m.p, m.dir
	if err := m.PowerOff(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the machine folder (saved noinit block) is gone while off: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-proc.exited:
	default:
		t.Fatal("QEMU still running")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("machine folder %s after Close: %v", dir, err)
	}
	if _, err := m.PowerOn(ctx, 115200); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("PowerOn after Close: %v, want an error", err)
	}
	if err := m.PowerOff(ctx); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("PowerOff after Close: %v, want an error", err)
	}
	if m.Powered() {
		t.Fatal("Powered after Close")
	}
}

// TestFirmwareIntervalAndClockSkew: GET_INTERVAL answers what SET_INTERVAL set (0 when stopped)
// and the default after a reset; FAULT CLOCK_SKEW moves device_time_ms by the skew from the next
// frame on, cumulatively, keeps it across a reset; wrong args lengths answer status 2 and change
// nothing.
func TestFirmwareIntervalAndClockSkew(t *testing.T) {
	_, p := board(t, &testUID)
	s := newSession(t, p)
	s.recv(protocol.TypeHello)
	if got := s.interval(); got != 20 {
		t.Fatalf("GET_INTERVAL at boot = %d, want the firmware default 20", got)
	}
	for _, ms := range []uint16{50, 0, 7, 65535, 5} {
		s.do(protocol.SetIntervalCommand(ms), protocol.StatusOK)
		if got := s.interval(); got != ms {
			t.Fatalf("GET_INTERVAL after SET_INTERVAL %d = %d", ms, got)
		}
	}
	s.do(protocol.Command{Op: protocol.OpGetInterval, Args: []byte{0x14, 0}}, protocol.StatusBadArgs)

	const hour = uint32(3_600_000)
	before := s.telemetry(s.seen[s.cur].telemetry + 3)
	s.do(protocol.ClockSkewCommand(time.Hour), protocol.StatusOK)
	after := s.telemetry(s.seen[s.cur].telemetry + 1)
	if after.DeviceTimeMs < before.DeviceTimeMs+hour || after.DeviceTimeMs > before.DeviceTimeMs+hour+2000 {
		t.Fatalf("device_time_ms %d after a +1 h skew, %d before: want a jump of 1 h (+ < 2 s)", after.DeviceTimeMs, before.DeviceTimeMs)
	}
	for _, args := range [][]byte{{0x04}, {0x04, 0xe8, 0x03}, {0x04, 0xe8, 0x03, 0, 0, 0}} {
		s.do(protocol.Command{Op: protocol.OpFault, Args: args}, protocol.StatusBadArgs)
	}
	s.do(protocol.ClockSkewCommand(-90*time.Minute), protocol.StatusOK) // net -30 min: device time wraps below 0
	back := s.telemetry(s.seen[s.cur].telemetry + 1)
	if want := after.DeviceTimeMs - 90*60_000; back.DeviceTimeMs-want > 2000 {
		t.Fatalf("device_time_ms %d after -90 min, want about %d (mod 2^32)", back.DeviceTimeMs, want)
	}
	t.Logf("device_time_ms %d → %d (+1 h) → %d (−90 min)", before.DeviceTimeMs, after.DeviceTimeMs, back.DeviceTimeMs)

	// Kept across a reset (noinit block); the interval is not.
	s.do(protocol.ClockSkewCommand(40*time.Minute), protocol.StatusOK) // net +10 min
	s.do(protocol.FaultCommand(protocol.FaultReset), protocol.StatusOK)
	hello := s.recv(protocol.TypeHello)
	if hello.DeviceTimeMs < 600_000 || hello.DeviceTimeMs > 605_000 {
		t.Fatalf("HELLO after FAULT RESET at device_time_ms %d, want the +10 min skew kept", hello.DeviceTimeMs)
	}
	if got := s.interval(); got != 20 {
		t.Fatalf("GET_INTERVAL after a reset = %d, want the default 20", got)
	}
}
