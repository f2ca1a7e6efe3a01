package link

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// MemPipe returns the two ends of an in-memory connection (a net.Conn with deadlines). Unlike
// net.Pipe, a write returns once its bytes are buffered — up to size bytes per direction, then
// the writer waits for the reader, as on a socket: with net.Pipe's synchronous writes a TLS
// server sending its alert while the client sends CONNECT block each other until a deadline.
// It runs no goroutine, and a direction holds a buffer only while it holds bytes. NewUART is
// the same with a tty's dropping receive buffer toward the host (a fleet's in-memory UARTs);
// NewPipe stays on net.Pipe: the relay's tests synchronise on its hand-over.
func MemPipe(size int) (client, server net.Conn) {
	up, down := newHalf(size), newHalf(size)
	return &memConn{rx: down, tx: up, local: memAddr("memory-client"), remote: memAddr("memory-broker")},
		&memConn{rx: up, tx: down, local: memAddr("memory-broker"), remote: memAddr("memory-client")}
}

type memAddr string

func (a memAddr) Network() string { return "memory" }
func (a memAddr) String() string  { return string(a) }

// half is one direction: a writer's bytes waiting for the reader.
type half struct {
	max     int
	mu      sync.Mutex
	buf     []byte
	drop    bool          // a UART's receive buffer: past max, bytes are dropped and counted, the writer never waits
	overrun uint64        // bytes dropped (drop only)
	wclosed bool          // the writer's end closed: the reader gets EOF once drained
	rclosed bool          // the reader's end closed: writes fail
	data    chan struct{} // signalled when bytes arrive or the state changes
	space   chan struct{} // signalled when bytes leave or the state changes
}

func newHalf(max int) *half {
	return &half{max: max, data: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

type memConn struct {
	rx, tx        *half
	local, remote memAddr

	dmu           sync.Mutex
	readDeadline  time.Time
	writeDeadline time.Time
	closeOnce     sync.Once
	// A blocked Read (Write) waits on the conn's read (write) timer, made once and reset: a new
	// timer per wait was a third of a fleet's link CPU. A concurrent second waiter makes its own.
	rtimer, wtimer timerSlot
}

// timerSlot is a reusable timer that one waiter at a time may hold.
type timerSlot struct {
	busy atomic.Bool
	t    *time.Timer
}

// waitSignal blocks until c is signalled or the deadline passes; false on the deadline. It
// waits on slot's timer (made on first use, then reset: Go ≥ 1.23 leaves no stale tick), or on
// a timer of its own while another waiter holds the slot.
func waitSignal(c chan struct{}, deadline time.Time, slot *timerSlot) bool {
	if deadline.IsZero() {
		<-c
		return true
	}
	d := time.Until(deadline)
	if d <= 0 {
		return false
	}
	var t *time.Timer
	if slot.busy.CompareAndSwap(false, true) {
		defer slot.busy.Store(false)
		if slot.t == nil {
			slot.t = time.NewTimer(d)
		} else {
			slot.t.Reset(d)
		}
		t = slot.t
	} else {
		t = time.NewTimer(d)
	}
	defer t.Stop()
	select {
	case <-c:
		return true
	case <-t.C:
		return false
	}
}

func (c *memConn) deadlines() (r, w time.Time) {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	return c.readDeadline, c.writeDeadline
}

func (c *memConn) Read(p []byte) (int, error) {
	h := c.rx
	for {
		if rd, _ := c.deadlines(); !rd.IsZero() && !time.Now().Before(rd) {
			return 0, os.ErrDeadlineExceeded
		}
		h.mu.Lock()
		switch {
		case h.rclosed:
			h.mu.Unlock()
			return 0, net.ErrClosed
		case len(h.buf) > 0:
			n := copy(p, h.buf)
			h.buf = h.buf[n:]
			if len(h.buf) == 0 {
				h.buf = nil // give the burst's memory back
			}
			h.mu.Unlock()
			signal(h.space)
			return n, nil
		case h.wclosed:
			h.mu.Unlock()
			return 0, io.EOF
		}
		h.mu.Unlock()
		if len(p) == 0 {
			return 0, nil
		}
		rd, _ := c.deadlines()
		if !rd.IsZero() && !time.Now().Before(rd) {
			return 0, os.ErrDeadlineExceeded
		}
		if !waitSignal(h.data, rd, &c.rtimer) {
			if r, _ := c.deadlines(); r.Equal(rd) {
				return 0, os.ErrDeadlineExceeded
			}
		}
	}
}

func (c *memConn) Write(p []byte) (int, error) {
	h := c.tx
	written := 0
	for {
		if _, wd := c.deadlines(); !wd.IsZero() && !time.Now().Before(wd) {
			return written, os.ErrDeadlineExceeded
		}
		h.mu.Lock()
		switch {
		case h.wclosed:
			h.mu.Unlock()
			return written, net.ErrClosed
		case h.rclosed:
			h.mu.Unlock()
			return written, io.ErrClosedPipe
		}
		if room := h.max - len(h.buf); room > 0 {
			n := min(room, len(p)-written)
			h.buf = append(h.buf, p[written:written+n]...)
			written += n
		}
		if h.drop {
			h.overrun += uint64(len(p) - written)
			written = len(p)
		}
		h.mu.Unlock()
		signal(h.data)
		if written == len(p) {
			return written, nil
		}
		_, wd := c.deadlines()
		if !wd.IsZero() && !time.Now().Before(wd) {
			return written, os.ErrDeadlineExceeded
		}
		if !waitSignal(h.space, wd, &c.wtimer) {
			if _, w := c.deadlines(); w.Equal(wd) {
				return written, os.ErrDeadlineExceeded
			}
		}
	}
}

// Close ends both directions of this end: the peer reads EOF after what was written, and its
// writes fail.
func (c *memConn) Close() error {
	c.closeOnce.Do(func() {
		c.tx.mu.Lock()
		c.tx.wclosed = true
		c.tx.mu.Unlock()
		signal(c.tx.data)
		signal(c.tx.space)
		c.rx.mu.Lock()
		c.rx.rclosed = true
		c.rx.buf = nil
		c.rx.mu.Unlock()
		signal(c.rx.data)
		signal(c.rx.space)
	})
	return nil
}

func (c *memConn) LocalAddr() net.Addr  { return c.local }
func (c *memConn) RemoteAddr() net.Addr { return c.remote }

func (c *memConn) SetDeadline(t time.Time) error {
	c.dmu.Lock()
	c.readDeadline, c.writeDeadline = t, t
	c.dmu.Unlock()
	signal(c.rx.data) // blocked calls re-read their deadline
	signal(c.tx.space)
	return nil
}

func (c *memConn) SetReadDeadline(t time.Time) error {
	c.dmu.Lock()
	c.readDeadline = t
	c.dmu.Unlock()
	signal(c.rx.data)
	return nil
}

func (c *memConn) SetWriteDeadline(t time.Time) error {
	c.dmu.Lock()
	c.writeDeadline = t
	c.dmu.Unlock()
	signal(c.tx.space)
	return nil
}
