package protocol

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultCommandTimeout bounds one command round trip when the caller's context has no deadline.
const DefaultCommandTimeout = time.Second

// HostBase is the first request id of the rig's own session when it shares a link with a gateway
// (the UART relay): request ids at or above it are the rig's, below it the gateway's, so the relay
// keeps each host's RESPONSEs to that host. A session alone on its link starts at 1.
const HostBase uint32 = 1 << 31

// CommandError is a RESPONSE whose status is not ok.
type CommandError struct {
	Op     Op
	Status Status
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("device answered %s with status %s", e.Op, e.Status)
}

// ErrNoLink is returned by a Session whose link is not open.
var ErrNoLink = errors.New("protocol: no open link to the device")

// Session is the host side of protocol v1 over one link: it numbers COMMANDs, pairs RESPONSEs
// with them and offers the typed commands. Every host of the link uses one — the gateway, `rig
// device` and the rig's own device control — each with its own read loop that hands the session
// every RESPONSE it decodes (Deliver). The zero value is not usable: set Write.
type Session struct {
	// Write sends one encoded frame, whole (the session serialises its calls). It returns
	// ErrNoLink when the link is not open.
	Write func([]byte) error
	// Base is the first request id; 0 means 1. See HostBase.
	Base uint32
	// Name names the link in errors (the port path); "" → "the device link".
	Name string
	// Timeout bounds a command without a context deadline; 0 → DefaultCommandTimeout.
	Timeout time.Duration

	requests Requests
}

// Deliver hands a decoded RESPONSE to the command waiting for it and reports whether one was.
func (s *Session) Deliver(r Response) bool { return s.requests.Deliver(r) }

// Owns reports whether a request id is one this session could have sent (its id range).
func (s *Session) Owns(reqSeq uint32) bool {
	if s.Base >= HostBase {
		return reqSeq >= s.Base
	}
	return reqSeq < HostBase
}

// Command sends one COMMAND and waits for its RESPONSE. A non-ok status is a *CommandError
// returned with the response.
func (s *Session) Command(ctx context.Context, op Op, args []byte) (Response, error) {
	if _, ok := ctx.Deadline(); !ok {
		t := s.Timeout
		if t <= 0 {
			t = DefaultCommandTimeout
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	s.requests.start(s.Base)
	id, ch, end := s.requests.Begin()
	defer end()
	wire, err := Encode(NewFrame(TypeCommand, 0, id, 0, Command{Op: op, Args: args}.Marshal()))
	if err != nil {
		return Response{}, fmt.Errorf("protocol: %s: %w", op, err)
	}
	if err := s.Write(wire); err != nil {
		return Response{}, fmt.Errorf("send %s on %s: %w", op, s.name(), err)
	}
	select {
	case r := <-ch:
		if r.Op != op {
			return r, fmt.Errorf("response to request %d on %s is for %s, sent %s (device firmware bug?)", id, s.name(), r.Op, op)
		}
		if r.Status != StatusOK {
			return r, &CommandError{Op: op, Status: r.Status}
		}
		return r, nil
	case <-ctx.Done():
		return Response{}, fmt.Errorf("%s (request %d) on %s: no response: %w (device stalled, in reset, or the frame was corrupted on the line; check TX↔RX, common GND and baud)", op, id, s.name(), ctx.Err())
	}
}

// Retry runs a command up to tries times while it times out: a COMMAND or its RESPONSE can be
// lost on the line like any frame. A device's answer (even a non-ok status) ends it.
func (s *Session) Retry(ctx context.Context, tries int, op Op, args []byte) (Response, error) {
	var err error
	for range max(tries, 1) {
		var r Response
		r, err = s.Command(ctx, op, args)
		var ce *CommandError
		if err == nil || errors.As(err, &ce) || ctx.Err() != nil {
			return r, err
		}
	}
	return Response{}, err
}

func (s *Session) name() string {
	if s.Name == "" {
		return "the device link"
	}
	return s.Name
}

// Ping checks the device answers.
func (s *Session) Ping(ctx context.Context) error {
	_, err := s.Command(ctx, OpPing, nil)
	return err
}

// Identify asks the device who it is.
func (s *Session) Identify(ctx context.Context) (Identity, error) {
	r, err := s.Retry(ctx, 3, OpIdentify, nil)
	if err != nil {
		return Identity{}, err
	}
	return ParseIdentity(r.Data)
}

// Stats reads the device's counters of its current boot.
func (s *Session) Stats(ctx context.Context) (DeviceStats, error) {
	r, err := s.Retry(ctx, 3, OpStats, nil)
	if err != nil {
		return DeviceStats{}, err
	}
	return ParseDeviceStats(r.Data)
}

// BootStats reads what the device sent during boot.
func (s *Session) BootStats(ctx context.Context, boot uint32) (BootStats, error) {
	c := BootStatsCommand(boot)
	r, err := s.Retry(ctx, 3, c.Op, c.Args)
	if err != nil {
		return BootStats{}, err
	}
	return ParseBootStats(r.Data)
}

// SetInterval sets the telemetry period (0 stops telemetry).
func (s *Session) SetInterval(ctx context.Context, d time.Duration) error {
	ms := d / time.Millisecond
	if ms < 0 || ms > 0xFFFF {
		return fmt.Errorf("protocol: telemetry interval %s is outside 0..65535 ms", d)
	}
	if d%time.Millisecond != 0 {
		// Rounding would change what was asked: 500µs would become 0, which stops telemetry.
		return fmt.Errorf("protocol: telemetry interval %s is not a whole number of milliseconds, which SET_INTERVAL carries", d)
	}
	c := SetIntervalCommand(uint16(ms))
	_, err := s.Retry(ctx, 3, c.Op, c.Args)
	return err
}

// Interval reads the current telemetry period (GET_INTERVAL).
func (s *Session) Interval(ctx context.Context) (time.Duration, error) {
	c := GetIntervalCommand()
	r, err := s.Retry(ctx, 3, c.Op, c.Args)
	if err != nil {
		return 0, err
	}
	ms, err := ParseInterval(r.Data)
	return time.Duration(ms) * time.Millisecond, err
}

// Fault asks the device to inject a fault into itself.
func (s *Session) Fault(ctx context.Context, code FaultCode) error {
	c := FaultCommand(code)
	_, err := s.Retry(ctx, 3, c.Op, c.Args)
	return err
}

// SkewClock steps the device clock by d (FAULT CLOCK_SKEW).
func (s *Session) SkewClock(ctx context.Context, d time.Duration) error {
	c := ClockSkewCommand(d)
	_, err := s.Retry(ctx, 3, c.Op, c.Args)
	return err
}

// Replay asks the device to send again the TELEMETRY frames of boot it still holds from seq from
// on (REPLAY) and returns how many it announced; they follow the RESPONSE on the link, exactly as
// first sent, and reach the host's read loop like any TELEMETRY. A device older than REPLAY
// answers a *CommandError with StatusUnknownOp. A command retried after a lost RESPONSE may make
// the device send the frames twice: the receiver must be idempotent on (boot, seq).
func (s *Session) Replay(ctx context.Context, boot, from uint32) (uint16, error) {
	c := ReplayCommand(boot, from)
	r, err := s.Retry(ctx, 3, c.Op, c.Args)
	if err != nil {
		return 0, err
	}
	return ParseReplay(r.Data)
}
