// Package mqttws carries MQTT over WebSocket (MQTT 5.0 §6, MQTT 3.1.1 §6): each MQTT byte
// stream travels in binary WebSocket messages under the "mqtt" subprotocol. It owns the one
// adapter from a gorilla/websocket connection to a net.Conn, used on both sides: the reference
// broker's WebSocket listener and the identity probes that dial a WebSocket listener.
package mqttws

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Subprotocol is the WebSocket subprotocol of MQTT.
const Subprotocol = "mqtt"

// MaxMessage bounds one WebSocket message read from a peer (a peer declaring more is cut off):
// the MQTT packet limits apply inside, this bounds the framing around them.
const MaxMessage = 1 << 20

// Conn is a WebSocket connection read and written as a byte stream: a write is one binary
// message, a read continues across message boundaries. A text message is an error (MQTT over
// WebSocket is binary only).
type Conn struct {
	ws *websocket.Conn
	r  io.Reader
	// wmu serialises writes: gorilla/websocket allows one writer at a time, and mochi writes a
	// client's packets from more than one goroutine (its write loop, a takeover, shutdown).
	wmu sync.Mutex
	// tls is the state of the TLS session under the WebSocket, when there is one.
	tls *tls.ConnectionState
}

var _ net.Conn = (*Conn)(nil)

// ErrText is a text message where MQTT over WebSocket sends binary ones only.
var ErrText = errors.New("mqttws: text WebSocket message (MQTT over WebSocket is binary only)")

// New wraps ws. state, when not nil, is the TLS session under it (ConnectionState returns it).
func New(ws *websocket.Conn, state *tls.ConnectionState) *Conn {
	ws.SetReadLimit(MaxMessage)
	return &Conn{ws: ws, tls: state}
}

// Read reads the next bytes of the stream.
func (c *Conn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			op, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if op != websocket.BinaryMessage {
				return 0, ErrText
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			err = nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// Write sends p as one binary message.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close closes the underlying connection (no close handshake: MQTT ends the session itself).
func (c *Conn) Close() error { return c.ws.NetConn().Close() }

func (c *Conn) LocalAddr() net.Addr  { return c.ws.LocalAddr() }
func (c *Conn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }
func (c *Conn) SetDeadline(t time.Time) error {
	return errors.Join(c.ws.SetReadDeadline(t), c.SetWriteDeadline(t))
}
func (c *Conn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.SetWriteDeadline(t)
}

// ConnectionState returns the TLS session under the WebSocket (zero without TLS), so that the
// broker's hooks read a client certificate the same way for mqtts and wss.
func (c *Conn) ConnectionState() tls.ConnectionState {
	if c.tls == nil {
		return tls.ConnectionState{}
	}
	return *c.tls
}

// Dial opens an MQTT-over-WebSocket connection to url (ws:// or wss://) within ctx. tlsConf is
// used for wss (nil: the system roots). The HTTP response is returned when the upgrade was
// refused, for the evidence.
func Dial(ctx context.Context, url string, tlsConf *tls.Config) (*Conn, *http.Response, error) {
	d := websocket.Dialer{
		Subprotocols:     []string{Subprotocol},
		TLSClientConfig:  tlsConf,
		HandshakeTimeout: 30 * time.Second, // ctx bounds it first
		NetDialContext:   (&net.Dialer{}).DialContext,
	}
	ws, resp, err := d.DialContext(ctx, url, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, resp, fmt.Errorf("mqttws: dial %s: %w", url, err)
	}
	var state *tls.ConnectionState
	if tc, ok := ws.NetConn().(*tls.Conn); ok {
		st := tc.ConnectionState()
		state = &st
	}
	return New(ws, state), resp, nil
}

// Upgrader accepts MQTT-over-WebSocket connections on any path. Origin is not checked: devices
// are not browsers, and authentication is MQTT's.
func Upgrader() *websocket.Upgrader {
	return &websocket.Upgrader{
		Subprotocols: []string{Subprotocol},
		CheckOrigin:  func(*http.Request) bool { return true },
	}
}
