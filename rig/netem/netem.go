// Package netem owns the network between the gateway and the broker in fault scenarios: an
// in-process TCP proxy on loopback whose conditions — cut, latency, loss, bandwidth cap — the
// rig changes while traffic flows. The gateway dials the proxy; the proxy dials the broker.
//
// What each condition does to a TCP stream (the gateway sees what it would see in the field):
//   - Cut resets every open connection and refuses new ones until lifted (a link down with the
//     peer's stack answering RST; a silent black hole would only be noticed after the MQTT
//     keep-alive, far longer than a test);
//   - Latency delays every chunk by that much in each direction (round trip = 2 × latency);
//   - Loss is the probability that a chunk is lost on the wire; TCP retransmits it, so the
//     application sees the chunk — and everything behind it — late by one retransmission timeout
//     (RTO, 200 ms as Linux's minimum), never missing or reordered;
//   - RateBytes caps each direction's throughput in bytes per second.
package netem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// RTO is the delay a lost chunk adds (TCP's retransmission timeout floor on Linux).
const RTO = 200 * time.Millisecond

// Conditions of the emulated network. The zero value is a perfect network.
type Conditions struct {
	Cut       bool          `json:"cut,omitempty"`
	Latency   time.Duration `json:"latency,omitempty"`    // one way
	Loss      float64       `json:"loss,omitempty"`       // 0..1, per chunk
	RateBytes int64         `json:"rate_bytes,omitempty"` // per direction; 0 = unlimited
}

// Validate reports a condition outside its range.
func (c Conditions) Validate() error {
	switch {
	case c.Latency < 0:
		return fmt.Errorf("netem: latency %s is negative", c.Latency)
	case c.Loss < 0 || c.Loss >= 1:
		return fmt.Errorf("netem: loss %g: want a probability in [0, 1)", c.Loss)
	case c.RateBytes < 0:
		return fmt.Errorf("netem: rate %d bytes/s is negative", c.RateBytes)
	}
	return nil
}

// Stats counts what the proxy did.
type Stats struct {
	Accepted  uint64 `json:"accepted"`   // client connections proxied
	Refused   uint64 `json:"refused"`    // client connections refused during a cut
	Reset     uint64 `json:"reset"`      // connections reset by a cut
	BytesUp   uint64 `json:"bytes_up"`   // client → server
	BytesDown uint64 `json:"bytes_down"` // server → client
	Lost      uint64 `json:"lost"`       // chunks delayed by a retransmission
}

// Proxy forwards TCP connections from its listener to a target address.
type Proxy struct {
	ln     net.Listener
	target string
	log    *slog.Logger
	cond   atomic.Pointer[Conditions]

	mu     sync.Mutex
	conns  map[*pair]struct{}
	closed bool
	wg     sync.WaitGroup

	accepted, refused, reset, up, down, lost atomic.Uint64

	// chance draws the number a chunk's loss is decided by (rand.Float64; a test fixes it).
	chance func() float64
}

type pair struct{ client, server net.Conn }

func (p *pair) close() {
	p.client.Close()
	p.server.Close()
}

// Start listens on listen (e.g. 127.0.0.1:0) and forwards to target until Close or ctx ends.
func Start(ctx context.Context, listen, target string, log *slog.Logger) (*Proxy, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("netem: listen %s: %w (use 127.0.0.1:0)", listen, err)
	}
	p := &Proxy{ln: ln, target: target, log: log.With("component", "netem", "target", target), conns: map[*pair]struct{}{}, chance: rand.Float64}
	p.cond.Store(&Conditions{})
	p.wg.Add(1)
	go p.accept()
	context.AfterFunc(ctx, func() { p.Close() })
	return p, nil
}

// Addr returns the proxy's listening address: give it to the client instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Set changes the conditions from now on. A cut resets the open connections.
func (p *Proxy) Set(c Conditions) error {
	if err := c.Validate(); err != nil {
		return err
	}
	p.cond.Store(&c)
	if c.Cut {
		p.mu.Lock()
		for pr := range p.conns {
			if tc, ok := pr.client.(*net.TCPConn); ok {
				tc.SetLinger(0) // RST, not FIN: the link went away
			}
			pr.close()
			p.reset.Add(1)
		}
		p.mu.Unlock()
	}
	p.log.Info("network conditions", "cut", c.Cut, "latency", c.Latency, "loss", c.Loss, "rate_bytes", c.RateBytes)
	return nil
}

// Conditions returns the conditions in force.
func (p *Proxy) Conditions() Conditions { return *p.cond.Load() }

// Stats returns a snapshot of the counters.
func (p *Proxy) Stats() Stats {
	return Stats{Accepted: p.accepted.Load(), Refused: p.refused.Load(), Reset: p.reset.Load(),
		BytesUp: p.up.Load(), BytesDown: p.down.Load(), Lost: p.lost.Load()}
}

// Close stops listening, closes every connection and waits for the forwarders.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	err := p.ln.Close()
	for pr := range p.conns {
		pr.close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.log.Warn("netem: accept", "err", err)
			}
			return
		}
		if p.cond.Load().Cut {
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			c.Close()
			p.refused.Add(1)
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		// The far side is down: the client sees its connection closed, as behind a NAT.
		client.Close()
		return
	}
	pr := &pair{client: client, server: server}
	p.mu.Lock()
	if p.closed || p.cond.Load().Cut {
		p.mu.Unlock()
		pr.close()
		return
	}
	p.conns[pr] = struct{}{}
	p.mu.Unlock()
	p.accepted.Add(1)
	var wg sync.WaitGroup
	wg.Go(func() { p.forward(server, client, &p.up); pr.close() })
	wg.Go(func() { p.forward(client, server, &p.down); pr.close() })
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, pr)
	p.mu.Unlock()
}

// chunk is bytes read at one instant, due for delivery at due.
type chunk struct {
	b   []byte
	due time.Time
}

// forward copies src to dst through a delay line: a reader stamps each chunk with its delivery
// time (latency, plus an RTO if lost), a writer delivers in order and paces to the rate cap.
func (p *Proxy) forward(dst, src net.Conn, count *atomic.Uint64) {
	line := make(chan chunk, 256)
	go func() {
		defer close(line)
		last := time.Time{}
		for {
			buf := make([]byte, 16<<10)
			n, err := src.Read(buf)
			if n > 0 {
				c := p.cond.Load()
				due := time.Now().Add(c.Latency)
				if c.Loss > 0 && p.chance() < c.Loss {
					due = due.Add(RTO)
					p.lost.Add(1)
				}
				if due.Before(last) {
					due = last // TCP delivers in order: nothing overtakes a retransmission
				}
				last = due
				line <- chunk{buf[:n], due}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range line {
		if d := time.Until(c.due); d > 0 {
			time.Sleep(d)
		}
		if rate := p.cond.Load().RateBytes; rate > 0 {
			time.Sleep(time.Duration(float64(len(c.b)) / float64(rate) * float64(time.Second)))
		}
		if _, err := dst.Write(c.b); err != nil {
			src.Close()
			for range line {
			}
			return
		}
		count.Add(uint64(len(c.b)))
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}
