package gateway

import "sync"

// queue is the bounded FIFO of telemetry between the UART reader and the publisher. It holds up
// to max records but allocates only for what it holds: its slice grows on demand and is released
// once drained after a burst, so an idle gateway of a fleet costs a few hundred bytes instead of
// max records (a channel of DefaultQueueSize was about 160 KB per gateway, allocated up front).
type queue struct {
	mu    sync.Mutex
	items []pending
	head  int // items[head:] are queued
	max   int
	ready chan struct{} // holds a token while the queue may be non-empty
}

// keepCap is the capacity a drained queue keeps (steady state: a frame or two in flight).
const keepCap = 16

func newQueue(max int) *queue { return &queue{max: max, ready: make(chan struct{}, 1)} }

// push appends p; false when max records are already queued (the caller counts the drop).
func (q *queue) push(p pending) bool {
	q.mu.Lock()
	if len(q.items)-q.head >= q.max {
		q.mu.Unlock()
		return false
	}
	if q.head > 0 && len(q.items) == cap(q.items) {
		// Reuse the room popped records left before growing the slice.
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, p)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// pop removes the oldest record; false when the queue is empty.
func (q *queue) pop() (pending, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.items) {
		return pending{}, false
	}
	p := q.items[q.head]
	q.head++
	if q.head == len(q.items) {
		q.head = 0
		if cap(q.items) > keepCap {
			q.items = nil // a burst is over: give its memory back
		} else {
			q.items = q.items[:0]
		}
	}
	return p, true
}

// len is the number of records queued.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head
}

// wait is ready to receive when a record may have been pushed since the last pop found the queue
// empty.
func (q *queue) wait() <-chan struct{} { return q.ready }
