// Package relay owns the device's UART on the rig's side of the path. The rig holds the device's
// port (a real UART, QEMU's pty, the emulator's link) and relays it, frame by frame, to the link
// the gateway opens (a pty pair whose tty side the gateway opens through go.bug.st/serial, or an
// in-memory pipe for fleets). Standing there it
//   - taps every frame the device sent, before anything downstream can lose or alter it: the
//     telemetry accounting compares each stored reading with the tapped one (Tap);
//   - injects the UART faults (corruption, garbage, stall, cut) on the gateway's side, the same
//     way for every device kind (link.Noisy);
//   - carries the rig's own protocol session to the device beside the gateway's, keeping each
//     host's RESPONSEs to that host (request ids from protocol.HostBase are the rig's).
//
// Bytes go through whole delimited chunks: a frame is forwarded once its 0x00 has arrived, and
// the rig's commands are written between the gateway's frames, never inside one.
package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/link"
)

// maxChunk bounds a run of bytes without a delimiter: longer runs are garbage and are forwarded
// as they are (the gateway's decoder counts them), so memory stays bounded.
const maxChunk = protocol.MaxEncoded + 1

// HostSide is the gateway's end of the relay.
type HostSide interface {
	io.ReadWriter
	SetReadDeadline(time.Time) error
	// Path is what the gateway opens (a tty path); "" for an in-memory link (use Port).
	Path() string
	// Port is the gateway's open port for an in-memory link; nil for a tty.
	Port() link.Port
	Close() error
}

// Config of a relay.
type Config struct {
	Name string // the device, for logs and errors
	Host HostSide
	Seed uint64 // line-noise randomness
	Log  *slog.Logger
	Now  func() time.Time
}

// Stats counts what the relay carried.
type Stats struct {
	FromDevice     uint64 `json:"from_device_frames"`      // frames the device sent (tapped)
	BadFromDevice  uint64 `json:"from_device_bad"`         // chunks from the device that were not frames
	RigResponses   uint64 `json:"rig_responses"`           // RESPONSEs to the rig's session, kept from the gateway
	FromGateway    uint64 `json:"from_gateway_chunks"`     // chunks the gateway sent the device
	DroppedOff     uint64 `json:"dropped_device_off"`      // gateway chunks dropped while the device had no link
	DroppedCut     uint64 `json:"dropped_line_cut"`        // gateway chunks dropped while the line was cut
	DroppedGateway uint64 `json:"dropped_gateway_overrun"` // device chunks the gateway side did not take in time (an overrun)
	DeviceLinks    uint64 `json:"device_links"`            // device ports attached (power cycles of a QEMU board add one)
	PortErrors     uint64 `json:"device_port_errors"`      // read errors on a device port that was being replaced
}

// Relay is one device's UART relay.
type Relay struct {
	cfg   Config
	log   *slog.Logger
	line  *link.Noisy
	tap   *Tap
	sess  protocol.Session
	wmu   sync.Mutex // one writer on the device port at a time: gateway chunks and rig commands
	mu    sync.Mutex
	dev   link.Port
	gen   uint64    // bumped when dev changes
	going bool      // the device is being powered off: its port may fail, that is no relay failure
	last  time.Time // when bytes last came from the device
	held  bool      // Pause: the device's frames are tapped but no longer forwarded
	deaf  time.Time // the gateway's side timed out: drop without trying until then
	stats Stats
}

// New returns a relay writing to cfg.Host; attach the device with SetDevice and start Run.
func New(cfg Config) *Relay {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Relay{cfg: cfg, log: cfg.Log, line: link.NewNoisy(cfg.Host, cfg.Seed), tap: newTap(cfg.Now)}
	r.line.SetWriteTimeout(gatewayWriteTimeout)
	r.sess = protocol.Session{Base: protocol.HostBase, Name: cfg.Name, Write: r.writeDevice, Timeout: 2 * time.Second}
	return r
}

// Session is the rig's own protocol session with the device.
func (r *Relay) Session() *protocol.Session { return &r.sess }

// Line is the faulty line on the gateway's side (corruption, stall, cut, garbage, injection).
func (r *Relay) Line() *link.Noisy { return r.line }

// Now is the relay's clock (the tap's timestamps).
func (r *Relay) Now() time.Time { return r.cfg.Now() }

// Tap is the record of every frame the device sent.
func (r *Relay) Tap() *Tap { return r.tap }

// Host is the gateway's end.
func (r *Relay) Host() HostSide { return r.cfg.Host }

// Stats returns a snapshot of the counters.
func (r *Relay) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// SetDevice attaches the device's port (nil detaches it: the device is off). The relay does not
// close a port it is given; its owner does.
func (r *Relay) SetDevice(p link.Port) {
	r.mu.Lock()
	r.dev = p
	r.gen++
	r.going = false
	if p != nil {
		r.stats.DeviceLinks++
	}
	r.mu.Unlock()
}

// PoweringOff tells the relay the device is losing its supply: reads keep going (what the device
// still sends before the supply is gone is its telemetry) and a failing port is expected. The
// next SetDevice ends it.
func (r *Relay) PoweringOff() {
	r.mu.Lock()
	r.going = true
	r.mu.Unlock()
}

// Pause stops forwarding the device's frames to the gateway (they are still tapped): a path
// shutting down lets its gateway publish what it has instead of cutting a frame in half.
func (r *Relay) Pause() {
	r.mu.Lock()
	r.held = true
	r.mu.Unlock()
}

// Drained waits until nothing has come from the device for quiet (at most max): what the device
// sent before it stopped has been relayed.
func (r *Relay) Drained(ctx context.Context, quiet, max time.Duration) {
	end := time.Now().Add(max)
	for time.Now().Before(end) && ctx.Err() == nil {
		r.mu.Lock()
		last := r.last
		r.mu.Unlock()
		if r.cfg.Now().Sub(last) >= quiet {
			return
		}
		sleep(ctx, quiet/4)
	}
}

func (r *Relay) device() (link.Port, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dev, r.gen
}

// writeDevice writes one encoded frame to the device, between the gateway's chunks.
func (r *Relay) writeDevice(b []byte) error {
	p, _ := r.device()
	if p == nil {
		return protocol.ErrNoLink
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	_, err := p.Write(b)
	return err
}

// Run relays both directions until ctx ends (nil) or a device port fails while attached.
func (r *Relay) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var errUp, errDown error
	wg.Go(func() {
		errUp = r.fromDevice(ctx)
		cancel()
	})
	errDown = r.fromGateway(ctx) // on this goroutine: one less per device of a fleet
	cancel()
	wg.Wait()
	return errors.Join(errUp, errDown)
}

// fromDevice reads the device's port, taps each frame and forwards it to the gateway's side.
func (r *Relay) fromDevice(ctx context.Context) error {
	buf := make([]byte, 1024)
	chunk := make([]byte, 0, maxChunk)
	var lastGen uint64
	var supGen uint64
	overflow := false // inside a run longer than any frame, until its delimiter
	for ctx.Err() == nil {
		p, gen := r.device()
		if p == nil {
			chunk = chunk[:0]
			sleep(ctx, 5*time.Millisecond)
			continue
		}
		if gen != lastGen {
			lastGen, chunk, overflow = gen, chunk[:0], false // a new link: the old one's partial frame is gone
		}
		n, err := p.Read(buf)
		if n > 0 {
			r.mu.Lock()
			r.last = r.cfg.Now()
			r.mu.Unlock()
		}
		if s, ok := p.(interface{ Generation() uint64 }); ok {
			if g := s.Generation(); g != supGen {
				supGen, chunk, overflow = g, chunk[:0], false // the supervised port reconnected
			}
		}
		for _, b := range buf[:n] {
			chunk = append(chunk, b)
			switch {
			case b == protocol.Delimiter && overflow:
				r.toGateway(chunk) // the end of an overlong run: garbage to the gateway's decoder too
				chunk, overflow = chunk[:0], false
			case b == protocol.Delimiter:
				r.chunkFromDevice(chunk)
				chunk = chunk[:0]
			case len(chunk) >= maxChunk:
				// No frame is this long: forward the run as it is, and everything up to the next
				// delimiter with it, unparsed — the gateway's decoder discards it all the same way.
				if !overflow {
					r.count(func(s *Stats) { s.BadFromDevice++ })
				}
				r.toGateway(chunk)
				chunk, overflow = chunk[:0], true
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.mu.Lock()
			replaced, going := r.gen != gen, r.going
			r.mu.Unlock()
			if replaced || going {
				r.count(func(s *Stats) { s.PortErrors++ })
				sleep(ctx, 5*time.Millisecond)
				continue // a power cycle, not a failure
			}
			return fmt.Errorf("relay: device %s: %w", r.cfg.Name, err)
		}
	}
	return nil
}

func (r *Relay) chunkFromDevice(chunk []byte) {
	var frame *protocol.Frame
	var dec protocol.Decoder
	dec.Feed(chunk, func(f protocol.Frame, err error) {
		if err == nil {
			frame = &f
		}
	})
	if frame == nil {
		if len(chunk) > 1 { // a lone delimiter is a flush, not a bad frame
			r.count(func(s *Stats) { s.BadFromDevice++ })
		}
	} else {
		r.count(func(s *Stats) { s.FromDevice++ })
		switch frame.Type {
		case protocol.TypeResponse:
			if rsp, err := protocol.ParseResponse(frame.Body); err == nil && r.sess.Owns(rsp.ReqSeq) {
				r.count(func(s *Stats) { s.RigResponses++ }) // counted before the waiting command wakes
				r.sess.Deliver(rsp)
				return // the rig's answer: the gateway never asked
			}
		case protocol.TypeTelemetry:
			if t, err := protocol.ParseTelemetry(frame.Body); err == nil {
				r.tap.telemetry(frame.Boot, frame.Seq, Reading{TempCentiC: t.TempCentiC, SupplyMv: t.SupplyMv, DeviceTimeMs: frame.DeviceTimeMs})
			}
		case protocol.TypeHello:
			if h, err := protocol.ParseHello(frame.Body); err == nil {
				r.tap.hello(frame.Boot, h)
			}
		}
	}
	r.toGateway(chunk)
}

// gatewayWriteTimeout bounds one write toward the gateway. A write blocks only when the tty's
// buffer (about 20 KiB: many seconds of telemetry) is full, that is when the gateway is not
// reading at all (a crashed process): what the line carries then is lost, as in a UART receiver
// overrun, and the relay never stops reading the device for it.
const gatewayWriteTimeout = 10 * time.Millisecond

// toGateway writes chunk on the line toward the gateway, unless the relay is paused.
func (r *Relay) toGateway(chunk []byte) {
	now := time.Now()
	r.mu.Lock()
	held, deaf := r.held, now.Before(r.deaf)
	if deaf {
		r.stats.DroppedGateway++
	}
	r.mu.Unlock()
	if held || deaf {
		return
	}
	if _, err := r.line.Write(chunk); err != nil && !errors.Is(err, io.ErrClosedPipe) {
		r.mu.Lock()
		r.stats.DroppedGateway++
		r.deaf = time.Now().Add(10 * gatewayWriteTimeout) // try again now and then, not per frame
		r.mu.Unlock()
		r.log.Debug("relay: write to the gateway side failed", "device", r.cfg.Name, "err", err)
	}
}

// fromGateway reads what the gateway sends and forwards whole chunks to the device.
func (r *Relay) fromGateway(ctx context.Context) error {
	buf := make([]byte, 1024)
	chunk := make([]byte, 0, maxChunk)
	h := r.cfg.Host
	// The read blocks until data, and the context's end wakes it (a past deadline), rather than
	// polling every DefaultReadTimeout: 10,000 devices polling ten times a second keep two cores busy.
	_ = h.SetReadDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { _ = h.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	for ctx.Err() == nil {
		n, err := h.Read(buf)
		for _, b := range buf[:n] {
			chunk = append(chunk, b)
			if b == protocol.Delimiter || len(chunk) >= maxChunk {
				// An overlong run goes through in pieces, unparsed: the device's receiver
				// discards it up to the next delimiter, as it would off the wire.
				r.chunkFromGateway(chunk)
				chunk = chunk[:0]
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			if isTimeout(err) {
				_ = h.SetReadDeadline(time.Time{}) // not ours: read on
				continue
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || isEIO(err) {
				// A pty reads EOF/EIO while no one holds its tty open (a gateway process between
				// a crash and its restart): wait for the next one.
				sleep(ctx, 10*time.Millisecond)
				continue
			}
			return fmt.Errorf("relay: gateway side of %s: %w", r.cfg.Name, err)
		}
	}
	return nil
}

func (r *Relay) chunkFromGateway(chunk []byte) {
	if r.line.IsCut() {
		r.count(func(s *Stats) { s.DroppedCut++ })
		return
	}
	r.count(func(s *Stats) { s.FromGateway++ })
	if err := r.writeDevice(chunk); err != nil {
		r.count(func(s *Stats) { s.DroppedOff++ })
	}
}

func (r *Relay) count(f func(*Stats)) {
	r.mu.Lock()
	f(&r.stats)
	r.mu.Unlock()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
