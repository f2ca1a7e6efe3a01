package link

import (
	"io"
	"sync"
	"time"
)

// Fifo gives an in-memory link the receive buffer a real UART has: the device's writes land in a
// bounded buffer (a tty's is 4 KiB) and are delivered to the wrapped link by a goroutine, so a
// device never blocks on a host that is busy for a moment — as on the wire, bytes leave whether
// or not anyone reads them yet. Past the bound the newest bytes are dropped and counted (a
// receiver overrun). net.Pipe alone is synchronous: a fleet of 1,000 devices on a loaded machine
// would otherwise hit the emulator's write timeout and lose frames no real UART would lose.
type Fifo struct {
	rw   io.ReadWriter
	size int

	mu      sync.Mutex
	cond    *sync.Cond
	buf     []byte
	closed  bool
	overrun uint64
	done    chan struct{}
}

// fifoWriteTimeout bounds one write of the pump to the wrapped link, so that Close is not held
// by a host that does not read.
const fifoWriteTimeout = 100 * time.Millisecond

// NewFifo wraps rw with a size-byte buffer on the device's transmit side.
func NewFifo(rw io.ReadWriter, size int) *Fifo {
	f := &Fifo{rw: rw, size: size, done: make(chan struct{})}
	f.cond = sync.NewCond(&f.mu)
	go f.pump()
	return f
}

// Read passes through.
func (f *Fifo) Read(p []byte) (int, error) { return f.rw.Read(p) }

// SetReadDeadline forwards to the wrapped link when it supports deadlines.
func (f *Fifo) SetReadDeadline(t time.Time) error {
	if d, ok := f.rw.(interface{ SetReadDeadline(time.Time) error }); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}

// Write queues p; it never blocks. Bytes beyond the buffer are dropped and counted.
func (f *Fifo) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, io.ErrClosedPipe
	}
	room := f.size - len(f.buf)
	n := min(room, len(p))
	f.buf = append(f.buf, p[:n]...)
	f.overrun += uint64(len(p) - n)
	f.cond.Signal()
	return len(p), nil
}

// Overrun returns the bytes dropped because the buffer was full.
func (f *Fifo) Overrun() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.overrun
}

// Close stops the pump; bytes still buffered are discarded.
func (f *Fifo) Close() error {
	f.mu.Lock()
	f.closed = true
	f.cond.Broadcast()
	f.mu.Unlock()
	<-f.done
	return nil
}

func (f *Fifo) pump() {
	defer close(f.done)
	var writeBy time.Time // the write deadline set on rw; set again once half of it has gone
	for {
		f.mu.Lock()
		for len(f.buf) == 0 && !f.closed {
			f.cond.Wait()
		}
		if f.closed {
			f.mu.Unlock()
			return
		}
		chunk := f.buf
		f.buf = nil
		f.mu.Unlock()
		for len(chunk) > 0 {
			if d, ok := f.rw.(interface{ SetWriteDeadline(time.Time) error }); ok {
				if now := time.Now(); writeBy.Sub(now) < fifoWriteTimeout/2 {
					writeBy = now.Add(fifoWriteTimeout)
					d.SetWriteDeadline(writeBy)
				}
			}
			n, err := f.rw.Write(chunk)
			chunk = chunk[n:]
			if err != nil {
				f.mu.Lock()
				closed := f.closed
				f.mu.Unlock()
				if closed {
					return
				}
				// The host is not reading yet (a deadline passed): keep the bytes, retry.
			}
		}
	}
}
