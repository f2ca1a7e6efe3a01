// Package trace records what the rig exchanges with a device — every byte read from and written to
// its UART and every level driven on its GPIO lines, in one ordered log — and plays such a log back
// in place of the hardware, failing on the first divergence. It is periph's conntest Record /
// Playback idea applied to a link.Port and gpio.PinOut: a session captured once on the real bench
// (`rig device probe --record FILE`, or the hardware smoketest) becomes a unit test that runs on
// every commit without the bench.
//
// File format (rig.trace/v1): JSON Lines. The first line is the header {"trace":"rig.trace/v1",
// "port":…, "note":…}; each further line is one event {"op":"read"|"write"|"out", "hex":…,
// "line":…, "level":"High"|"Low", "at_ms":…}. at_ms (time since the start) is informative only;
// playback keeps the order, not the timing.
package trace

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/pathrig/rig/rig/infile"
	"github.com/pathrig/rig/rig/link"
)

// Schema is the header's trace field.
const Schema = "rig.trace/v1"

// Event ops.
const (
	OpRead  = "read"  // bytes the host read from the device
	OpWrite = "write" // bytes the host wrote to the device
	OpOut   = "out"   // a level the host drove on a line
)

// Header is the first line of a trace file.
type Header struct {
	Trace string `json:"trace"`
	Port  string `json:"port"`
	Note  string `json:"note,omitempty"`
}

// Event is one exchange.
type Event struct {
	Op    string  `json:"op"`
	Hex   string  `json:"hex,omitempty"`
	Line  string  `json:"line,omitempty"`
	Level string  `json:"level,omitempty"`
	AtMs  float64 `json:"at_ms"`
}

func (e Event) String() string {
	if e.Op == OpOut {
		return fmt.Sprintf("out %s %s", e.Line, e.Level)
	}
	return fmt.Sprintf("%s %s", e.Op, e.Hex)
}

// Recorder logs the exchanges of the ports and pins it wraps, in the order they happen. Writes
// and line changes are logged before they reach the hardware, so the device's answer can never
// be logged ahead of the request that caused it.
type Recorder struct {
	mu     sync.Mutex
	start  time.Time
	port   string
	events []Event
}

// NewRecorder starts a recording.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

func (r *Recorder) add(e Event) {
	r.mu.Lock()
	e.AtMs = float64(time.Since(r.start).Microseconds()) / 1000
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// Events returns a copy of the log.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// Port wraps p: what the host reads and writes through the result is logged.
func (r *Recorder) Port(p link.Port) *RecordPort {
	r.mu.Lock()
	r.port = p.Name()
	r.mu.Unlock()
	return &RecordPort{Port: p, rec: r}
}

// Pin wraps a line's pin: every level driven through the result is logged under name.
func (r *Recorder) Pin(name string, p gpio.PinOut) gpio.PinOut {
	return &recordPin{PinOut: p, name: name, rec: r}
}

// WriteFile writes the trace; note says what the session was (never put a secret in it).
func (r *Recorder) WriteFile(path, note string) error {
	r.mu.Lock()
	h := Header{Trace: Schema, Port: r.port, Note: note}
	events := append([]Event(nil), r.events...)
	r.mu.Unlock()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.Encode(h)
	for _, e := range events {
		enc.Encode(e)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("trace: write %s: %w", path, err)
	}
	return nil
}

// RecordPort is a link.Port that logs what passes through it.
type RecordPort struct {
	link.Port
	rec *Recorder
}

func (p *RecordPort) Read(b []byte) (int, error) {
	n, err := p.Port.Read(b)
	if n > 0 {
		p.rec.add(Event{Op: OpRead, Hex: hex.EncodeToString(b[:n])})
	}
	return n, err
}

func (p *RecordPort) Write(b []byte) (int, error) {
	p.rec.add(Event{Op: OpWrite, Hex: hex.EncodeToString(b)})
	return p.Port.Write(b)
}

// Generation passes through a link.Supervised's reconnect generation (0 otherwise).
func (p *RecordPort) Generation() uint64 {
	if g, ok := p.Port.(interface{ Generation() uint64 }); ok {
		return g.Generation()
	}
	return 0
}

type recordPin struct {
	gpio.PinOut
	name string
	rec  *Recorder
}

func (p *recordPin) Out(l gpio.Level) error {
	p.rec.add(Event{Op: OpOut, Line: p.name, Level: l.String()})
	return p.PinOut.Out(l)
}

// ErrDiverged marks a playback that did not match its trace.
var ErrDiverged = errors.New("trace: playback diverged")

// Playback replays a trace in place of the hardware: reads return the recorded bytes in order,
// and writes and line levels must match the trace, event by event. The first mismatch fails the
// call (ErrDiverged) and every later one; Err and Done report it.
type Playback struct {
	Header Header
	// Wait bounds how long a write or a line change waits for the reader to consume the recorded
	// reads that precede it; 0 = 2s.
	Wait time.Duration

	mu     sync.Mutex
	cond   *sync.Cond
	events []Event
	data   [][]byte // decoded hex per event
	pos    int
	off    int // bytes of events[pos] already read
	err    error
	closed bool
}

// Load reads a trace file, bounded (infile.MaxTrace) and only if it is a regular file.
func Load(path string) (*Playback, error) {
	data, err := infile.Read(path, "trace", infile.MaxTrace)
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes the bytes of a trace file; path names it in errors.
func Parse(path string, data []byte) (*Playback, error) {
	pb := &Playback{}
	pb.cond = sync.NewCond(&pb.mu)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	line := 0
	for sc.Scan() {
		line++
		if line == 1 {
			if err := json.Unmarshal(sc.Bytes(), &pb.Header); err != nil || pb.Header.Trace != Schema {
				return nil, fmt.Errorf("trace: %s:1: not a %s header (%v)", path, Schema, err)
			}
			continue
		}
		var e Event
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("trace: %s:%d: %w", path, line, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("trace: %s:%d: trailing data after the event (one JSON object per line)", path, line)
		}
		var d []byte
		var err error
		switch e.Op {
		case OpRead, OpWrite:
			if d, err = hex.DecodeString(e.Hex); err != nil || len(d) == 0 {
				return nil, fmt.Errorf("trace: %s:%d: field hex: want non-empty hex bytes", path, line)
			}
		case OpOut:
			if e.Line == "" || (e.Level != "High" && e.Level != "Low") {
				return nil, fmt.Errorf("trace: %s:%d: an out event needs line and level High or Low", path, line)
			}
		default:
			return nil, fmt.Errorf("trace: %s:%d: field op: %q is not read, write or out", path, line, e.Op)
		}
		pb.events = append(pb.events, e)
		pb.data = append(pb.data, d)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("trace: %s: %w", path, err)
	}
	if line == 0 {
		return nil, fmt.Errorf("trace: %s: empty file", path)
	}
	return pb, nil
}

// Events returns the number of events and how many were replayed.
func (pb *Playback) Events() (replayed, total int) {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	return pb.pos, len(pb.events)
}

// Err returns the first divergence, if any.
func (pb *Playback) Err() error {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	return pb.err
}

// Done returns nil when every event was replayed without divergence.
func (pb *Playback) Done() error {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.err != nil {
		return pb.err
	}
	if pb.pos < len(pb.events) {
		return fmt.Errorf("%w: %d of %d events replayed; the code stopped before event %d (%s)", ErrDiverged, pb.pos, len(pb.events), pb.pos+1, pb.events[pb.pos])
	}
	return nil
}

func (pb *Playback) failLocked(format string, args ...any) error {
	if pb.err == nil {
		pb.err = fmt.Errorf("%w: event %d of %d: %s", ErrDiverged, pb.pos+1, len(pb.events), fmt.Sprintf(format, args...))
		pb.cond.Broadcast()
	}
	return pb.err
}

// waitLocked waits until the next event is op's turn, the trace ends, a divergence happens, or d
// passes. A read waits for the events before it (the code's writes and line changes); a write or
// a line change waits only for recorded reads before it, which the reader goroutine consumes.
func (pb *Playback) waitLocked(op string, d time.Duration) bool {
	blocked := func(e Event) bool {
		if op == OpRead {
			return e.Op != OpRead
		}
		return e.Op == OpRead
	}
	deadline := time.Now().Add(d)
	t := time.AfterFunc(d, func() { pb.mu.Lock(); pb.cond.Broadcast(); pb.mu.Unlock() })
	defer t.Stop()
	for pb.err == nil && !pb.closed && pb.pos < len(pb.events) && blocked(pb.events[pb.pos]) {
		if !time.Now().Before(deadline) {
			return false
		}
		pb.cond.Wait()
	}
	return pb.err == nil && !pb.closed && pb.pos < len(pb.events)
}

func (pb *Playback) wait() time.Duration {
	if pb.Wait > 0 {
		return pb.Wait
	}
	return 2 * time.Second
}

// Port returns the recorded port.
func (pb *Playback) Port() link.Port { return &playPort{pb} }

// Pin returns the recorded line name as a pin.
func (pb *Playback) Pin(name string) gpio.PinOut { return &playPin{pb: pb, name: name} }

type playPort struct{ pb *Playback }

func (p *playPort) Name() string { return p.pb.Header.Port }

// Read returns the next recorded read once every event before it was replayed; (0, nil) after the
// link's read timeout otherwise, like an idle line.
func (p *playPort) Read(b []byte) (int, error) {
	pb := p.pb
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.closed {
		return 0, fmt.Errorf("trace: read %s: port closed", pb.Header.Port)
	}
	if !pb.waitLocked(OpRead, link.DefaultReadTimeout) || pb.events[pb.pos].Op != OpRead {
		if pb.err != nil || pb.pos >= len(pb.events) {
			// Nothing more will ever arrive: idle like a quiet line instead of spinning the reader.
			pb.mu.Unlock()
			time.Sleep(link.DefaultReadTimeout)
			pb.mu.Lock()
		}
		return 0, nil
	}
	d := pb.data[pb.pos][pb.off:]
	n := copy(b, d)
	pb.off += n
	if pb.off == len(pb.data[pb.pos]) {
		pb.pos, pb.off = pb.pos+1, 0
		pb.cond.Broadcast()
	}
	return n, nil
}

func (p *playPort) Write(b []byte) (int, error) {
	pb := p.pb
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.err != nil {
		return 0, pb.err
	}
	got := hex.EncodeToString(b)
	if !pb.waitLocked(OpWrite, pb.wait()) {
		if pb.err != nil {
			return 0, pb.err
		}
		if pb.pos >= len(pb.events) {
			return 0, pb.failLocked("the code wrote %s after the end of the trace", got)
		}
		return 0, pb.failLocked("the code wrote %s, the trace has %s next (recorded reads not consumed in %s)", got, pb.events[pb.pos], pb.wait())
	}
	if e := pb.events[pb.pos]; e.Op != OpWrite || e.Hex != got {
		return 0, pb.failLocked("the code wrote %s, the trace has %s", got, e)
	}
	pb.pos++
	pb.cond.Broadcast()
	return len(b), nil
}

func (p *playPort) Close() error {
	p.pb.mu.Lock()
	p.pb.closed = true
	p.pb.cond.Broadcast()
	p.pb.mu.Unlock()
	return nil
}

type playPin struct {
	gpio.PinOut // nil: only Out and String are used by rig/lines
	pb          *Playback
	name        string
}

func (p *playPin) String() string { return "playback(" + p.name + ")" }

func (p *playPin) Out(l gpio.Level) error {
	pb := p.pb
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.err != nil {
		return pb.err
	}
	got := Event{Op: OpOut, Line: p.name, Level: l.String()}
	if !pb.waitLocked(OpOut, pb.wait()) {
		if pb.err != nil {
			return pb.err
		}
		if pb.pos >= len(pb.events) {
			return pb.failLocked("the code drove %s after the end of the trace", got)
		}
		return pb.failLocked("the code drove %s, the trace has %s next (recorded reads not consumed in %s)", got, pb.events[pb.pos], pb.wait())
	}
	if e := pb.events[pb.pos]; e.Op != OpOut || e.Line != got.Line || e.Level != got.Level {
		return pb.failLocked("the code drove %s, the trace has %s", got, e)
	}
	pb.pos++
	pb.cond.Broadcast()
	return nil
}
