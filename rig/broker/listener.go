package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pathrig/rig/rig/link"
)

// memBufSize is what one direction of an in-memory connection holds before its writer waits (a
// loopback socket's buffers are larger; MQTT packets here are small).
const memBufSize = 64 << 10

// listener implements mochi's listeners.Listener over a socket we bound ourselves, so the
// ephemeral port is known before Serve. Beyond mochi's own listeners it
//   - performs the TLS handshake explicitly, under a deadline, and counts failures;
//   - bounds accept → CONNECT with a deadline (mochi refreshes it from the keepalive afterwards);
//   - hands mochi whole packets only (packetConn), so a declared length costs nothing until sent;
//   - tracks every connection it handed out, so Close leaves nothing open even when a client was
//     being attached while mochi disconnected the others (mochi waits for all of them on Close).
type listener struct {
	id      string
	ln      net.Listener
	tlsCfg  *tls.Config // nil = plaintext
	timeout time.Duration
	// packetLimit is mochi's MaximumPacketSize in force (packetLimit(cfg)).
	packetLimit uint32
	counters    *counters
	log         *slog.Logger

	conns connSet[*trackedConn] // until mochi is done with each
}

var _ listeners.Listener = (*listener)(nil)

func newListener(id string, ln net.Listener, tlsCfg *tls.Config, timeout time.Duration, packetLimit uint32, c *counters, log *slog.Logger) *listener {
	return &listener{
		id: id, ln: ln, tlsCfg: tlsCfg, timeout: timeout, packetLimit: packetLimit, counters: c,
		log: log.With("listener", id),
	}
}

func (l *listener) ID() string { return l.id }

func (l *listener) Address() string { return l.ln.Addr().String() }

func (l *listener) Protocol() string {
	if l.tlsCfg != nil {
		return "mqtts"
	}
	return "mqtt"
}

// Init is a no-op: the socket is bound in Start so that bind errors surface there.
func (l *listener) Init(*slog.Logger) error { return nil }

// Serve accepts connections until Close.
func (l *listener) Serve(establish listeners.EstablishFn) {
	var backoff time.Duration
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if l.conns.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait and retry rather than spin or give up,
			// as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.log.Warn("accept failed; retrying", "error", err, "backoff", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		tc := &trackedConn{Conn: conn, l: l}
		if !l.conns.track(tc) {
			_ = conn.Close()
			return
		}
		go l.handle(tc, establish)
	}
}

func (l *listener) handle(tc *trackedConn, establish listeners.EstablishFn) {
	defer l.conns.done()
	deadline := time.Now().Add(l.timeout)
	_ = tc.SetDeadline(deadline)
	var conn net.Conn = tc
	if l.tlsCfg != nil {
		tconn := tls.Server(tc, l.tlsCfg)
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := tconn.HandshakeContext(ctx)
		cancel()
		if err != nil {
			l.counters.handshakeFailures.Add(1)
			l.log.Debug("tls handshake failed", "remote", tc.RemoteAddr().String(), "error", err)
			_ = tconn.Close()
			return
		}
		conn = tconn // hooks read the peer certificate from the *tls.Conn
	}
	conn = newPacketConn(conn, l.packetLimit) // mochi allocates only for bytes received
	if err := establish(l.id, conn); err != nil {
		if errors.Is(err, packets.ErrPacketTooLarge) { // before or after CONNECT
			l.counters.oversize.Add(1)
		}
		l.log.Debug("client ended", "remote", tc.RemoteAddr().String(), "error", err)
	}
	_ = conn.Close()
}

// Close stops accepting, lets mochi disconnect its clients, closes whatever is still open and
// waits for the connection goroutines.
func (l *listener) Close(closeClients listeners.CloseFn) {
	if l.conns.shut() {
		return
	}
	_ = l.ln.Close()
	closeClients(l.id)
	l.conns.closeAll(func(c *trackedConn) io.Closer { return c })
}

// trackedConn removes itself from its listener when closed, by mochi, by TLS or by us.
type trackedConn struct {
	net.Conn
	l    *listener
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.conns.untrack(c) })
	return err
}

// dial hands the listener one end of an in-memory connection and returns the other. That end
// goes through what a socket's does (TLS handshake under the connect deadline, whole packets,
// tracking for Close) and then to establish; only the descriptor is saved.
func (l *listener) dial(establish listeners.EstablishFn) (net.Conn, error) {
	client, server := link.MemPipe(memBufSize)
	tc := &trackedConn{Conn: server, l: l}
	if !l.conns.track(tc) {
		client.Close()
		server.Close()
		return nil, fmt.Errorf("broker: listener %s is closed: %w", l.id, net.ErrClosed)
	}
	go l.handle(tc, establish)
	return client, nil
}
