package relay

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/pathrig/rig/firmware/protocol"
)

// Reading is what one TELEMETRY frame carried.
type Reading struct {
	TempCentiC   int16  `json:"temp_centi_c"`
	SupplyMv     uint16 `json:"supply_mv"`
	DeviceTimeMs uint32 `json:"device_time_ms"`
}

// Tapped is one reading with the time the relay read it off the device's UART.
type Tapped struct {
	Reading
	At time.Time
}

// Hello is a HELLO the device sent.
type Hello struct {
	Boot uint32
	protocol.Hello
	At time.Time
}

// maxSpan bounds how far past the first tapped seq of a boot the tap keeps readings (a device
// counting wildly cannot make it grow without end); beyond it frames are only counted.
const maxSpan = 1 << 22

// Tap keeps every TELEMETRY reading and HELLO the device sent, per boot, as the relay read them. A
// seq read twice (the device's REPLAY) keeps its first reading and time; Count counts both.
type Tap struct {
	now    func() time.Time
	mu     sync.Mutex
	boots  map[uint32]*bootTap
	hellos []Hello
	subs   []chan Hello
}

type bootTap struct {
	base     uint32 // first seq tapped
	readings []Tapped
	seen     []bool
	count    uint64
	beyond   uint64
}

func newTap(now func() time.Time) *Tap { return &Tap{now: now, boots: map[uint32]*bootTap{}} }

func (t *Tap) telemetry(boot, seq uint32, r Reading) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.boots[boot]
	if b == nil {
		b = &bootTap{base: seq}
		t.boots[boot] = b
	}
	b.count++
	if seq < b.base {
		// Earlier than the first frame tapped (reordered on the device's side): shift.
		shift := int(b.base - seq)
		if len(b.readings)+shift > maxSpan {
			b.beyond++
			return
		}
		b.readings = append(make([]Tapped, shift), b.readings...)
		b.seen = append(make([]bool, shift), b.seen...)
		b.base = seq
	}
	i := int(seq - b.base)
	if i >= maxSpan {
		b.beyond++
		return
	}
	for len(b.readings) <= i {
		b.readings = append(b.readings, Tapped{})
		b.seen = append(b.seen, false)
	}
	if b.seen[i] {
		// Sent again (REPLAY after a gateway restart): the reading and the time are the first
		// send's, so latency counts from when the device first sent it.
		return
	}
	b.readings[i] = Tapped{Reading: r, At: t.now()}
	b.seen[i] = true
}

func (t *Tap) hello(boot uint32, h protocol.Hello) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ev := Hello{Boot: boot, Hello: h, At: t.now()}
	t.hellos = append(t.hellos, ev)
	for _, ch := range t.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// Reading returns what the device sent as seq of boot, if the relay read it.
func (t *Tap) Reading(boot, seq uint32) (Tapped, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.boots[boot]
	if b == nil || seq < b.base || int(seq-b.base) >= len(b.seen) || !b.seen[seq-b.base] {
		return Tapped{}, false
	}
	return b.readings[seq-b.base], true
}

// Count returns how many TELEMETRY frames of boot the relay read.
func (t *Tap) Count(boot uint32) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if b := t.boots[boot]; b != nil {
		return b.count
	}
	return 0
}

// Boots lists the boots the relay saw telemetry or a HELLO of, ascending.
func (t *Tap) Boots() []uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	set := map[uint32]bool{}
	for b := range t.boots {
		set[b] = true
	}
	for _, h := range t.hellos {
		set[h.Boot] = true
	}
	out := make([]uint32, 0, len(set))
	for b := range set {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Hellos returns the HELLOs seen so far.
func (t *Tap) Hellos() []Hello {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Hello(nil), t.hellos...)
}

// WaitHello waits for a HELLO read after since (one already seen counts) until ctx ends.
func (t *Tap) WaitHello(ctx context.Context, since time.Time) (Hello, error) {
	ch := make(chan Hello, 4)
	t.mu.Lock()
	for _, h := range t.hellos {
		if !h.At.Before(since) {
			t.mu.Unlock()
			return h, nil
		}
	}
	t.subs = append(t.subs, ch)
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		for i, c := range t.subs {
			if c == ch {
				t.subs = append(t.subs[:i], t.subs[i+1:]...)
				break
			}
		}
		t.mu.Unlock()
	}()
	select {
	case h := <-ch:
		return h, nil
	case <-ctx.Done():
		return Hello{}, ctx.Err()
	}
}

// End returns one past the highest seq of boot the relay read (0 when none).
func (t *Tap) End(boot uint32) uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.boots[boot]
	if b == nil {
		return 0
	}
	for i := len(b.seen) - 1; i >= 0; i-- {
		if b.seen[i] {
			return b.base + uint32(i) + 1
		}
	}
	return 0
}
