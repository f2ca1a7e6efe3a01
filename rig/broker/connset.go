package broker

import (
	"io"
	"sync"
)

// connSet is a listener's bookkeeping of the connections it accepted: which are open, whether
// the listener is closing, and a wait group that holds Close until mochi is done with each. The
// TCP/TLS listener and the WebSocket listener share it.
type connSet[C comparable] struct {
	mu     sync.Mutex
	closed bool
	conns  map[C]struct{}
	wg     sync.WaitGroup // one per tracked connection, until its goroutine calls done
}

// shut marks the set closed and reports whether it already was (Close runs once).
func (s *connSet[C]) shut() (already bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	already, s.closed = s.closed, true
	return already
}

func (s *connSet[C]) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track adds c unless the listener is closing; the caller's goroutine calls done when mochi
// has finished with it.
func (s *connSet[C]) track(c C) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.conns == nil {
		s.conns = map[C]struct{}{}
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

// untrack forgets c (it was closed); it does not release the wait group.
func (s *connSet[C]) untrack(c C) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// done releases the wait group for one tracked connection.
func (s *connSet[C]) done() { s.wg.Done() }

// closeAll closes every connection still open (closing one may untrack it, hence the copy)
// and waits until each connection's goroutine is done.
func (s *connSet[C]) closeAll(closer func(C) io.Closer) {
	s.mu.Lock()
	open := make([]C, 0, len(s.conns))
	for c := range s.conns {
		open = append(open, c)
	}
	s.mu.Unlock()
	for _, c := range open {
		_ = closer(c).Close()
	}
	s.wg.Wait()
}
