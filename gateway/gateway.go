// Package gateway owns the gateway service under test: it reads protocol v1 frames from the device
// over a serial port (rig/link), learns the device's identity (HELLO, or an IDENTIFY command),
// publishes every TELEMETRY frame as a telemetry.Record over MQTT (paho), counts every bad frame by
// reason without ever dying on garbage, and lets the rig send commands to the device and await
// their responses. With a spool it is crash-safe: records are on disk from the read that brought
// them until the broker acknowledged them, and what a crash took between the read and the commit
// the device sends again (REPLAY) when the gateway starts. The binary in gateway/cmd/gateway wraps it.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/secevent"
	"github.com/pathrig/rig/rig/telemetry"
)

// Defaults of Config.
const (
	DefaultBaud            = 115200
	DefaultIdentifyTimeout = 500 * time.Millisecond
	DefaultCommandTimeout  = 2 * time.Second
	DefaultConnectTimeout  = 10 * time.Second
	DefaultPublishTimeout  = 10 * time.Second
	DefaultQueueSize       = 4096
	DefaultSpoolMax        = 1 << 20 // records; about 120 MiB of spool at ~120 bytes each
	// A group commit of the spool happens once this many records wait, or once the oldest
	// waited this long: well inside the 44 ms a 4 KiB tty buffer lasts at 921,600 baud, with
	// room for an SD card's fsync (1-20 ms).
	DefaultSpoolCommitFrames   = 256
	DefaultSpoolCommitInterval = 10 * time.Millisecond
	maxSpoolCommitInterval     = time.Second
	DefaultBackoffMin          = 250 * time.Millisecond
	DefaultBackoffMax          = 5 * time.Second
	spoolBatch                 = 256             // records published per round from the spool
	maxInflight                = 256             // publish tokens awaited at once; bounds memory, keeps order of waits
	shutdownGrace              = 1 * time.Second // in-flight publishes get this long after ctx ends
)

// Config configures a Gateway.
type Config struct {
	Port string // serial device path opened with link.OpenSerial, e.g. /dev/ttyAMA0 or a pty path
	Baud int    // 0 → DefaultBaud
	// Link, if set, is used instead of opening Port (fleets over link.NewPipe). Run does not close it.
	Link link.Port

	BrokerURL          string      // tcp://host:port or ssl://host:port (paho URL)
	TLS                *tls.Config // nil for plaintext; required (or defaulted) for ssl://
	Username, Password string      // optional
	ClientID           string      // "" → device id (UID hex)
	TopicPrefix        string      // "" → telemetry.TopicPrefix
	QoS                byte        // 0, 1 or 2
	Log                *slog.Logger
	// Dial, if set, opens the connection to the broker instead of dialing BrokerURL's host (a
	// fleet's in-memory link to a broker in the same process); with TLS the handshake still runs
	// over it, verified as for a socket.
	Dial func(ctx context.Context) (net.Conn, error)
	// Session, if set, is the MQTT session of a multi-device gateway this device's telemetry is
	// published through (shared.go) instead of a session of its own: the broker fields above are
	// then the session's business. Not with SpoolPath.
	Session *Shared

	IdentifyTimeout time.Duration    // wait for HELLO before asking IDENTIFY; 0 → DefaultIdentifyTimeout
	CommandTimeout  time.Duration    // one command round trip when ctx has no deadline; 0 → DefaultCommandTimeout
	ConnectTimeout  time.Duration    // one MQTT connect attempt; 0 → DefaultConnectTimeout
	PublishTimeout  time.Duration    // wait for one publish token; 0 → DefaultPublishTimeout
	QueueSize       int              // most telemetry records waiting for identity or the broker (memory grows with what waits); 0 → DefaultQueueSize
	Now             func() time.Time // gateway_time of records; nil → time.Now

	// SpoolPath, when set, makes the gateway store-and-forward through a crash-safe buffer on
	// disk (a bbolt file): each record is committed (fsync) before the next UART read and
	// deleted only when the broker acknowledged it (QoS 1: PUBACK), so a broker outage or a
	// SIGKILL of the gateway loses nothing spooled; a restart publishes what is left. Frames a
	// SIGKILL took after the read but before the commit are recovered from the device: the
	// spool keeps the (boot, seq) of the newest frame committed, and a gateway starting on it
	// asks the device, if it is still in that boot, to REPLAY what came after (protocol v1 op
	// 0x08; a device without it answers status 1 and the gateway carries on). Records may then
	// reach the broker twice: the ingest must be idempotent on (device, boot, seq).
	SpoolPath string
	SpoolMax  int // records of one device the spool holds before evicting the oldest; 0 → DefaultSpoolMax
	// Group commit: the spool commits (one transaction, one fsync) once SpoolCommitFrames records
	// wait or the oldest waited SpoolCommitInterval, whichever comes first; a record is published
	// only after its commit. Gateways of one process given the same SpoolPath share the file and
	// its committer (the first one's settings apply). 0 → DefaultSpoolCommitFrames,
	// DefaultSpoolCommitInterval.
	SpoolCommitFrames   int
	SpoolCommitInterval time.Duration
	// Backoff paces broker (re)connection attempts.
	Backoff Backoff
	// AlterForTest, when set, rewrites readings before they are published: a faulty gateway for
	// the tests that prove the rig's accounting catches altered values. Nil in every real gateway
	// (the binary has no way to set it).
	AlterForTest func(boot, seq uint32, t protocol.Telemetry) protocol.Telemetry
	// Events receives the gateway's security events (events.go); nil records none.
	Events *secevent.Log
	// GapAlert raises an alert when the device sends no valid frame for this long (events.go);
	// 0 = none.
	GapAlert time.Duration
}

// Backoff is an exponential backoff with jitter: attempt n waits min(Max, Min·2ⁿ) scaled by a
// random factor in [1-Jitter, 1], so a fleet of gateways does not reconnect in lockstep after a
// broker restart.
type Backoff struct {
	Min, Max time.Duration // 0 → DefaultBackoffMin, DefaultBackoffMax
	Jitter   float64       // 0..1; 0 = none
}

// delay returns the wait before attempt n (0-based).
func (b Backoff) delay(n int) time.Duration {
	d := b.Min
	for i := 0; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if b.Jitter > 0 {
		d -= time.Duration(rand.Float64() * b.Jitter * float64(d))
	}
	return d
}

// Identity is what the gateway knows of the device.
type Identity struct {
	UID   string `json:"uid"`  // 24 lowercase hex digits
	FW    string `json:"fw"`   // major.minor.patch
	Boot  uint32 `json:"boot"` // boot counter of the last frame seen
	Known bool   `json:"known"`
}

// Stats is the gateway's accounting, for the rig's evidence.
type Stats struct {
	FramesOK        uint64            `json:"frames_ok"`        // valid frames of any type
	BadFrames       map[string]uint64 `json:"bad_frames"`       // rejected frames by protocol reason
	Hellos          uint64            `json:"hellos"`           // HELLO frames
	Telemetry       uint64            `json:"telemetry"`        // TELEMETRY frames
	Responses       uint64            `json:"responses"`        // RESPONSE frames
	Unexpected      uint64            `json:"unexpected"`       // valid frames a device should not send, or responses nobody awaited
	SeqGaps         uint64            `json:"seq_gaps"`         // telemetry seq numbers skipped within a boot (lost on the UART)
	SeqBackwards    uint64            `json:"seq_backwards"`    // telemetry seq repeated or going back within a boot
	Reboots         uint64            `json:"reboots"`          // boot counter changes seen
	QueueDropped    uint64            `json:"queue_dropped"`    // telemetry dropped because the publish queue was full
	Published       uint64            `json:"published"`        // publishes completed (QoS 0: written; QoS 1/2: acknowledged)
	PublishErrors   uint64            `json:"publish_errors"`   // publishes that failed (not connected, broker refused ...)
	PublishTimeouts uint64            `json:"publish_timeouts"` // tokens not complete within PublishTimeout or the shutdown grace (paho may still deliver them)
	Unpublished     uint64            `json:"unpublished"`      // telemetry still queued when Run ended (no identity, no broker, or shutdown)
	Spooled         uint64            `json:"spooled"`          // records committed to the on-disk spool (spool mode)
	SpoolDepth      int               `json:"spool_depth"`      // records in the spool not yet acknowledged (published again after a restart)
	SpoolEvicted    uint64            `json:"spool_evicted"`    // oldest records dropped because the spool was full
	SpoolErrors     uint64            `json:"spool_errors"`     // spool writes that failed (the records stay queued in memory)
	Reconnects      uint64            `json:"reconnects"`       // broker connections made after the first (spool mode)
	ReplayRequests  uint64            `json:"replay_requests"`  // REPLAY commands sent at start (spool mode, the spool's mark in the device's current boot)
	Replayed        uint64            `json:"replayed"`         // TELEMETRY frames the device announced it sends again (counted in Telemetry as they come)
	Connected       bool              `json:"connected"`        // MQTT connection up
	Identity        Identity          `json:"identity"`
}

// CommandError is a RESPONSE whose status is not ok.
type CommandError = protocol.CommandError

// ErrNotRunning is returned by Command when Run has not opened the port.
var ErrNotRunning = errors.New("gateway: not running (call Run first; commands need the open port)")

// pending is a telemetry frame waiting to be published.
type pending struct {
	boot, seq, timeMs uint32
	tel               protocol.Telemetry
	at                time.Time
}

// Gateway bridges one device to the broker.
type Gateway struct {
	cfg Config
	log *slog.Logger

	running atomic.Bool

	mu         sync.Mutex
	port       link.Port
	session    protocol.Session // COMMANDs and their RESPONSEs
	identity   Identity
	identReady chan struct{} // closed when the identity is first known
	stats      Stats
	lastBoot   uint32
	lastSeq    uint32
	haveSeq    bool
	spool      *spool
	held       []pending    // spool mode: frames read but not yet handed to the spool's committer
	inflight   *spoolCommit // spool mode: this gateway's commit under way
	spoolDone  bool         // the read loop ended: a completed commit sends no more
	topic      string       // telemetry topic of topicOf
	topicOf    string

	// Replay at start (spool mode). While markHeld, commits do not move the spool's mark: a
	// replay is due or under way, and a gateway killed before its replayed frames are committed
	// must ask for them again rather than trust a mark the frames read since the start moved.
	committed  mark         // the newest frame committed (the spool's mark until this run commits)
	markHeld   bool         // the spool's mark stays where it was
	markDirty  bool         // committed is ahead of the mark on disk
	window     replayWindow // the frames the device announced it sends again
	noReplay   bool         // the device answered REPLAY with status 1 (logged once)
	replayFrom uint32       // from_seq of the REPLAY sent
	restarted  bool         // the spool held marks when Run opened it (set before Run's goroutines start)
	spoolHook  func([]spooled) error

	writeMu sync.Mutex // one command on the wire at a time

	obs observer // events.go; guarded by mu
}

// replayWindow is what a REPLAY RESPONSE announced: count frames of boot, the seqs before the
// RESPONSE's own seq, which follow it on the line. left counts those still to come.
type replayWindow struct {
	boot, from, count, left uint32
}

// write sends one encoded COMMAND on the open port.
func (g *Gateway) write(wire []byte) error {
	g.mu.Lock()
	port := g.port
	g.mu.Unlock()
	if port == nil {
		return ErrNotRunning
	}
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	_, err := port.Write(wire)
	return err
}

// New validates cfg and returns a Gateway; nothing is opened until Run.
func New(cfg Config) (*Gateway, error) {
	if cfg.Port == "" && cfg.Link == nil {
		return nil, errors.New("gateway: no serial port: set Config.Port (e.g. /dev/ttyAMA0) or Config.Link")
	}
	if cfg.Baud == 0 {
		cfg.Baud = DefaultBaud
	}
	if cfg.BrokerURL == "" {
		return nil, errors.New("gateway: no broker: set Config.BrokerURL (tcp://host:1883 or ssl://host:8883)")
	}
	u, err := url.Parse(cfg.BrokerURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("gateway: broker URL %q: want scheme://host:port, e.g. ssl://broker:8883", cfg.BrokerURL)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ws":
		if cfg.TLS != nil {
			return nil, fmt.Errorf("gateway: broker URL %q is plaintext but TLS is configured; use ssl://%s to get TLS", cfg.BrokerURL, u.Host)
		}
	case "ssl", "tls", "mqtts", "tcps", "wss":
		if cfg.TLS == nil {
			cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12} // system roots, verified
		}
	default:
		return nil, fmt.Errorf("gateway: broker URL %q: scheme %q not supported; use tcp:// or ssl://", cfg.BrokerURL, u.Scheme)
	}
	if cfg.Session != nil && cfg.SpoolPath != "" {
		return nil, errors.New("gateway: a spooled gateway publishes through a session of its own: set Config.Session or Config.SpoolPath, not both")
	}
	if cfg.QoS > 2 {
		return nil, fmt.Errorf("gateway: QoS %d: MQTT QoS is 0, 1 or 2", cfg.QoS)
	}
	if cfg.TopicPrefix == "" {
		cfg.TopicPrefix = telemetry.TopicPrefix
	}
	if cfg.IdentifyTimeout <= 0 {
		cfg.IdentifyTimeout = DefaultIdentifyTimeout
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = DefaultCommandTimeout
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = DefaultPublishTimeout
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SpoolMax <= 0 {
		cfg.SpoolMax = DefaultSpoolMax
	}
	if cfg.SpoolCommitFrames <= 0 {
		cfg.SpoolCommitFrames = DefaultSpoolCommitFrames
	}
	if cfg.SpoolCommitInterval <= 0 {
		cfg.SpoolCommitInterval = DefaultSpoolCommitInterval
	}
	if cfg.SpoolCommitInterval > maxSpoolCommitInterval {
		return nil, fmt.Errorf("gateway: spool commit interval %s: want at most %s (frames wait in memory that long; the device holds only %d for a replay after a crash)", cfg.SpoolCommitInterval, maxSpoolCommitInterval, protocol.ReplayDepth)
	}
	if cfg.Backoff.Min <= 0 {
		cfg.Backoff.Min = DefaultBackoffMin
	}
	if cfg.Backoff.Max <= 0 {
		cfg.Backoff.Max = DefaultBackoffMax
	}
	if cfg.Backoff.Max < cfg.Backoff.Min {
		return nil, fmt.Errorf("gateway: backoff max %s is below its min %s", cfg.Backoff.Max, cfg.Backoff.Min)
	}
	if cfg.Backoff.Jitter < 0 || cfg.Backoff.Jitter > 1 {
		return nil, fmt.Errorf("gateway: backoff jitter %g: want a fraction in 0..1", cfg.Backoff.Jitter)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	name := cfg.Port
	if cfg.Link != nil {
		name = cfg.Link.Name()
	}
	g := &Gateway{
		cfg:        cfg,
		log:        log.With("port", name),
		identReady: make(chan struct{}),
		stats:      Stats{BadFrames: map[string]uint64{}},
	}
	g.session = protocol.Session{Write: g.write, Name: name, Timeout: cfg.CommandTimeout}
	return g, nil
}

// Stats returns a snapshot of the counters.
func (g *Gateway) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.stats
	s.BadFrames = make(map[string]uint64, len(g.stats.BadFrames))
	for k, v := range g.stats.BadFrames {
		s.BadFrames[k] = v
	}
	s.Identity = g.identity
	if g.cfg.Session != nil {
		s.Connected = s.Connected && g.cfg.Session.Connected()
	}
	if g.spool != nil {
		s.SpoolDepth, s.SpoolEvicted = g.spool.deviceStats(g.identity.UID)
	}
	return s
}

// Identity returns the device identity: UID hex, firmware version, last boot counter seen.
func (g *Gateway) Identity() (uid string, fw string, boot uint32, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.identity.UID, g.identity.FW, g.identity.Boot, g.identity.Known
}

// Run opens the port, learns the device identity, connects to the broker and publishes telemetry
// until ctx ends (then it returns nil). It returns an error at once if the port cannot be opened,
// and when the port fails while running (device unplugged). Broker outages are retried, not fatal.
func (g *Gateway) Run(ctx context.Context) error {
	if !g.running.CompareAndSwap(false, true) {
		return errors.New("gateway: Run called twice; one Run per Gateway")
	}
	defer g.running.Store(false)

	port := g.cfg.Link
	if port == nil {
		p, err := link.OpenSerial(ctx, g.cfg.Port, g.cfg.Baud)
		if err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		port = p
		defer p.Close()
	}
	g.mu.Lock()
	g.port = port
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.port = nil
		g.mu.Unlock()
	}()
	var startMarks map[string]mark
	if g.cfg.SpoolPath != "" {
		sp, err := acquireSpool(g.cfg.SpoolPath, spoolOptions{max: g.cfg.SpoolMax, frames: g.cfg.SpoolCommitFrames, interval: g.cfg.SpoolCommitInterval})
		if err != nil {
			return err
		}
		defer sp.close()
		g.mu.Lock()
		g.spool = sp
		g.mu.Unlock()
		if d, _ := sp.stats(); d > 0 {
			g.log.Info("spool holds records from an earlier run; publishing them first", "records", d, "spool", g.cfg.SpoolPath)
		}
		startMarks = sp.allMarks() // what earlier runs committed: this run's commits do not count
		g.restarted = len(startMarks) > 0
		g.mu.Lock()
		g.markHeld = g.restarted // until the device's identity says whether to replay
		g.mu.Unlock()
	}
	g.log.Info("gateway reading device", "baud", g.cfg.Baud)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := newQueue(g.cfg.QueueSize)
	var wg sync.WaitGroup
	if g.cfg.GapAlert > 0 {
		wg.Go(func() { g.watchSilence(ctx) })
	}
	if g.spool != nil {
		wg.Go(func() { g.publishSpool(ctx, g.spool) })
		wg.Go(func() { g.replayAfterStart(ctx, startMarks) })
	} else {
		wg.Go(func() { g.publish(ctx, queue) })
	}
	readErr := g.read(ctx, port, queue) // on Run's goroutine: one less per device of a fleet
	cancel()
	wg.Wait()
	g.countUnpublished(queue) // every TELEMETRY frame ends up counted exactly once
	g.finishSpool()           // spool mode: held frames committed, or counted unpublished
	return readErr
}

// read decodes the port until ctx ends or the port fails.
func (g *Gateway) read(ctx context.Context, port link.Port, queue *queue) error {
	var dec protocol.Decoder
	buf := make([]byte, 1024)
	emit := func(f protocol.Frame, err error) { g.handle(f, err, queue) }
	for ctx.Err() == nil {
		n, err := port.Read(buf) // (0, nil) is the read timeout, not EOF
		if n > 0 {
			dec.Feed(buf[:n], emit)
		}
		g.flushHeld(ctx) // also after a read timeout: frames a failed commit kept are tried again
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			g.log.Error("gateway: serial port failed", "err", err)
			return fmt.Errorf("gateway: %w", err)
		}
	}
	return nil
}

// handle accounts for one decoded frame (or bad frame) and routes it.
func (g *Gateway) handle(f protocol.Frame, err error, queue *queue) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		reason := protocol.Reason(err)
		g.stats.BadFrames[reason]++
		g.log.Debug("bad frame skipped", "reason", reason, "err", err)
		g.badFrameLocked(reason, err)
		return
	}
	g.stats.FramesOK++
	g.frameSeenLocked()
	if f.Type != protocol.TypeCommand {
		g.noteBootLocked(f.Boot)
	}
	switch f.Type {
	case protocol.TypeHello:
		g.stats.Hellos++
		h, _ := protocol.ParseHello(f.Body) // the decoder checked the length
		g.setIdentityLocked(h.UID, h.FW, f.Boot)
		g.haveSeq = false // a new boot restarts the sequence at 0
		g.log.Info("device hello", "device", h.UID.String(), "fw", h.FW.String(), "boot", f.Boot, "reset_cause", h.ResetCause.String())
	case protocol.TypeTelemetry:
		g.stats.Telemetry++
		if !g.replayedLocked(f) {
			g.noteSeqLocked(f.Boot, f.Seq)
		}
		tel, _ := protocol.ParseTelemetry(f.Body)
		if g.cfg.AlterForTest != nil {
			tel = g.cfg.AlterForTest(f.Boot, f.Seq, tel)
		}
		if g.spool != nil {
			if len(g.held) >= g.cfg.QueueSize {
				g.stats.QueueDropped++
				return
			}
			g.held = append(g.held, pending{boot: f.Boot, seq: f.Seq, timeMs: f.DeviceTimeMs, tel: tel, at: g.cfg.Now()})
			return
		}
		if !queue.push(pending{boot: f.Boot, seq: f.Seq, timeMs: f.DeviceTimeMs, tel: tel, at: g.cfg.Now()}) {
			g.stats.QueueDropped++
			if g.stats.QueueDropped == 1 || g.stats.QueueDropped%1000 == 0 {
				g.log.Warn("telemetry queue full; frames dropped (is the broker reachable?)", "dropped", g.stats.QueueDropped, "queue_size", g.cfg.QueueSize)
			}
		}
	case protocol.TypeResponse:
		g.stats.Responses++
		r, _ := protocol.ParseResponse(f.Body)
		if r.Op == protocol.OpIdentify && r.Status == protocol.StatusOK {
			if id, err := protocol.ParseIdentity(r.Data); err == nil {
				g.setIdentityLocked(id.UID, id.FW, f.Boot)
			}
		}
		if r.Op == protocol.OpReplay && g.session.Owns(r.ReqSeq) {
			g.replayAnsweredLocked(f, r) // before Deliver: the replayed frames are right behind
		}
		if !g.session.Deliver(r) {
			g.stats.Unexpected++
			g.log.Debug("response nobody awaited (late or duplicate)", "req_seq", r.ReqSeq, "op", r.Op.String())
		}
	default: // COMMAND from the device side
		g.stats.Unexpected++
		g.log.Warn("device sent a frame only a host sends", "type", f.Type.String())
	}
}

func (g *Gateway) noteBootLocked(boot uint32) {
	if g.identity.Known && boot != g.identity.Boot {
		g.stats.Reboots++
		g.haveSeq = false
		g.log.Info("device boot changed", "from", g.identity.Boot, "to", boot)
	}
	if g.identity.Known {
		g.identity.Boot = boot
	}
	g.lastBoot = boot
}

func (g *Gateway) noteSeqLocked(boot, seq uint32) {
	if g.haveSeq && boot == g.lastBoot {
		switch {
		case seq > g.lastSeq+1:
			g.stats.SeqGaps += uint64(seq - g.lastSeq - 1)
		case seq <= g.lastSeq:
			g.stats.SeqBackwards++
		}
	}
	g.haveSeq, g.lastSeq = true, seq
}

func (g *Gateway) setIdentityLocked(uid protocol.UID, fw protocol.FWVersion, boot uint32) {
	id := uid.String()
	if g.identity.Known && g.identity.UID != id {
		g.log.Warn("device UID changed on the link; publishing under the new id", "from", g.identity.UID, "to", id)
	}
	first := !g.identity.Known
	g.identity = Identity{UID: id, FW: fw.String(), Boot: boot, Known: true}
	if first {
		close(g.identReady)
	}
}

// Command sends a COMMAND to the device and waits for its RESPONSE. Without a ctx deadline it
// waits at most Config.CommandTimeout. A non-ok status is returned with a *CommandError.
func (g *Gateway) Command(ctx context.Context, op protocol.Op, args []byte) (protocol.Response, error) {
	g.mu.Lock()
	open := g.port != nil
	g.mu.Unlock()
	if !open {
		return protocol.Response{}, ErrNotRunning
	}
	r, err := g.session.Command(ctx, op, args)
	if err != nil {
		var ce *CommandError
		if errors.As(err, &ce) {
			return r, err
		}
		return r, fmt.Errorf("gateway: %w", err)
	}
	return r, nil
}

// DeviceStats asks the device for its STATS.
func (g *Gateway) DeviceStats(ctx context.Context) (protocol.DeviceStats, error) {
	r, err := g.Command(ctx, protocol.OpStats, nil)
	if err != nil {
		return protocol.DeviceStats{}, err
	}
	return protocol.ParseDeviceStats(r.Data)
}

// learnIdentity waits for a HELLO, then asks IDENTIFY until the device answers or ctx ends. A
// gateway restarting on a spool with marks asks at once: the device is most likely running (no
// HELLO coming), and the replay that follows must reach it while it still holds the frames the
// crash took (the last 64: 1.28 s of telemetry at 20 ms).
func (g *Gateway) learnIdentity(ctx context.Context) bool {
	if !g.restarted {
		select {
		case <-g.identReady:
			return true
		case <-ctx.Done():
			return false
		case <-time.After(g.cfg.IdentifyTimeout):
		}
	}
	backoff := 250 * time.Millisecond
	for {
		g.log.Info("no HELLO seen; asking the device to IDENTIFY")
		_, err := g.Command(ctx, protocol.OpIdentify, nil)
		select {
		case <-g.identReady:
			return true
		default:
		}
		if ctx.Err() != nil {
			return false
		}
		g.log.Warn("device did not identify; retrying (check wiring, baud rate and that the device runs)", "err", err, "retry_in", backoff)
		select {
		case <-g.identReady:
			return true
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// publish learns the identity, connects to the broker and publishes queued telemetry.
func (g *Gateway) publish(ctx context.Context, queue *queue) {
	if !g.learnIdentity(ctx) {
		return
	}
	uid, _, _, _ := g.Identity()
	var client mqtt.Client
	if g.cfg.Session != nil {
		client = g.cfg.Session.client(ctx) // its owner disconnects it
	} else {
		client = g.connect(ctx, uid)
	}
	if client == nil {
		return
	}
	g.setConnected(true)
	defer func() {
		if g.cfg.Session == nil {
			client.Disconnect(250)
		}
		g.setConnected(false)
	}()

	// Tokens are accounted in order on this goroutine (inflight.go), so publishing is pipelined
	// (up to maxInflight) yet every publish is accounted for. At shutdown the tokens still in
	// flight share one short grace period instead of PublishTimeout each.
	var fl inflight
	defer fl.finish(g)
	for ctx.Err() == nil {
		fl.reap(g)
		if fl.full() {
			fl.wait(ctx, nil)
			continue
		}
		p, ok := queue.pop()
		if !ok {
			fl.wait(ctx, queue.wait())
			continue
		}
		tok, err := g.publishOne(client, p)
		if err != nil {
			g.countPublish(err)
			continue
		}
		fl.add(tok, g.cfg.PublishTimeout)
	}
}

func (g *Gateway) publishOne(client mqtt.Client, p pending) (mqtt.Token, error) {
	g.mu.Lock()
	uid := g.identity.UID
	if g.topic == "" || g.topicOf != uid {
		g.topic, g.topicOf = telemetry.Topic(g.cfg.TopicPrefix, uid), uid
	}
	topic := g.topic
	g.mu.Unlock()
	payload, err := recordPayload(nil, uid, p)
	if err != nil {
		return nil, err
	}
	// paho completes a QoS 0 token as a success while it is reconnecting, without sending
	// anything: count that as the loss it is.
	if g.cfg.QoS == 0 && !client.IsConnectionOpen() {
		return nil, errors.New("not connected: QoS 0 message dropped")
	}
	return client.Publish(topic, g.cfg.QoS, false, payload), nil
}

// countTimeout counts a publish token not complete within PublishTimeout or the shutdown grace.
func (g *Gateway) countTimeout() {
	g.mu.Lock()
	g.stats.PublishTimeouts++
	g.mu.Unlock()
}

// countUnpublished accounts for telemetry still queued when Run ends.
func (g *Gateway) countUnpublished(queue *queue) {
	n := queue.len()
	g.mu.Lock()
	g.stats.Unpublished += uint64(n)
	g.mu.Unlock()
	if n > 0 {
		g.log.Warn("telemetry not published before shutdown", "frames", n)
	}
}

func (g *Gateway) countPublish(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err == nil {
		g.stats.Published++
		return
	}
	g.stats.PublishErrors++
	if g.stats.PublishErrors == 1 || g.stats.PublishErrors%1000 == 0 {
		g.log.Warn("publish failed", "err", err, "publish_errors", g.stats.PublishErrors)
	}
}

func (g *Gateway) setConnected(up bool) {
	g.mu.Lock()
	g.stats.Connected = up
	g.mu.Unlock()
}

// connect dials the broker until it accepts or ctx ends; paho reconnects by itself afterwards.
func (g *Gateway) connect(ctx context.Context, deviceID string) mqtt.Client {
	return g.dial(ctx, deviceID, true)
}

// dial makes connection attempts paced by Config.Backoff until one succeeds or ctx ends. With
// autoReconnect paho reconnects by itself after a loss (its own backoff, no jitter); without it
// the caller dials again.
func (g *Gateway) dial(ctx context.Context, deviceID string, autoReconnect bool) mqtt.Client {
	clientID := g.cfg.ClientID
	if clientID == "" {
		clientID = deviceID
	}
	log := g.log.With("broker", g.cfg.BrokerURL, "client_id", clientID)
	opts := mqtt.NewClientOptions().
		AddBroker(g.cfg.BrokerURL).
		SetClientID(clientID).
		SetTLSConfig(g.cfg.TLS).
		SetUsername(g.cfg.Username).
		SetPassword(g.cfg.Password).
		SetCleanSession(true).
		SetAutoReconnect(autoReconnect).
		SetConnectRetry(false). // attempts are made, bounded and logged here
		SetConnectTimeout(g.cfg.ConnectTimeout).
		SetWriteTimeout(g.cfg.PublishTimeout).
		SetKeepAlive(30 * time.Second).
		SetMaxReconnectInterval(5 * time.Second).
		SetOnConnectHandler(func(mqtt.Client) { g.setConnected(true); log.Info("mqtt connected") }).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			g.setConnected(false)
			log.Warn("mqtt connection lost; paho reconnects", "err", err)
		})
	if g.cfg.Dial != nil {
		opts.SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) { return g.dialLink(ctx, u) })
	}
	for attempt := 0; ; attempt++ {
		client := mqtt.NewClient(opts)
		tok := client.Connect()
		var err error
		switch {
		case !tok.WaitTimeout(g.cfg.ConnectTimeout + time.Second):
			err = fmt.Errorf("no CONNACK within %s", g.cfg.ConnectTimeout)
		case tok.Error() != nil:
			err = tok.Error()
		default:
			return client
		}
		client.Disconnect(0)
		backoff := g.cfg.Backoff.delay(attempt)
		level := slog.LevelWarn
		if attempt > 0 {
			level = slog.LevelDebug // one warning per outage, not one per attempt
		}
		log.Log(ctx, level, "mqtt connect failed; retrying (check the URL, TLS trust and credentials)", "err", err, "attempt", attempt+1, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
	}
}

// dialLink opens Config.Dial's connection and, for a TLS broker URL, runs the TLS handshake over
// it within ConnectTimeout.
func (g *Gateway) dialLink(ctx context.Context, u *url.URL) (net.Conn, error) {
	conn, err := g.cfg.Dial(ctx)
	if err != nil {
		return nil, err
	}
	if g.cfg.TLS == nil {
		return conn, nil
	}
	cfg := g.cfg.TLS
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		cfg = cfg.Clone()
		cfg.ServerName = u.Hostname()
	}
	tc := tls.Client(conn, cfg)
	hctx, cancel := context.WithTimeout(ctx, g.cfg.ConnectTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("gateway: TLS handshake with %s: %w", g.cfg.BrokerURL, err)
	}
	return tc, nil
}
