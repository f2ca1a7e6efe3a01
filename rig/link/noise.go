package link

import (
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pathrig/rig/firmware/protocol"
)

// Noisy is the UART line between a device and the gateway's side of its link, with faults the rig
// switches on and off while traffic flows: byte corruption at a rate, a stalled line, a cut line
// and bursts of garbage. It wraps what travels device → gateway (the rig's UART relay writes each
// frame through it whole) and passes reads through. Deadlines are forwarded when the wrapped link
// has them.
//
// It keeps its own record of what it damaged — which frames (type, boot, seq) a corrupted byte
// landed in — so the rig can tell frames lost to an injected line fault from frames lost anywhere
// else. A real UART gives no such record; the gateway's bad-frame counters are its only trace.
type Noisy struct {
	rw io.ReadWriter

	mu       sync.Mutex
	rate     float64 // probability that a byte is corrupted
	stalled  bool
	cut      bool
	cutBytes uint64
	timeout  time.Duration // per write, when the link has deadlines
	held     []byte        // bytes written while the line was stalled, delivered when it resumes
	damaged  []Damage
	garbage  uint64
	heldMax  int
	rnd      *rand.Rand
	stallCnt uint64
	last     time.Time // last write by the device
}

// LastWrite is when the device last wrote to the line (zero before its first write).
func (n *Noisy) LastWrite() time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.last
}

// Damage is one frame the line damaged: a corrupted byte landed in it, or the line was cut.
type Damage struct {
	Type  protocol.Type `json:"type"`
	Boot  uint32        `json:"boot"`
	Seq   uint32        `json:"seq"`
	At    time.Time     `json:"at"`
	Fault string        `json:"fault"` // "corrupt" or "cut"
}

// Damage causes.
const (
	DamageCorrupt = "corrupt"
	DamageCut     = "cut"
)

// NewNoisy wraps rw (the device side of a link) with a clean line.
func NewNoisy(rw io.ReadWriter, seed uint64) *Noisy {
	return &Noisy{rw: rw, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Read passes through: the faults are on the device's transmit line.
func (n *Noisy) Read(p []byte) (int, error) { return n.rw.Read(p) }

// SetReadDeadline forwards to the wrapped link when it supports deadlines.
func (n *Noisy) SetReadDeadline(t time.Time) error {
	if d, ok := n.rw.(interface{ SetReadDeadline(time.Time) error }); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}

// SetWriteTimeout bounds every write on the line from now on (0: none), when the wrapped link
// has deadlines: each write gets its own deadline, so a line that timed out once is not left with
// an expired one for the next.
func (n *Noisy) SetWriteTimeout(d time.Duration) {
	n.mu.Lock()
	n.timeout = d
	n.mu.Unlock()
}

// writeLocked writes b on the wrapped link, with a fresh deadline when a write timeout is set.
func (n *Noisy) writeLocked(b []byte) (int, error) {
	if dl, ok := n.rw.(interface{ SetWriteDeadline(time.Time) error }); ok && n.timeout > 0 {
		_ = dl.SetWriteDeadline(time.Now().Add(n.timeout))
	}
	return n.rw.Write(b)
}

// Write sends p (one encoded frame, as the emulator writes them) over the faulty line.
func (n *Noisy) Write(p []byte) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.last = time.Now()
	if n.cut {
		n.cutBytes += uint64(len(p))
		n.recordLocked(p, DamageCut)
		return len(p), nil
	}
	out := p
	if n.rate > 0 {
		out = n.corruptLocked(p)
	}
	if n.stalled {
		n.held = append(n.held, out...)
		n.heldMax = max(n.heldMax, len(n.held))
		return len(p), nil
	}
	if _, err := n.writeLocked(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// corruptLocked flips bytes of p at the configured rate. The frame delimiters (0x00) are spared
// and no byte becomes 0x00, so one corrupted frame never takes its neighbour with it: the damage
// stays inside the frame, where the receiver's CRC must catch it.
func (n *Noisy) corruptLocked(p []byte) []byte {
	var out []byte
	for i, b := range p {
		if b == protocol.Delimiter || n.rnd.Float64() >= n.rate {
			continue
		}
		if out == nil {
			out = append([]byte(nil), p...)
		}
		for {
			x := b ^ byte(1+n.rnd.IntN(255))
			if x != protocol.Delimiter {
				out[i] = x
				break
			}
		}
	}
	if out == nil {
		return p
	}
	n.recordLocked(p, DamageCorrupt)
	return out
}

// recordLocked notes the frames of p (as sent) as damaged by fault.
func (n *Noisy) recordLocked(p []byte, fault string) {
	now := time.Now()
	var dec protocol.Decoder
	dec.Feed(p, func(f protocol.Frame, err error) {
		if err == nil {
			n.damaged = append(n.damaged, Damage{Type: f.Type, Boot: f.Boot, Seq: f.Seq, At: now, Fault: fault})
		}
	})
}

// Cut disconnects the line (true) or reconnects it (false): what is sent while it is cut is lost.
func (n *Noisy) Cut(on bool) {
	n.mu.Lock()
	n.cut = on
	n.mu.Unlock()
}

// IsCut reports whether the line is cut.
func (n *Noisy) IsCut() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cut
}

// Inject writes b onto the line as it is, between two frames (a stalled line holds it, a cut one
// drops it): the malformed-frame probe's way onto the UART.
func (n *Noisy) Inject(b []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.cut:
		return nil
	case n.stalled:
		n.held = append(n.held, b...)
		return nil
	}
	_, err := n.writeLocked(b)
	return err
}

// SetCorruption sets the probability that each byte the device sends is corrupted (0 stops it).
func (n *Noisy) SetCorruption(rate float64) {
	n.mu.Lock()
	n.rate = rate
	n.mu.Unlock()
}

// Stall holds the line: what the device writes from now on is delivered when Resume is called.
func (n *Noisy) Stall() {
	n.mu.Lock()
	if !n.stalled {
		n.stallCnt++
	}
	n.stalled = true
	n.mu.Unlock()
}

// Resume releases a stalled line, delivering what was held in one burst.
func (n *Noisy) Resume() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stalled = false
	held := n.held
	n.held = nil
	if len(held) == 0 {
		return nil
	}
	_, err := n.writeLocked(held)
	return err
}

// Garbage writes size random bytes between two frames, then a delimiter so the receiver
// resynchronises before the next frame (line noise on an idle UART, ended by the idle line).
func (n *Noisy) Garbage(size int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	b := make([]byte, size+1)
	for i := range size {
		b[i] = byte(1 + n.rnd.IntN(255))
	}
	b[size] = protocol.Delimiter
	n.garbage += uint64(size)
	if n.stalled {
		n.held = append(n.held, b...)
		return nil
	}
	_, err := n.writeLocked(b)
	return err
}

// NoiseStats is what the line did.
type NoiseStats struct {
	Damaged      []Damage `json:"damaged"`       // frames a corrupted byte landed in
	GarbageBytes uint64   `json:"garbage_bytes"` // random bytes injected between frames
	Stalls       uint64   `json:"stalls"`        // times the line was stalled
	MaxHeld      int      `json:"max_held"`      // most bytes held back by a stall
	CutBytes     uint64   `json:"cut_bytes"`     // bytes lost while the line was cut
}

// Stats returns a snapshot.
func (n *Noisy) Stats() NoiseStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return NoiseStats{Damaged: append([]Damage(nil), n.damaged...), GarbageBytes: n.garbage, Stalls: n.stallCnt, MaxHeld: n.heldMax, CutBytes: n.cutBytes}
}
