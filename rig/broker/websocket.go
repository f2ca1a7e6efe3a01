package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pathrig/rig/rig/mqttws"
)

// wsListener serves MQTT over WebSocket (ws:// or, with a tls.Config, wss://) on a socket bound
// in Start. Every client goes through the same hooks as on the other listeners: the guard's
// authentication, identity rules and ACL apply to it unchanged, and a wss client certificate is
// read from the TLS session under the WebSocket.
type wsListener struct {
	id          string
	ln          net.Listener
	tlsCfg      *tls.Config
	timeout     time.Duration
	packetLimit uint32
	counters    *counters
	log         *slog.Logger
	srv         *http.Server
	upgrader    *websocket.Upgrader

	conns     connSet[*mqttws.Conn] // until mochi is done with each
	mu        sync.Mutex            // guards establish
	establish listeners.EstablishFn
}

var _ listeners.Listener = (*wsListener)(nil)

func newWSListener(id string, ln net.Listener, tlsCfg *tls.Config, timeout time.Duration, packetLimit uint32, c *counters, log *slog.Logger) *wsListener {
	l := &wsListener{id: id, ln: ln, tlsCfg: tlsCfg, timeout: timeout, packetLimit: packetLimit, counters: c,
		log: log.With("listener", id), upgrader: mqttws.Upgrader()}
	l.srv = &http.Server{
		Handler:           http.HandlerFunc(l.handle),
		ReadHeaderTimeout: timeout,
		ReadTimeout:       timeout, // bounds the TLS handshake and the upgrade request
		WriteTimeout:      timeout,
		TLSConfig:         tlsCfg,
		ErrorLog:          slog.NewLogLogger(l.log.Handler(), slog.LevelDebug),
	}
	return l
}

func (l *wsListener) ID() string      { return l.id }
func (l *wsListener) Address() string { return l.ln.Addr().String() }
func (l *wsListener) Protocol() string {
	if l.tlsCfg != nil {
		return "wss"
	}
	return "ws"
}

// URL is the listener's address as a client dials it.
func (l *wsListener) URL() string { return l.Protocol() + "://" + l.Address() + "/mqtt" }

// Init is a no-op: the socket is bound in Start.
func (l *wsListener) Init(*slog.Logger) error { return nil }

// Serve serves HTTP (upgraded to WebSocket) until Close.
func (l *wsListener) Serve(establish listeners.EstablishFn) {
	l.mu.Lock()
	l.establish = establish
	l.mu.Unlock()
	ln := l.ln
	if l.tlsCfg != nil {
		// net/http completes each handshake in the connection's goroutine, under ReadTimeout.
		ln = tls.NewListener(l.ln, l.tlsCfg)
	}
	if err := l.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !l.conns.isClosed() {
		l.log.Warn("websocket listener stopped", "error", err)
	}
}

func (l *wsListener) handle(w http.ResponseWriter, r *http.Request) {
	ws, err := l.upgrader.Upgrade(w, r, nil)
	if err != nil {
		l.log.Debug("websocket upgrade refused", "remote", r.RemoteAddr, "error", err)
		return
	}
	conn := mqttws.New(ws, r.TLS)
	if !l.conns.track(conn) {
		_ = conn.Close()
		return
	}
	defer func() { l.conns.untrack(conn); l.conns.done() }()
	_ = conn.SetDeadline(time.Now().Add(l.timeout)) // accept → CONNECT; mochi refreshes it from the keepalive
	l.mu.Lock()
	establish := l.establish
	l.mu.Unlock()
	if err := establish(l.id, newPacketConn(conn, l.packetLimit)); err != nil {
		if errors.Is(err, packets.ErrPacketTooLarge) {
			l.counters.oversize.Add(1)
		}
		l.log.Debug("client ended", "remote", r.RemoteAddr, "error", err)
	}
	_ = conn.Close()
}

// Close stops accepting, lets mochi disconnect its clients, closes whatever is still open and
// waits for the handlers.
func (l *wsListener) Close(closeClients listeners.CloseFn) {
	if l.conns.shut() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	_ = l.srv.Shutdown(ctx) // closes the socket once served; upgraded (hijacked) connections are ours
	cancel()
	_ = l.ln.Close() // when Serve never ran
	closeClients(l.id)
	l.conns.closeAll(func(c *mqttws.Conn) io.Closer { return c })
}
