// Package emulator owns the Go model of the STM32 reference device: it speaks wire protocol v1
// (firmware/PROTOCOL.md) over any io.ReadWriter — the device side of a pty pair or of an
// in-memory pipe — and exposes its NRST line as a periph gpio.PinIO, so the rig drives it exactly
// as it drives the real board. It is the CI stand-in for the firmware and the fleet simulator; it
// keeps its own accounting (what it sent, per boot) for loss and duplicate checks.
package emulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sync"
	"time"

	"github.com/pathrig/rig/firmware/protocol"
)

// Defaults of Config.
const (
	DefaultInterval     = 20 * time.Millisecond
	DefaultWriteTimeout = time.Second
)

// Config describes one emulated device.
type Config struct {
	UID          protocol.UID
	FW           protocol.FWVersion
	Interval     time.Duration       // telemetry period after each boot; 0 → DefaultInterval
	Boot         uint32              // boot counter of the first boot
	ResetCause   protocol.ResetCause // reset cause of the first boot; 0 → power on
	WriteTimeout time.Duration       // bound on one UART write when the link supports deadlines; 0 → DefaultWriteTimeout
	// Sensor returns the reading for a telemetry frame; nil → a deterministic synthetic reading.
	Sensor func(boot, seq uint32) protocol.Telemetry
	// NoReplay makes the device a firmware older than REPLAY (op 0x08): it answers status 1
	// (unknown op), so hosts can be tested against one.
	NoReplay bool
	// CatchUp keeps the period as a dedicated CPU's timer would on a busy host: the frames a late
	// wake-up missed go out back to back, up to maxCatchUp periods late (later is a stall: the
	// period restarts). Off, the device does as the firmware's polled loop does: one frame when
	// late, then the period restarts from now. Benchmarks that offer a path a rate turn it on,
	// so that the host's scheduling does not lower the rate offered.
	CatchUp bool
	Log     *slog.Logger // nil → discard
}

// BootStats is what the device sent during one boot.
type BootStats struct {
	Boot          uint32              `json:"boot"`
	ResetCause    protocol.ResetCause `json:"reset_cause"`
	TelemetrySent uint32              `json:"telemetry_sent"`
}

// Stats is the device's own accounting.
type Stats struct {
	Boot          uint32      `json:"boot"`           // current boot counter
	InReset       bool        `json:"in_reset"`       // NRST held low
	Stalled       bool        `json:"stalled"`        // FAULT STALL active
	TelemetrySent uint32      `json:"telemetry_sent"` // this boot, = next seq
	RxOK          uint32      `json:"rx_ok"`          // valid frames received this boot
	RxBad         uint32      `json:"rx_bad"`         // bad frames received this boot
	TxErrors      uint64      `json:"tx_errors"`      // UART writes that failed or timed out (a frame the host cannot have received whole)
	Replayed      uint64      `json:"replayed"`       // TELEMETRY frames sent again on REPLAY, every boot (not in TelemetrySent)
	Boots         []BootStats `json:"boots"`          // every boot, oldest first; the last is the current one
}

// Device is one emulated STM32. Create it with New, drive its NRST with ResetPin, run it with Run.
type Device struct {
	cfg   Config
	log   *slog.Logger
	pin   *ResetPin
	power *PowerPin

	kick chan struct{} // wakes the transmit loop after a boot or an interval change

	mu          sync.Mutex
	w           io.Writer // the link while Run runs
	powered     bool      // Run has booted the device at least once
	boot        uint32
	resetCause  protocol.ResetCause
	bootedAt    time.Time
	gen         uint64 // boot generation: the receiver drops its partial frame when it changes
	seq         uint32 // seq of the next TELEMETRY frame
	rxOK, rxBad uint32
	interval    time.Duration
	nextDue     time.Time
	inReset     bool
	needHello   bool
	corruptNext bool
	stalled     bool
	txErrors    uint64
	replayed    uint64
	history     []BootStats
	powerOff    bool          // the power line is cut: silent and deaf, RAM lost
	clockSkew   time.Duration // added to device_time_ms (a drifted or stepped RTC)
	sent        sentRing      // the last TELEMETRY frames of this boot, for REPLAY
}

// sentFrame is one TELEMETRY frame as first sent: what REPLAY sends again.
type sentFrame struct {
	seq, timeMs uint32
	body        [protocol.TelemetryLen]byte
}

// sentRing holds the last protocol.ReplayDepth TELEMETRY frames of the current boot, in RAM: a
// boot starts with none. A fixed array, so a fleet of devices costs no allocation per frame.
type sentRing struct {
	frames [protocol.ReplayDepth]sentFrame
	next   int // slot of the next frame
	n      int // frames held
}

func (r *sentRing) add(f sentFrame) {
	r.frames[r.next] = f
	r.next = (r.next + 1) % len(r.frames)
	r.n = min(r.n+1, len(r.frames))
}

// from returns the frames held with seq ≥ from, oldest first.
func (r *sentRing) from(from uint32) []sentFrame {
	var out []sentFrame
	for i := range r.n {
		f := r.frames[(r.next-r.n+i+len(r.frames))%len(r.frames)]
		if f.seq >= from {
			out = append(out, f)
		}
	}
	return out
}

// New returns a powered-off device; Run powers it on.
func New(cfg Config) *Device {
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.ResetCause == protocol.ResetUnknown {
		cfg.ResetCause = protocol.ResetPowerOn
	}
	if cfg.Sensor == nil {
		cfg.Sensor = func(boot, seq uint32) protocol.Telemetry {
			return protocol.Telemetry{TempCentiC: 2150 + int16(seq%64), SupplyMv: 3300 - uint16(seq%16)}
		}
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Device{cfg: cfg, log: log.With("device", cfg.UID.String()), kick: make(chan struct{}, 1)}
	d.pin = &ResetPin{d: d}
	d.power = &PowerPin{d: d}
	return d
}

// ID returns the device id: the UID as 24 lowercase hex digits.
func (d *Device) ID() string { return d.cfg.UID.String() }

// ResetPin returns the device's NRST line.
func (d *Device) ResetPin() *ResetPin { return d.pin }

// Stats returns a snapshot of the device's accounting.
func (d *Device) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Stats{
		Boot: d.boot, InReset: d.inReset, Stalled: d.stalled, TelemetrySent: d.seq,
		RxOK: d.rxOK, RxBad: d.rxBad, TxErrors: d.txErrors, Replayed: d.replayed,
		Boots: append([]BootStats(nil), d.history...),
	}
}

// Run powers the device on and speaks protocol v1 over rw until ctx ends (it then returns nil) or
// the link fails. The first boot carries Config.Boot; calling Run again after it returned is a
// power cycle (boot + 1, reset cause power on).
//
// If rw has SetReadDeadline (the pty master from link.PtyPair, a net.Conn) Run stops its reader
// before returning; otherwise the reader stays blocked in Read until the caller closes rw.
func (d *Device) Run(ctx context.Context, rw io.ReadWriter) error {
	d.mu.Lock()
	if d.w != nil {
		d.mu.Unlock()
		return errors.New("emulator: Run called while the device is already running; use one Run per device")
	}
	d.w = rw
	if !d.powered {
		d.powered = true
		d.bootLocked(d.cfg.Boot, d.cfg.ResetCause)
	} else {
		d.bootLocked(d.boot+1, protocol.ResetPowerOn)
	}
	d.mu.Unlock()
	d.log.Info("device powered on", "boot", d.Stats().Boot)

	defer func() {
		d.mu.Lock()
		d.w = nil
		d.mu.Unlock()
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rxDone := make(chan error, 1)
	go func() { rxDone <- d.receive(ctx, rw) }()

	_, deadlines := rw.(interface{ SetReadDeadline(time.Time) error })
	txErr := d.transmit(ctx, rxDone)
	cancel()
	if txErr != nil {
		if deadlines {
			<-rxDone
		}
		return txErr
	}
	if deadlines {
		return <-rxDone
	}
	return nil
}

// transmit sends HELLO after each boot and TELEMETRY when due, until ctx ends or the receiver fails.
func (d *Device) transmit(ctx context.Context, rxDone chan error) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.mu.Lock()
		wait := d.serviceLocked(time.Now())
		d.mu.Unlock()
		timer.Stop()
		var tick <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-rxDone:
			rxDone <- err // Run reads it again
			if err != nil {
				return err
			}
			return nil
		case <-d.kick:
		case <-tick:
		}
	}
}

// maxCatchUp is, with Config.CatchUp, how many periods late the telemetry timer may be served
// before the lateness counts as a stall: within it the missed frames go out back to back, beyond
// it the period restarts now.
const maxCatchUp = 8

// serviceLocked sends what is due and returns how long until the next telemetry (-1: none due).
func (d *Device) serviceLocked(now time.Time) time.Duration {
	if d.inReset || d.powerOff || d.stalled || d.w == nil {
		return -1
	}
	if d.needHello {
		d.needHello = false
		hello := protocol.Hello{UID: d.cfg.UID, FW: d.cfg.FW, ResetCause: d.resetCause}
		// A lone 0x00 first: it terminates whatever partial frame the reset cut short at the receiver.
		d.sendLocked(protocol.NewFrame(protocol.TypeHello, d.boot, d.seq, d.uptimeLocked(now), hello.Marshal()), []byte{protocol.Delimiter})
	}
	if d.interval <= 0 {
		return -1
	}
	if !now.Before(d.nextDue) {
		if d.cfg.CatchUp && now.Sub(d.nextDue) > maxCatchUp*d.interval {
			d.nextDue = now // a stall, not a late wake-up: no burst
		}
		for {
			body := d.cfg.Sensor(d.boot, d.seq).Marshal()
			f := protocol.NewFrame(protocol.TypeTelemetry, d.boot, d.seq, d.uptimeLocked(now), body)
			held := sentFrame{seq: f.Seq, timeMs: f.DeviceTimeMs}
			copy(held.body[:], body)
			d.sent.add(held) // kept even when corrupted or lost: REPLAY sends it again, whole
			d.seq++          // consumed even if the write fails: the device believes it sent it
			d.history[len(d.history)-1].TelemetrySent = d.seq
			bad := d.corruptNext
			d.corruptNext = false
			ok := d.writeLocked(f, nil, bad)
			d.nextDue = d.nextDue.Add(d.interval)
			if !d.cfg.CatchUp || !ok || now.Before(d.nextDue) {
				break // a failed write ends a catch-up: the next could block as long again
			}
		}
		if !now.Before(d.nextDue) {
			d.nextDue = now.Add(d.interval) // resume at the period, not in a burst (as the firmware)
		}
	}
	return d.nextDue.Sub(now)
}

func (d *Device) uptimeLocked(now time.Time) uint32 {
	return uint32((now.Sub(d.bootedAt) + d.clockSkew).Milliseconds())
}

// SkewClock steps the device clock by delta (negative: back) from now on, as a drifting or
// mis-set RTC would; the skew is cumulative and survives resets and power cuts (the firmware keeps
// it in its backup domain). FAULT CLOCK_SKEW over the link does the same. device_time_ms is the
// device's word only: the rig must account for telemetry without trusting it.
func (d *Device) SkewClock(delta time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.skewLocked(delta)
}

func (d *Device) skewLocked(delta time.Duration) {
	d.clockSkew += delta
	d.log.Info("device clock skewed", "delta", delta, "total", d.clockSkew)
}

// intervalMs is the telemetry period as GET_INTERVAL reports it: whole ms, saturated to the u16
// the protocol carries (an emulator configured beyond 65.535 s reports 65535), and never 0 for a
// running period shorter than 1 ms (0 means stopped).
func intervalMs(p time.Duration) uint16 {
	switch ms := p.Milliseconds(); {
	case p <= 0:
		return 0
	case ms < 1:
		return 1
	case ms > math.MaxUint16:
		return math.MaxUint16
	default:
		return uint16(ms)
	}
}

// sendLocked writes one frame (after prefix) in a single Write, so that other writers on the same
// pty (the rig's UART noise injection) land between frames, never inside one.
func (d *Device) sendLocked(f protocol.Frame, prefix []byte) { _ = d.writeLocked(f, prefix, false) }

// writeLocked is sendLocked with the CRC inverted when badCRC (FAULT CORRUPT_CRC).
func (d *Device) writeLocked(f protocol.Frame, prefix []byte, badCRC bool) (ok bool) {
	if d.inReset || d.powerOff || d.stalled || d.w == nil {
		return false
	}
	wire, err := protocol.AppendEncode(prefix, f)
	if badCRC {
		var bad []byte
		bad, err = protocol.EncodeBadCRC(f)
		wire = append(prefix, bad...)
	}
	if err != nil {
		d.log.Error("emulator: encode frame", "err", err)
		return false
	}
	if wd, ok := d.w.(interface{ SetWriteDeadline(time.Time) error }); ok {
		wd.SetWriteDeadline(time.Now().Add(d.cfg.WriteTimeout))
	}
	if _, err := d.w.Write(wire); err != nil {
		// A real UART never blocks: the bytes leave whether or not anyone listens. Count it and go on.
		d.txErrors++
		d.log.Debug("emulator: UART write failed; frame lost on the line", "type", f.Type, "seq", f.Seq, "err", err)
		return false
	}
	return true
}

// bootLocked starts a boot: RAM state cleared, HELLO pending.
func (d *Device) bootLocked(boot uint32, cause protocol.ResetCause) {
	d.boot = boot
	d.resetCause = cause
	d.bootedAt = time.Now()
	d.gen++
	d.seq, d.rxOK, d.rxBad = 0, 0, 0
	d.interval = d.cfg.Interval
	d.nextDue = d.bootedAt.Add(d.interval)
	d.needHello = true
	d.corruptNext, d.stalled = false, false
	d.sent = sentRing{} // RAM: the frames of the last boot are gone
	d.history = append(d.history, BootStats{Boot: boot, ResetCause: cause})
	d.wake()
}

func (d *Device) wake() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// receive reads the link, decodes frames and answers commands.
func (d *Device) receive(ctx context.Context, r io.Reader) error {
	rd, deadlines := r.(interface{ SetReadDeadline(time.Time) error })
	var dec protocol.Decoder
	var gen uint64
	buf := make([]byte, 512)
	if deadlines {
		// Block until data, and let the context's end wake the read (a past deadline) instead of
		// polling: a fleet of 10,000 devices polling twenty times a second keeps two cores busy.
		rd.SetReadDeadline(time.Time{})
		stop := context.AfterFunc(ctx, func() { rd.SetReadDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	for {
		if ctx.Err() != nil {
			return nil
		}
		n, err := r.Read(buf)
		if n > 0 {
			d.mu.Lock()
			if d.gen != gen { // rebooted: the partial frame in RAM is gone
				gen = d.gen
				dec.Reset()
			}
			if !d.inReset && !d.powerOff {
				dec.Feed(buf[:n], d.handleLocked)
			}
			d.mu.Unlock()
		}
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			rd.SetReadDeadline(time.Time{}) // not the context's: read on
			return nil
		default:
			return fmt.Errorf("emulator: device %s: read UART: %w", d.cfg.UID, err)
		}
	}
}

// handleLocked counts one received frame and answers a COMMAND.
func (d *Device) handleLocked(f protocol.Frame, err error) {
	if err != nil {
		d.rxBad++
		d.log.Debug("emulator: bad frame received", "reason", protocol.Reason(err))
		return
	}
	if f.Type != protocol.TypeCommand {
		d.rxBad++ // valid, but not a frame a device accepts
		return
	}
	d.rxOK++
	cmd, _ := protocol.ParseCommand(f.Body) // the decoder checked the body length
	rsp := protocol.Response{ReqSeq: f.Seq, Op: cmd.Op}
	var after func()
	rsp.Status = cmd.Check()
	if cmd.Op == protocol.OpReplay && d.cfg.NoReplay {
		rsp.Status = protocol.StatusUnknownOp
	}
	if rsp.Status == protocol.StatusOK {
		switch cmd.Op {
		case protocol.OpPing:
		case protocol.OpIdentify:
			rsp.Data = protocol.Identity{UID: d.cfg.UID, FW: d.cfg.FW}.Marshal()
		case protocol.OpBootStats:
			boot, _ := cmd.BootOf()
			rsp.Status = protocol.StatusBadArgs // a boot the device does not remember
			for _, h := range d.history {
				if h.Boot == boot {
					rsp.Status = protocol.StatusOK
					rsp.Data = protocol.BootStats{Boot: h.Boot, ResetCause: h.ResetCause, TelemetrySent: h.TelemetrySent}.Marshal()
				}
			}
		case protocol.OpStats:
			rsp.Data = protocol.DeviceStats{Boot: d.boot, TelemetrySent: d.seq, RxOK: d.rxOK, RxBad: d.rxBad}.Marshal()
		case protocol.OpGetInterval:
			rsp.Data = protocol.MarshalInterval(intervalMs(d.interval))
		case protocol.OpReplay:
			boot, from, _ := cmd.ReplayOf()
			var again []sentFrame
			if boot == d.boot {
				again = d.sent.from(from)
			}
			rsp.Data = protocol.MarshalReplay(uint16(len(again)))
			after = func() {
				// Right after the RESPONSE, under the same lock: no new frame comes between.
				d.replayed += uint64(len(again))
				for _, h := range again {
					d.sendLocked(protocol.NewFrame(protocol.TypeTelemetry, d.boot, h.seq, h.timeMs, h.body[:]), nil)
				}
			}
		case protocol.OpSetInterval:
			ms, _ := cmd.IntervalMs()
			after = func() {
				d.interval = time.Duration(ms) * time.Millisecond
				d.nextDue = time.Now().Add(d.interval)
				d.wake()
			}
		case protocol.OpFault:
			code, _ := cmd.Fault()
			switch code {
			case protocol.FaultNone:
				after = func() {
					d.corruptNext, d.stalled = false, false
					d.wake() // a stalled transmit loop waits for nothing else
				}
			case protocol.FaultCorruptCRC:
				after = func() { d.corruptNext = true }
			case protocol.FaultStall:
				after = func() { d.stalled = true }
			case protocol.FaultReset:
				after = func() {
					d.log.Info("device reset by FAULT RESET", "boot", d.boot+1)
					d.bootLocked(d.boot+1, protocol.ResetSoftware)
				}
			case protocol.FaultClockSkew:
				skew, _ := cmd.ClockSkew()
				after = func() { d.skewLocked(skew) }
			default:
				rsp.Status = protocol.StatusBadArgs
			}
		}
	}
	if rsp.Status != protocol.StatusOK {
		rsp.Data = nil
	}
	d.sendLocked(protocol.NewFrame(protocol.TypeResponse, d.boot, d.seq, d.uptimeLocked(time.Now()), rsp.Marshal()), nil)
	if after != nil {
		after()
	}
}

// setReset is the NRST level: low holds the device in reset (silent, deaf); the rising edge boots it.
func (d *Device) setReset(low bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case low && !d.inReset:
		d.inReset = true
		d.log.Info("device held in reset", "boot", d.boot)
	case !low && d.inReset:
		d.inReset = false
		if d.powered {
			d.bootLocked(d.boot+1, protocol.ResetPin)
			d.log.Info("device released from reset", "boot", d.boot)
		}
	}
}

// setPower is the supply: off silences the device at once (a frame being written is cut short
// on the wire — the emulator writes whole frames, so it is simply not sent); on boots it with
// reset cause power on. The boot history survives (backup SRAM on the board).
func (d *Device) setPower(on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case !on && !d.powerOff:
		d.powerOff = true
		d.log.Info("device power cut", "boot", d.boot)
	case on && d.powerOff:
		d.powerOff = false
		if d.powered && !d.inReset {
			d.bootLocked(d.boot+1, protocol.ResetPowerOn)
			d.log.Info("device power restored", "boot", d.boot)
		}
	}
}

func (d *Device) poweredNow() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.powerOff
}

func (d *Device) inResetNow() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inReset
}
