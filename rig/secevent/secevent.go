// Package secevent writes the reference stack's security events: one JSON object per line with
// the time, the service that saw it, what happened, to whom, from where and with what outcome.
// The broker, the gateway and the ingest write them when their profile asks for a security log;
// the observability checks read them back (the same format a client's own log is mapped to).
//
// A Log is safe for concurrent use, and a nil *Log records nothing, so a service without a
// security log passes nil rather than testing before each event.
package secevent

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Kind names what happened.
type Kind string

// The kinds the reference stack records.
const (
	AuthFailure     Kind = "auth-failure"     // CONNECT or request refused for its credentials
	AuthSuccess     Kind = "auth-success"     // CONNECT accepted
	Lockout         Kind = "lockout"          // further attempts refused after repeated failures
	ACLDeny         Kind = "acl-deny"         // publish or subscribe outside the identity's topics
	TakeoverRefused Kind = "takeover-refused" // a client id held by another identity
	IngestRefused   Kind = "ingest-refused"   // an ingest request refused (auth, size, shape)
	UARTMalformed   Kind = "uart-malformed"   // a device frame that failed to decode
	DeviceSilent    Kind = "device-silent"    // a device sent nothing for longer than its bound
	ClockSkew       Kind = "clock-skew"       // a clock beyond its bound from the reference
)

// Outcome is what the service did.
type Outcome string

// The outcomes.
const (
	Refused  Outcome = "refused"
	Accepted Outcome = "accepted"
	Alert    Outcome = "alert"
)

// Event is one security event. Identity is a client id, username or device name: never a
// secret (no password, token or key material is ever put in an event).
type Event struct {
	Time     time.Time `json:"time"`
	Source   string    `json:"source"` // broker | gateway | ingest
	Kind     Kind      `json:"event"`
	Identity string    `json:"identity,omitempty"`
	Remote   string    `json:"remote,omitempty"`
	Outcome  Outcome   `json:"outcome"`
	Detail   string    `json:"detail,omitempty"`
}

// Log appends events to a writer, one JSON line each, flushed per event so that a reader sees
// an event as soon as Record returns.
type Log struct {
	mu     sync.Mutex
	w      *bufio.Writer
	c      io.Closer
	now    func() time.Time
	source string
}

// Open appends to the file at path (created 0600), recording events of source.
func Open(path, source string) (*Log, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("security event log: %w", err)
	}
	l := New(f, source)
	l.c = f
	return l, nil
}

// New records events of source to w.
func New(w io.Writer, source string) *Log {
	return &Log{w: bufio.NewWriter(w), now: time.Now, source: source}
}

// Record writes e, filling Time and Source when they are empty. A write error is dropped: the
// service keeps serving; a reader notices the missing event.
func (l *Log) Record(e Event) {
	if l == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	if e.Source == "" {
		e.Source = l.source
	}
	line, err := json.Marshal(e)
	if err != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w.Write(line)
	l.w.WriteByte('\n')
	l.w.Flush()
}

// Close flushes and closes the file Open made.
func (l *Log) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.w.Flush()
	if l.c != nil {
		if cerr := l.c.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// ParseLine reads one line of a security event log. A line is an event only when it says what
// happened, when, and with what outcome; anything else (another JSON object, a truncated line)
// is not one.
func ParseLine(line []byte) (Event, bool) {
	var e Event
	if json.Unmarshal(line, &e) != nil || e.Kind == "" || e.Outcome == "" || e.Time.IsZero() {
		return Event{}, false
	}
	return e, true
}

// Decode reads the events of r, one JSON object per line, at most max lines. A line that is
// not an event is an error naming its number.
func Decode(r io.Reader, max int) ([]Event, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	var out []Event
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		if len(out) >= max {
			return out, fmt.Errorf("security event log: more than %d events", max)
		}
		e, ok := ParseLine(sc.Bytes())
		if !ok {
			return out, fmt.Errorf("security event log line %d: not an event (time, event and outcome)", n)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}
