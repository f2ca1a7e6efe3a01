package link

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// NewPipe returns an in-memory link: device is the emulated device's UART (a net.Conn with
// deadlines), host the Port a gateway reads. Fleets use it because go.bug.st/serial uses select(),
// which caps a process at 1024 descriptors, so a pty per device does not scale. net.Pipe is
// synchronous: a write waits for the other side to read.
func NewPipe(name string) (device net.Conn, host Port) {
	d, h := net.Pipe()
	return d, &pipePort{conn: h, name: name, readTimeout: PipeReadTimeout, writeTimeout: PipeWriteTimeout}
}

// PipeReadTimeout is a NewPipe port's read timeout: ten times a serial port's. Each timeout is a
// wake-up of the reader (and a timer of net.Pipe's): the 10,000 devices of a fleet, read by the
// relay and the gateway each, would otherwise wake 200,000 times a second, idle.
const PipeReadTimeout = 10 * DefaultReadTimeout

// PipeWriteTimeout bounds a write on a NewPipe port. net.Pipe hands bytes over only once the
// reader's goroutine runs: on a 2-core machine shared with other work, a fleet of thousands of
// devices sees that take over a second, while a stalled peer still fails the write.
const PipeWriteTimeout = 5 * time.Second

type pipePort struct {
	conn         net.Conn
	name         string
	readTimeout  time.Duration
	writeTimeout time.Duration
	readBy       time.Time // the read deadline set on conn (one reader: Read is not called concurrently)
}

func (p *pipePort) Name() string { return p.name }

// Read behaves like a serial port with a read timeout: (0, nil) when nothing arrived in time
// (within readTimeout/2 to readTimeout). The deadline is set again only once half of it has gone:
// each set arms a timer, and a busy link reads a frame at a time.
func (p *pipePort) Read(b []byte) (int, error) {
	if now := time.Now(); p.readBy.Sub(now) < p.readTimeout/2 {
		p.readBy = now.Add(p.readTimeout)
		if err := p.conn.SetReadDeadline(p.readBy); err != nil {
			return 0, fmt.Errorf("link: read %s: %w", p.name, err)
		}
	}
	n, err := p.conn.Read(b)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return n, nil
	}
	if err != nil {
		return n, fmt.Errorf("link: read %s: %w", p.name, err)
	}
	return n, nil
}

// Write gives up after PipeWriteTimeout: a UART never blocks its sender for long, a stalled pipe peer would.
func (p *pipePort) Write(b []byte) (int, error) {
	if err := p.conn.SetWriteDeadline(time.Now().Add(p.writeTimeout)); err != nil {
		return 0, fmt.Errorf("link: write %s: %w", p.name, err)
	}
	n, err := p.conn.Write(b)
	if err != nil {
		return n, fmt.Errorf("link: write %s: %w (is the device side being read?)", p.name, err)
	}
	return n, nil
}

func (p *pipePort) Close() error { return p.conn.Close() }
