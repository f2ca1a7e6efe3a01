package protocol

import "sync"

// Requests pairs each COMMAND a host sends with the RESPONSE that answers it, by request id (the
// command frame's seq). Every host of the link uses it: the gateway, and `rig device`. The zero
// value is ready to use.
type Requests struct {
	mu      sync.Mutex
	next    uint32
	started bool
	waiting map[uint32]chan Response
}

// start makes the first id base (0 → 1) unless ids were handed out already.
func (q *Requests) start(base uint32) {
	q.mu.Lock()
	if !q.started {
		q.started = true
		if base > 0 {
			q.next = base - 1
		}
	}
	q.mu.Unlock()
}

// Begin allocates a request id and returns the channel its response will arrive on. The caller
// calls end when it stops waiting, answered or not.
func (q *Requests) Begin() (id uint32, resp <-chan Response, end func()) {
	ch := make(chan Response, 1) // Deliver never blocks: one response per request
	q.mu.Lock()
	if q.waiting == nil {
		q.waiting = map[uint32]chan Response{}
	}
	q.next++
	id = q.next
	q.waiting[id] = ch
	q.mu.Unlock()
	return id, ch, func() {
		q.mu.Lock()
		delete(q.waiting, id)
		q.mu.Unlock()
	}
}

// Deliver hands r to the command waiting for it and reports whether one was (false for a late,
// duplicate or unsolicited response).
func (q *Requests) Deliver(r Response) bool {
	q.mu.Lock()
	ch, ok := q.waiting[r.ReqSeq]
	delete(q.waiting, r.ReqSeq)
	q.mu.Unlock()
	if ok {
		ch <- r
	}
	return ok
}
