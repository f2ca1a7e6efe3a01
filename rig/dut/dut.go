// Package dut owns the device under test, in the manner of labgrid: a driver per device kind says
// how to power the device and reach its UART and control lines (emulated: the Go emulator; qemu:
// the C firmware in QEMU; serial: a board on a UART with an optional bench file's GPIO lines), and
// Device is the strategy over it — an explicit lifecycle (off → booted → ready, reset and back)
// where every transition is a recorded step and an impossible one is an error naming both states.
//
// The rig holds the device's UART itself and relays it to the gateway (rig/relay): a Device reads
// the device's state over the relay's own protocol session (never assuming a fresh boot), records
// the counters where the run's window starts, and leaves the device as it found it.
package dut

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/lines"
	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/relay"
	"github.com/pathrig/rig/rig/scenario"
)

// Driver is one device kind's way to the device.
type Driver interface {
	// PowerOn brings the device from off to booted and returns its UART as the rig holds it. A
	// board that already runs is booted once its port is open.
	PowerOn(ctx context.Context) (link.Port, error)
	// PowerOff cuts the device's supply; the port PowerOn returned may go dead. ErrNoLine when
	// the kind has no power control.
	PowerOff(ctx context.Context) error
	// Reset is the device's NRST, nil when the kind has none.
	Reset() *lines.ResetLine
	// Close releases what the driver opened. A device the rig started (emulator, QEMU) stops; a
	// board on the bench is left running.
	Close() error
}

// Halter is a driver that can stop its device before cutting its power (a VM's CPU), so that
// what the device already sent is relayed before the power goes.
type Halter interface {
	Halt(ctx context.Context) error
}

// ErrNoLine is returned for a control line the device kind does not have.
var ErrNoLine = errors.New("dut: the device has no such control line")

// Spec is what a driver is opened from.
type Spec struct {
	Device scenario.Device // kind, UID, firmware, image, port, baud, interval
	// Bench, for a serial device, names the GPIO lines (NRST, BOOT0, power); nil: none wired.
	Bench *BenchLines
	// InMemory: the emulator's UART is an in-memory pipe (fleets) instead of a pty opened through
	// go.bug.st/serial.
	InMemory bool
	// Framing of a serial device's UART without a bench file (zero: 8N1).
	Framing link.Framing
	// NoLines: do not open the bench file's GPIO lines (opening an active-low NRST line pulses it
	// once: commands that do not reset the device leave the lines alone).
	NoLines bool
	// Period, for an emulated device, is its own telemetry period when it must be finer than
	// SET_INTERVAL's whole milliseconds (a benchmark offering a path more than 1,000 frames/s per
	// device); the rig then leaves the period as the device runs it, and the emulator keeps it as a
	// dedicated timer would (emulator.Config.CatchUp). Zero: Device.TelemetryInterval.
	Period time.Duration
	Rec    *lines.Recorder // transitions driven on control lines
	Log    *slog.Logger
}

// BenchLines are the bench file's control lines, opened.
type BenchLines struct {
	Reset *lines.ResetLine
	Boot0 *lines.Line
	Power *lines.Line
}

// Kind is one device kind: how to open its driver and which device-level faults it performs.
type Kind struct {
	Name string
	Open func(ctx context.Context, s Spec) (Driver, error)
	// Faults lists the device-level fault kinds (device-reset, power-cut) a device of this kind
	// with these lines performs. UART faults and clock skew go through the relay and the protocol
	// session and work on every kind.
	Faults func(s Spec) ([]string, error)
}

var (
	kindsMu sync.Mutex
	kinds   = map[string]Kind{}
)

// Register adds a device kind; each kind's package calls it from init.
func Register(k Kind) {
	kindsMu.Lock()
	defer kindsMu.Unlock()
	kinds[k.Name] = k
}

// Lookup returns a registered kind.
func Lookup(name string) (Kind, error) {
	kindsMu.Lock()
	defer kindsMu.Unlock()
	k, ok := kinds[name]
	if !ok {
		var names []string
		for n := range kinds {
			names = append(names, n)
		}
		sort.Strings(names)
		return Kind{}, fmt.Errorf("dut: no device kind %q (known: %s)", name, strings.Join(names, ", "))
	}
	return k, nil
}

// UniversalFaults are the faults every kind performs: on the relay's line, through the protocol
// session, or on the path downstream of the device.
var UniversalFaults = []string{
	scenario.FaultUARTCorrupt, scenario.FaultUARTGarbage, scenario.FaultUARTStall, scenario.FaultUARTCut,
	scenario.FaultClockSkew, scenario.FaultBrokerDown, scenario.FaultNetworkCut, scenario.FaultNetworkLatency,
	scenario.FaultNetworkLoss, scenario.FaultNetworkBandwidth, scenario.FaultIngestDown, scenario.FaultGatewayCrash,
}

// Supports reports whether a device of spec's kind performs fault; the error names the fault,
// the kind and what is missing.
func Supports(s Spec, fault string) error {
	for _, f := range UniversalFaults {
		if f == fault {
			return nil
		}
	}
	k, err := Lookup(s.Device.Kind)
	if err != nil {
		return err
	}
	can, err := k.Faults(s)
	if err != nil {
		return fmt.Errorf("device kind %s: cannot tell whether it performs fault %s: %w", s.Device.Kind, fault, err)
	}
	for _, f := range can {
		if f == fault {
			return nil
		}
	}
	why := ""
	if s.Device.Kind == scenario.DeviceSerial {
		switch fault {
		case scenario.FaultDeviceReset:
			why = " (name the NRST line as gpio.reset in the bench file)"
		case scenario.FaultPowerCut:
			why = " (name the supply switch as gpio.power in the bench file)"
		}
	}
	return fmt.Errorf("device kind %s cannot perform fault %s%s", s.Device.Kind, fault, why)
}

// State is where the device is in its lifecycle.
type State string

// States.
const (
	Off    State = "off"    // unpowered (or not yet started)
	Reset  State = "reset"  // NRST held low: neither sends nor receives
	Booted State = "booted" // powered and running, not yet identified
	Ready  State = "ready"  // identified over the UART; the rig knows its counters
)

// Step is one transition, recorded.
type Step struct {
	From   State     `json:"from"`
	To     State     `json:"to"`
	Cause  string    `json:"cause"`
	At     time.Time `json:"at"`
	TookMs float64   `json:"took_ms"`
	Detail string    `json:"detail,omitempty"`
	Error  string    `json:"error,omitempty"`
}

// An operation moves the device from one of its source states to its target state.
type operation struct {
	cause string
	from  []State
	to    State
}

// The lifecycle's operations: each says where it may start.
var (
	opPowerOn      = operation{"power on", []State{Off}, Booted}
	opIdentify     = operation{"identify", []State{Booted}, Ready}
	opHoldReset    = operation{"NRST low", []State{Booted, Ready}, Reset}
	opReleaseReset = operation{"NRST released", []State{Reset}, Booted}
	opPowerCut     = operation{"power cut", []State{Booted, Ready, Reset}, Off}
	opPowerRestore = operation{"power restored", []State{Off}, Booted}
	operations     = []operation{opPowerOn, opIdentify, opHoldReset, opReleaseReset, opPowerCut, opPowerRestore}
)

// TransitionError is an impossible transition.
type TransitionError struct {
	From, To State
	Cause    string
}

func (e *TransitionError) Error() string {
	var can []string
	for _, op := range operations {
		if slices.Contains(op.from, e.From) {
			can = append(can, fmt.Sprintf("%s (to %s)", op.cause, op.to))
		}
	}
	return fmt.Sprintf("dut: no transition from %s to %s by %s (from %s: %s)", e.From, e.To, e.Cause, e.From, strings.Join(can, ", "))
}

// Found is the device as the rig found it when it first became ready: where the run's window
// starts and what to restore at the end.
type Found struct {
	UID      string        `json:"uid"`
	FW       string        `json:"firmware"`
	Boot     uint32        `json:"boot"`
	Sent     uint32        `json:"telemetry_sent"` // the seq of the first frame of the window
	Interval time.Duration `json:"-"`
	// IntervalMs is the telemetry period found (GET_INTERVAL); nil when the firmware cannot say.
	IntervalMs *int64 `json:"interval_ms"`
}

// Device is one device under test: its driver, the relay that holds its UART, and its lifecycle.
type Device struct {
	name  string
	drv   Driver
	relay *relay.Relay
	spec  Spec
	log   *slog.Logger

	mu       sync.Mutex
	state    State
	steps    []Step
	port     link.Port
	found    *Found
	skew     time.Duration // net clock step the rig applied
	interval time.Duration // what the rig set; 0: left as found
	cancel   context.CancelFunc
	done     chan error
}

// New returns a device in state off; its relay runs until Close.
func New(name string, drv Driver, r *relay.Relay, spec Spec) *Device {
	log := spec.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Device{name: name, drv: drv, relay: r, spec: spec, log: log.With("device", name), state: Off, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go func() { d.done <- r.Run(ctx) }()
	return d
}

// Name is the device's id (its UID as 24 hex digits).
func (d *Device) Name() string { return d.name }

// Relay is the device's UART relay.
func (d *Device) Relay() *relay.Relay { return d.relay }

// Session is the rig's protocol session with the device.
func (d *Device) Session() *protocol.Session { return d.relay.Session() }

// State returns the current state.
func (d *Device) State() State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state
}

// Steps returns the transitions so far.
func (d *Device) Steps() []Step {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Step(nil), d.steps...)
}

// Found returns the device as first found ready; nil before.
func (d *Device) Found() *Found {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.found == nil {
		return nil
	}
	f := *d.found
	return &f
}

// Kind is the device's kind.
func (d *Device) Kind() string { return d.spec.Device.Kind }

// transition runs fn to make op's move, recording the step; op must start from the current state.
func (d *Device) transition(ctx context.Context, op operation, fn func(ctx context.Context) (string, error)) error {
	to, cause := op.to, op.cause
	d.mu.Lock()
	from := d.state
	d.mu.Unlock()
	if !slices.Contains(op.from, from) {
		return &TransitionError{From: from, To: to, Cause: cause}
	}
	start := time.Now()
	detail, err := fn(ctx)
	st := Step{From: from, To: to, Cause: cause, At: start, TookMs: float64(time.Since(start).Microseconds()) / 1000, Detail: detail}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		st.Error = err.Error()
		d.steps = append(d.steps, st)
		return fmt.Errorf("dut: %s: %s → %s (%s): %w", d.name, from, to, cause, err)
	}
	d.state = to
	d.steps = append(d.steps, st)
	d.log.Info("device state", "from", from, "to", to, "cause", cause, "took_ms", st.TookMs)
	return nil
}

// PowerOn powers the device (or opens the board's UART): off → booted.
func (d *Device) PowerOn(ctx context.Context) error {
	return d.transition(ctx, opPowerOn, func(ctx context.Context) (string, error) {
		p, err := d.drv.PowerOn(ctx)
		if err != nil {
			return "", err
		}
		d.mu.Lock()
		d.port = p
		d.mu.Unlock()
		d.relay.SetDevice(p)
		return p.Name(), nil
	})
}

// MakeReady identifies the device over the UART (booted → ready): its UID must be want (when not
// ""), and the first time the rig records where the run's window starts (STATS) and the telemetry
// interval it found (GET_INTERVAL). interval, when not 0, is set if the device runs another one.
func (d *Device) MakeReady(ctx context.Context, want string, interval time.Duration) error {
	return d.transition(ctx, opIdentify, func(ctx context.Context) (string, error) {
		s := d.Session()
		id, err := s.Identify(ctx)
		if err != nil {
			return "", fmt.Errorf("identify: %w", err)
		}
		if want != "" && id.UID.String() != want {
			return "", fmt.Errorf("the device reports UID %s but the scenario names %s (set device.uid to the board's UID)", id.UID, want)
		}
		st, err := s.Stats(ctx)
		if err != nil {
			return "", fmt.Errorf("read STATS: %w", err)
		}
		cur, ierr := s.Interval(ctx)
		var ce *protocol.CommandError
		if ierr != nil && !errors.As(ierr, &ce) {
			return "", fmt.Errorf("read the telemetry interval: %w", ierr)
		}
		d.mu.Lock()
		first := d.found == nil
		if first {
			d.found = &Found{UID: id.UID.String(), FW: id.FW.String(), Boot: st.Boot, Sent: st.TelemetrySent}
			if ierr == nil {
				ms := cur.Milliseconds()
				d.found.Interval, d.found.IntervalMs = cur, &ms
			}
		}
		d.mu.Unlock()
		detail := fmt.Sprintf("uid %s fw %s boot %d telemetry_sent %d", id.UID, id.FW, st.Boot, st.TelemetrySent)
		if ierr == nil {
			detail += fmt.Sprintf(" interval %s", cur)
		}
		if interval > 0 && (ierr != nil || cur != interval) {
			if err := s.SetInterval(ctx, interval); err != nil {
				return detail, fmt.Errorf("set the telemetry interval to %s: %w", interval, err)
			}
			d.mu.Lock()
			d.interval = interval
			d.mu.Unlock()
			detail += fmt.Sprintf(", set to %s", interval)
		}
		return detail, nil
	})
}

// HoldReset holds NRST low: the device stops (ready|booted → reset).
func (d *Device) HoldReset(ctx context.Context) error {
	r := d.drv.Reset()
	if r == nil {
		return fmt.Errorf("dut: %s: %w: NRST", d.name, ErrNoLine)
	}
	return d.transition(ctx, opHoldReset, func(ctx context.Context) (string, error) {
		return r.Pin.String(), r.Assert(ctx)
	})
}

// ReleaseReset releases NRST and waits for the HELLO of the new boot (reset → booted).
func (d *Device) ReleaseReset(ctx context.Context, within time.Duration) error {
	r := d.drv.Reset()
	if r == nil {
		return fmt.Errorf("dut: %s: %w: NRST", d.name, ErrNoLine)
	}
	return d.transition(ctx, opReleaseReset, func(ctx context.Context) (string, error) {
		since := d.relay.Now()
		if err := r.Release(ctx); err != nil {
			return "", err
		}
		return d.waitHello(ctx, since, within)
	})
}

// PowerCut cuts the supply (any powered state → off).
func (d *Device) PowerCut(ctx context.Context) error {
	return d.transition(ctx, opPowerCut, func(ctx context.Context) (string, error) {
		// An unpowered device's port may go dead (a QEMU board's pty goes with its VM): the relay
		// reads what the device sends until the supply is gone, then lets go of the port.
		d.relay.PoweringOff()
		if h, ok := d.drv.(Halter); ok {
			// Stop the device first and relay what it already sent: cutting a VM's supply hangs
			// its pty up, and a hangup flushes what nobody has read yet.
			if err := h.Halt(ctx); err != nil {
				d.relay.SetDevice(d.currentPort())
				return "", err
			}
			d.relay.Drained(ctx, 100*time.Millisecond, 2*time.Second)
		}
		if err := d.drv.PowerOff(ctx); err != nil {
			d.relay.SetDevice(d.currentPort())
			return "", err
		}
		d.relay.SetDevice(nil)
		return "", nil
	})
}

// PowerRestore powers the device again and waits for its HELLO (off → booted).
func (d *Device) PowerRestore(ctx context.Context, within time.Duration) error {
	return d.transition(ctx, opPowerRestore, func(ctx context.Context) (string, error) {
		since := d.relay.Now()
		p, err := d.drv.PowerOn(ctx)
		if err != nil {
			return "", err
		}
		d.mu.Lock()
		old := d.port
		d.port = p
		d.mu.Unlock()
		if p != old && old != nil {
			old.Close()
		}
		d.relay.SetDevice(p)
		return d.waitHello(ctx, since, within)
	})
}

func (d *Device) waitHello(ctx context.Context, since time.Time, within time.Duration) (string, error) {
	if within <= 0 {
		within = 5 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	h, err := d.relay.Tap().WaitHello(wctx, since)
	if err != nil {
		return "", fmt.Errorf("no HELLO within %s after the device restarted: %w", within, err)
	}
	return fmt.Sprintf("HELLO boot %d reset cause %s", h.Boot, h.ResetCause), nil
}

// SkewClock steps the device clock by delta through the protocol session. A device coming back
// from a reset or a power cut is waited for (up to 15 s): the clock of a device that is off
// cannot be stepped, and the step is its own fault, not the power's.
func (d *Device) SkewClock(ctx context.Context, delta time.Duration) error {
	if err := d.waitReady(ctx, 15*time.Second); err != nil {
		return fmt.Errorf("dut: %s: step the clock by %s: %w", d.name, delta, err)
	}
	if err := d.Session().SkewClock(ctx, delta); err != nil {
		return fmt.Errorf("dut: %s: step the clock by %s: %w", d.name, delta, err)
	}
	d.mu.Lock()
	d.skew += delta
	d.mu.Unlock()
	return nil
}

// waitReady waits until the device is ready (another operation may be bringing it back).
func (d *Device) waitReady(ctx context.Context, within time.Duration) error {
	end := time.Now().Add(within)
	for {
		st := d.State()
		if st == Ready {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("the device is %s, not ready, after %s", st, within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Close leaves the device as the rig found it — released from reset or powered again if a fault
// was cut short, its telemetry interval and its clock restored — then stops the relay and closes
// the driver.
func (d *Device) Close(ctx context.Context) error {
	var errs []error
	d.mu.Lock()
	state, found, skew := d.state, d.found, d.skew
	d.mu.Unlock()
	switch {
	case state == Reset:
		errs = append(errs, d.ReleaseReset(ctx, 5*time.Second))
	case state == Off && found != nil:
		errs = append(errs, d.PowerRestore(ctx, 10*time.Second))
	}
	if state = d.State(); state == Ready || state == Booted {
		s := d.Session()
		if skew != 0 {
			if err := s.SkewClock(ctx, -skew); err != nil {
				errs = append(errs, fmt.Errorf("dut: %s: restore the clock: %w", d.name, err))
			}
		}
		if found != nil && found.IntervalMs != nil {
			// A reboot during the run brought the firmware's default back: compare, not assume.
			cur, err := s.Interval(ctx)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("dut: %s: read the telemetry interval to restore it: %w", d.name, err))
			case cur != found.Interval:
				if err := s.SetInterval(ctx, found.Interval); err != nil {
					errs = append(errs, fmt.Errorf("dut: %s: restore the telemetry interval %s: %w", d.name, found.Interval, err))
				} else {
					d.record(Step{From: state, To: state, Cause: "restore", At: time.Now(), Detail: fmt.Sprintf("telemetry interval %s → %s", cur, found.Interval)})
				}
			}
		}
	}
	d.cancel()
	d.mu.Lock()
	port := d.port
	d.port = nil
	d.mu.Unlock()
	if port != nil {
		// Closed before the relay is awaited: its read of the port returns now, not at the
		// port's read timeout (a second on an in-memory link, for each device of a fleet).
		errs = append(errs, port.Close())
	}
	if err := <-d.done; err != nil {
		errs = append(errs, err)
	}
	d.relay.SetDevice(nil)
	errs = append(errs, d.drv.Close(), d.relay.Host().Close())
	return errors.Join(errs...)
}

func (d *Device) currentPort() link.Port {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.port
}

func (d *Device) record(s Step) {
	d.mu.Lock()
	d.steps = append(d.steps, s)
	d.mu.Unlock()
}

// Counts is what the device says it sent over the run's window, per boot.
type Counts struct {
	Boot       uint32 `json:"boot"`
	From       uint32 `json:"from"` // first seq of the window in this boot
	To         uint32 `json:"to"`   // one past the last seq the device had sent when asked
	ResetCause string `json:"reset_cause,omitempty"`
	// Source: "device" (its own STATS/BOOT_STATS) or "uart" (a boot the device no longer
	// remembers: the frames the relay read off its UART).
	Source string `json:"source"`
}

// Count reads, over the protocol session, what the device sent in every boot since the window
// started: STATS for the current boot, BOOT_STATS for the earlier ones. It does not stop
// telemetry: frames sent after the answer belong to no window.
func (d *Device) Count(ctx context.Context) ([]Counts, error) {
	found := d.Found()
	if found == nil {
		return nil, fmt.Errorf("dut: %s: never became ready: no window to count", d.name)
	}
	s := d.Session()
	cur, err := s.Stats(ctx)
	if err != nil {
		return nil, fmt.Errorf("dut: %s: read STATS: %w", d.name, err)
	}
	var out []Counts
	for b := found.Boot; b <= cur.Boot; b++ {
		c := Counts{Boot: b, Source: "device"}
		if b == found.Boot {
			c.From = found.Sent
		}
		if b == cur.Boot {
			c.To = cur.TelemetrySent
		}
		bs, err := s.BootStats(ctx, b)
		var ce *protocol.CommandError
		switch {
		case err == nil:
			if b != cur.Boot {
				c.To = bs.TelemetrySent
			}
			c.ResetCause = bs.ResetCause.String()
		case errors.As(err, &ce):
			if b != cur.Boot {
				// Forgotten (or never known: an old firmware): what the relay read is all there is.
				c.Source = "uart"
				c.To = d.relay.Tap().End(b)
			}
		default:
			return nil, fmt.Errorf("dut: %s: read BOOT_STATS %d: %w", d.name, b, err)
		}
		if b != found.Boot && b != cur.Boot && c.To == 0 && d.relay.Tap().Count(b) == 0 && c.Source == "uart" {
			continue // a boot number the device skipped
		}
		out = append(out, c)
	}
	return out, nil
}
