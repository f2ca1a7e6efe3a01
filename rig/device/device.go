// Package device owns the rig's direct conversation with one device over its UART and control
// lines, outside any run: identify it, measure the command round trip, read the line counters
// (Probe), and reset it through NRST and watch it boot again (Reset). `rig device probe` and
// `rig device reset` print what these return. It speaks protocol v1 through a link.Port, so the
// same code runs against a real UART, a pty with the emulator, or a recorded trace (rig/trace).
package device

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/lines"
	"github.com/pathrig/rig/rig/link"
)

// DefaultCommandTimeout bounds one command round trip when ctx has no earlier deadline.
const DefaultCommandTimeout = time.Second

// LineStats is what the host saw on the line: good frames by type and bad frames by reason.
type LineStats struct {
	FramesOK   uint64            `json:"frames_ok"`
	BadFrames  map[string]uint64 `json:"bad_frames"` // protocol rejection reason → count
	Hellos     uint64            `json:"hellos"`
	Telemetry  uint64            `json:"telemetry"`
	Responses  uint64            `json:"responses"`
	Unexpected uint64            `json:"unexpected"` // responses nobody awaited, frames only a host sends
}

// Hello is a HELLO frame as received.
type Hello struct {
	protocol.Hello
	Boot uint32
	At   time.Time
}

// Client talks to one device over a Port. Run must be running for Command and WaitHello.
type Client struct {
	port link.Port
	log  *slog.Logger

	session protocol.Session // COMMANDs and their RESPONSEs

	mu      sync.Mutex
	hellos  []chan Hello
	stats   LineStats
	writeMu sync.Mutex
}

// NewClient returns a Client over port; log may be nil.
func NewClient(port link.Port, log *slog.Logger) *Client {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{port: port, log: log.With("port", port.Name()), stats: LineStats{BadFrames: map[string]uint64{}}}
	c.session = protocol.Session{Name: port.Name(), Timeout: DefaultCommandTimeout, Write: func(b []byte) error {
		c.writeMu.Lock()
		defer c.writeMu.Unlock()
		_, err := c.port.Write(b)
		return err
	}}
	return c
}

// Session is the client's protocol session: the typed commands (identify, stats, boot stats,
// interval, faults) over the client's port.
func (c *Client) Session() *protocol.Session { return &c.session }

// Stats returns a copy of the line counters.
func (c *Client) Stats() LineStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.BadFrames = make(map[string]uint64, len(c.stats.BadFrames))
	for k, v := range c.stats.BadFrames {
		s.BadFrames[k] = v
	}
	return s
}

// Run reads and decodes the port until ctx ends (nil) or the port fails. When the port is a
// link.Supervised that reconnected, the partial frame of the old connection is dropped.
func (c *Client) Run(ctx context.Context) error {
	var dec protocol.Decoder
	gen, hasGen := c.port.(interface{ Generation() uint64 })
	var last uint64
	if hasGen {
		last = gen.Generation()
	}
	buf := make([]byte, 1024)
	for ctx.Err() == nil {
		n, err := c.port.Read(buf)
		if hasGen {
			if g := gen.Generation(); g != last {
				last = g
				dec.Reset()
			}
		}
		if n > 0 {
			dec.Feed(buf[:n], c.handle)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("device: %w", err)
		}
	}
	return nil
}

func (c *Client) handle(f protocol.Frame, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.stats.BadFrames[protocol.Reason(err)]++
		return
	}
	c.stats.FramesOK++
	switch f.Type {
	case protocol.TypeHello:
		c.stats.Hellos++
		h, _ := protocol.ParseHello(f.Body)
		ev := Hello{Hello: h, Boot: f.Boot, At: time.Now()}
		for _, ch := range c.hellos {
			select {
			case ch <- ev:
			default:
			}
		}
	case protocol.TypeTelemetry:
		c.stats.Telemetry++
	case protocol.TypeResponse:
		c.stats.Responses++
		r, _ := protocol.ParseResponse(f.Body)
		if !c.session.Deliver(r) {
			c.stats.Unexpected++
		}
	default:
		c.stats.Unexpected++
	}
}

// Command sends one COMMAND and waits for its RESPONSE (at most DefaultCommandTimeout unless ctx
// ends first). A non-ok status is an error naming it.
func (c *Client) Command(ctx context.Context, op protocol.Op, args []byte) (protocol.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultCommandTimeout)
	defer cancel()
	r, err := c.session.Command(ctx, op, args)
	if err != nil {
		return r, fmt.Errorf("device: %w", err)
	}
	return r, nil
}

// subscribeHellos returns a channel receiving every HELLO from now on, and its cancel.
func (c *Client) subscribeHellos() (<-chan Hello, func()) {
	ch := make(chan Hello, 16)
	c.mu.Lock()
	c.hellos = append(c.hellos, ch)
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, h := range c.hellos {
			if h == ch {
				c.hellos = append(c.hellos[:i], c.hellos[i+1:]...)
				return
			}
		}
	}
}

// Latency summarises round trips.
type Latency struct {
	Count  int           `json:"count"`
	Min    time.Duration `json:"min_ns"`
	Median time.Duration `json:"median_ns"`
	Max    time.Duration `json:"max_ns"`
}

// Summarize returns min, median (the mean of the two middle values for an even count) and max.
func Summarize(rtts []time.Duration) Latency {
	if len(rtts) == 0 {
		return Latency{}
	}
	s := append([]time.Duration(nil), rtts...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Latency{Count: len(s), Min: s[0], Median: med, Max: s[len(s)-1]}
}

// ProbeResult is what `rig device probe` reports.
type ProbeResult struct {
	Port     string               `json:"port"`
	UID      string               `json:"uid"`
	Firmware string               `json:"firmware"`
	Boot     uint32               `json:"boot"`
	Latency  Latency              `json:"latency"`
	Device   protocol.DeviceStats `json:"device_stats"`   // the device's own counters (STATS) for this boot
	Host     LineStats            `json:"host_stats"`     // what the host decoded, bad frames by reason
	Link     *link.LinkStats      `json:"link,omitempty"` // the serial driver's counters, filled by the caller that owns the port
}

// Probe identifies the device (IDENTIFY), sends pings PINGs one after the other and times each
// round trip, then reads the device's counters (STATS).
func Probe(ctx context.Context, c *Client, pings int) (ProbeResult, error) {
	res := ProbeResult{Port: c.port.Name()}
	r, err := c.Command(ctx, protocol.OpIdentify, nil)
	if err != nil {
		return res, err
	}
	id, err := protocol.ParseIdentity(r.Data)
	if err != nil {
		return res, fmt.Errorf("device: IDENTIFY: %w", err)
	}
	res.UID, res.Firmware = id.UID.String(), id.FW.String()
	rtts := make([]time.Duration, 0, pings)
	for i := 0; i < pings; i++ {
		start := time.Now()
		if _, err := c.Command(ctx, protocol.OpPing, nil); err != nil {
			return res, fmt.Errorf("device: PING %d of %d: %w", i+1, pings, err)
		}
		rtts = append(rtts, time.Since(start))
	}
	res.Latency = Summarize(rtts)
	r, err = c.Command(ctx, protocol.OpStats, nil)
	if err != nil {
		return res, err
	}
	if res.Device, err = protocol.ParseDeviceStats(r.Data); err != nil {
		return res, fmt.Errorf("device: STATS: %w", err)
	}
	res.Boot = res.Device.Boot
	res.Host = c.Stats()
	return res, nil
}

// ResetResult is what `rig device reset` reports.
type ResetResult struct {
	Port       string        `json:"port"`
	UID        string        `json:"uid"`
	BootBefore uint32        `json:"boot_before"`
	BootAfter  uint32        `json:"boot_after"`
	ResetCause string        `json:"reset_cause"`
	Hold       time.Duration `json:"hold_ns"`
	HelloAfter time.Duration `json:"hello_after_ns"` // from the release of NRST to the HELLO
}

// Reset reads the current boot counter (STATS), pulses the reset line and waits up to timeout
// for the HELLO of boot+1. boot0, if not nil, is driven inactive first (boot from flash).
func Reset(ctx context.Context, c *Client, reset *lines.ResetLine, boot0 *lines.Line, timeout time.Duration) (ResetResult, error) {
	var res ResetResult
	if reset == nil || reset.Pin == nil {
		return res, errors.New("device: no reset line: name gpio.reset in the bench file (or use --emulate)")
	}
	res.Port = c.port.Name()
	r, err := c.Command(ctx, protocol.OpStats, nil)
	if err != nil {
		return res, fmt.Errorf("%w; the device must answer before the reset so its boot counter is known", err)
	}
	st, err := protocol.ParseDeviceStats(r.Data)
	if err != nil {
		return res, fmt.Errorf("device: STATS: %w", err)
	}
	res.BootBefore = st.Boot
	if boot0 != nil {
		if err := boot0.Set(ctx, false); err != nil {
			return res, err
		}
	}
	hellos, cancel := c.subscribeHellos()
	defer cancel()
	hold := reset.Hold
	if hold <= 0 {
		hold = lines.DefaultHold
	}
	res.Hold = hold
	if err := reset.Pulse(ctx); err != nil {
		return res, err
	}
	released := time.Now()
	want := res.BootBefore + 1
	wait := time.NewTimer(timeout)
	defer wait.Stop()
	for {
		select {
		case h := <-hellos:
			if h.Boot != want {
				return res, fmt.Errorf("device: HELLO after the reset carries boot %d, want %d (boot %d + 1): did the device reset twice, or is the boot counter not kept?", h.Boot, want, res.BootBefore)
			}
			res.BootAfter, res.UID, res.ResetCause = h.Boot, h.UID.String(), h.ResetCause.String()
			res.HelloAfter = max(h.At.Sub(released), 0)
			return res, nil
		case <-wait.C:
			return res, fmt.Errorf("device: no HELLO within %s of releasing %s (check the NRST wire and the reset line's polarity, and that the device boots from flash: BOOT0 low)", timeout, reset.Pin)
		case <-ctx.Done():
			return res, fmt.Errorf("device: waiting for HELLO: %w", ctx.Err())
		}
	}
}

// EmulatedUID is the emulated bench device's UID (`rig device … --emulate`).
const EmulatedUID = "303030313233343536373839"
