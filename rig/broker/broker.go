// Package broker owns the reference MQTT broker of the rig: a mochi-mqtt v2 server started in
// process on loopback and configured from a hardening profile — plaintext and/or TLS listeners,
// anonymous or per-device authentication, certificate-bound identities, a per-device topic ACL and a
// packet size limit. The broker must really behave as configured: the checks that judge it probe it
// over the network like any other broker.
//
// What mochi does with what we configure (read in mochi v2.7.9; the v3.1.1 cases are asserted in
// the tests with paho):
//   - a SUBSCRIBE refused by OnACLCheck gets SUBACK 0x87 (v5) or 0x80 (v3.1.1) for that filter;
//   - a PUBLISH refused by OnACLCheck is dropped silently at QoS 0; at QoS 1/2 a v3.1.1 client is
//     disconnected (it has no negative PUBACK), a v5 client gets PUBACK/PUBREC 0x87;
//   - a packet whose remaining length + 1 exceeds MaximumPacketSize ends the connection while its
//     fixed header is read, before the body is read and without a DISCONNECT packet (v3 or v5),
//     and the limit applies to CONNECT too. mochi does not announce the limit to v5 clients; our
//     guard hook adds Maximum Packet Size to their CONNACK;
//   - for QoS 1 the PUBACK goes back to the publisher before subscribers (inline ones included)
//     are handed the message: a broker PUBACK is not an end-to-end acknowledgement.
//   - mochi allocates the remaining length a fixed header declares before reading the body (up
//     to 256 MiB from 5 bytes). Our listeners hand it whole packets only (packetConn), and a
//     profile without a packet limit still gets HardMaxPacketSize.
//   - a CONNECT with a client id already connected ends the old session before the new one gets
//     its CONNACK (inheritClientSession), unless a hook refused the CONNECT first: binding client
//     ids to identities in OnConnectAuthenticate (Identity.BoundClientID) prevents a takeover;
//   - a Last Will is published without asking OnACLCheck (sendLWT), while a retained PUBLISH is
//     checked before it is stored: Identity.WillACL refuses a CONNECT whose will the ACL denies;
//   - PINGRESP is written directly, past the client's outbound queue of PUBLISHes.
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
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/pathrig/rig/rig/secevent"
	"github.com/pathrig/rig/rig/telemetry"
)

// Defaults for the optional Config fields.
const (
	// DefaultMaxPendingWrites bounds each client's outbound queue (mochi's
	// MaximumClientWritesPending). mochi allocates that channel per client up front: its default,
	// 8192, costs 64 KiB per connection (64 MiB for a 1000-device fleet on a Pi); 1024 costs 8 KiB
	// and still holds about a minute of 1 Hz telemetry from 16 devices for a `#` subscriber. Past it
	// mochi drops QoS 0 *and* QoS 1 messages to that client (the QoS 1 drop is logged at debug level
	// only); Stats().MessagesDropped counts them. The bridge subscribes inline and is not subject to
	// this limit.
	DefaultMaxPendingWrites = 1024
	// DefaultMaxInflight is mochi's own default: a cap on a per-client map that costs nothing until
	// used. Past it QoS 1/2 messages to that client are dropped with one WARN line each.
	DefaultMaxInflight = 8192
	// DefaultConnectTimeout bounds accept → TLS handshake → CONNECT. mochi sets no deadline before
	// the CONNECT packet, so without this a silent peer holds a goroutine and a socket forever.
	DefaultConnectTimeout = 10 * time.Second
)

// Config is the broker part of a hardening profile.
type Config struct {
	PlainAddr string      // "" = no plaintext listener; "127.0.0.1:0" = ephemeral
	TLSAddr   string      // "" = no TLS listener
	TLS       *tls.Config // server cert, MinVersion/MaxVersion, ClientAuth + ClientCAs (mTLS); cloned
	// AllowAnonymous accepts a CONNECT without credentials. With Users empty it also accepts any
	// credentials (nothing to check them against), as Mosquitto's allow_anonymous does.
	AllowAnonymous bool
	// Users maps username → password (per-device credentials). When not empty, a client that
	// sends credentials must match, and a client without credentials needs AllowAnonymous: a
	// client certificate does not replace the password ("password+cert").
	Users map[string]string
	// CertIdentity: when a client certificate was presented, it must be verified and both username
	// and client id must equal its subject CN. With Users empty, such a certificate authenticates
	// the client on its own.
	CertIdentity bool
	// DeviceACL: identity X may publish and subscribe only under <prefix>/X/ (like Mosquitto's
	// `pattern readwrite <prefix>/%c/#`); everything else ($SYS, `#`, other devices, shared
	// subscriptions) is refused. The identity is the username, or the client id when no username was sent.
	DeviceACL bool
	// Gateways extends DeviceACL with gateway identities (gatewayacl.go): identity → the device
	// ids whose topics it may publish and subscribe under, as each of those devices may. A
	// gateway identity that is also a device id is refused at Start.
	Gateways map[string][]string
	// WebSocketAddr opens an MQTT-over-WebSocket listener ("" = none) under the same hooks as the
	// others; with WebSocketTLS it is wss:// (cloned; e.g. the TLS listener's configuration).
	WebSocketAddr string
	WebSocketTLS  *tls.Config
	// Identity binds client ids to identities, locks out repeated failed logins and holds Last
	// Wills to the ACL (identity.go).
	Identity IdentityConfig
	// Events receives the broker's security events (refused logins, lockouts, refused takeovers,
	// ACL denials); nil = none.
	Events *secevent.Log
	// MaxPacketSize is the profile's packet limit; 0 = none, but the broker never reads a packet
	// over HardMaxPacketSize (nor a larger MaxPacketSize).
	MaxPacketSize uint32

	TopicPrefix      string           // default telemetry.TopicPrefix
	MaxPendingWrites int32            // per-client outbound queue; 0 = DefaultMaxPendingWrites
	MaxInflight      uint16           // per-client unacknowledged QoS>0 messages; 0 = DefaultMaxInflight
	ConnectTimeout   time.Duration    // accept → CONNECT; 0 = DefaultConnectTimeout
	Now              func() time.Time // clock for certificate records; time.Now if nil
	Log              *slog.Logger     // nil = discard
	// CredentialLog, when set, is a debug log that writes the username and password of every
	// CONNECT: the finding the exposed profile reproduces. Nil in every hardened profile.
	CredentialLog *slog.Logger
}

// Broker is a running reference broker.
type Broker struct {
	srv       *mqtt.Server
	plain     *listener
	tls       *listener
	ws        *wsListener
	guard     *guard
	certs     *certRecorder
	counters  *counters
	closeOnce sync.Once
	stopCtx   func() bool
	log       *slog.Logger
	cfg       Config // as started, for Restart
}

// counters are the broker's own observations, beside mochi's system.Info.
type counters struct {
	handshakeFailures atomic.Int64
	authFailures      atomic.Int64
	aclDenials        atomic.Int64
	oversize          atomic.Int64
}

// Stats is a snapshot of what the broker observed.
type Stats struct {
	ClientsConnected  int64 // currently connected clients (the inline client excluded)
	MessagesReceived  int64 // PUBLISH packets received from clients
	MessagesDropped   int64 // deliveries dropped because a client's pending writes were full (QoS 0 and 1)
	InflightDropped   int64 // QoS>0 deliveries dropped because a client's inflight limit was reached
	HandshakeFailures int64 // TLS handshakes that failed or timed out
	AuthFailures      int64 // CONNECTs refused by authentication
	ACLDenials        int64 // publishes and subscriptions refused by the ACL
	Oversize          int64 // connections ended for a packet over MaxPacketSize (or HardMaxPacketSize)
}

// Start validates cfg, binds its listeners and serves until Close or until ctx ends.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = log.With("component", "broker")
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.TopicPrefix == "" {
		cfg.TopicPrefix = telemetry.TopicPrefix
	}
	if cfg.MaxPendingWrites == 0 {
		cfg.MaxPendingWrites = DefaultMaxPendingWrites
	}
	if cfg.MaxInflight == 0 {
		cfg.MaxInflight = DefaultMaxInflight
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}

	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = packetLimit(cfg)
	caps.MaximumClientWritesPending = cfg.MaxPendingWrites
	caps.MaximumInflight = cfg.MaxInflight
	srv := mqtt.New(&mqtt.Options{
		Capabilities: caps,
		InlineClient: true, // the bridge subscribes in process
		Logger:       log,
	})

	b := &Broker{srv: srv, counters: &counters{}, log: log, cfg: cfg}
	b.guard = newGuard(cfg, b.counters)
	b.guard.srv = srv
	b.certs = &certRecorder{now: cfg.Now, seen: map[certKey]*certEntry{}}
	for _, h := range []mqtt.Hook{b.guard, b.certs} {
		if err := srv.AddHook(h, nil); err != nil {
			return nil, fmt.Errorf("broker: add hook %s: %w", h.ID(), err)
		}
	}

	var lc net.ListenConfig
	if cfg.PlainAddr != "" {
		ln, err := lc.Listen(ctx, "tcp", cfg.PlainAddr)
		if err != nil {
			return nil, fmt.Errorf("broker: listen %s (plaintext MQTT): %w (pick a free port or 127.0.0.1:0)", cfg.PlainAddr, err)
		}
		b.plain = newListener("plain", ln, nil, cfg.ConnectTimeout, caps.MaximumPacketSize, b.counters, log)
	}
	if cfg.TLSAddr != "" {
		ln, err := lc.Listen(ctx, "tcp", cfg.TLSAddr)
		if err != nil {
			if b.plain != nil {
				_ = b.plain.ln.Close()
			}
			return nil, fmt.Errorf("broker: listen %s (MQTT over TLS): %w (pick a free port or 127.0.0.1:0)", cfg.TLSAddr, err)
		}
		b.tls = newListener("tls", ln, cfg.TLS.Clone(), cfg.ConnectTimeout, caps.MaximumPacketSize, b.counters, log)
	}
	if cfg.WebSocketAddr != "" {
		ln, err := lc.Listen(ctx, "tcp", cfg.WebSocketAddr)
		if err != nil {
			b.closeListeners()
			return nil, fmt.Errorf("broker: listen %s (MQTT over WebSocket): %w (pick a free port or 127.0.0.1:0)", cfg.WebSocketAddr, err)
		}
		b.ws = newWSListener("ws", ln, cfg.WebSocketTLS.Clone(), cfg.ConnectTimeout, caps.MaximumPacketSize, b.counters, log)
	}
	for _, l := range b.listeners() {
		if err := srv.AddListener(l); err != nil {
			b.closeListeners()
			return nil, fmt.Errorf("broker: add listener %s: %w", l.ID(), err)
		}
	}
	if err := srv.Serve(); err != nil {
		b.closeListeners()
		return nil, fmt.Errorf("broker: serve: %w", err)
	}
	b.stopCtx = context.AfterFunc(ctx, func() { _ = b.Close() })
	log.Info("broker started", "plain", b.PlainAddr(), "tls", b.TLSAddr(), "websocket", b.WebSocketURL(),
		"anonymous", cfg.AllowAnonymous, "users", len(cfg.Users), "cert_identity", cfg.CertIdentity,
		"device_acl", cfg.DeviceACL, "max_packet_size", cfg.MaxPacketSize,
		"client_id_bound", cfg.Identity.BoundClientID, "lockout_attempts", cfg.Identity.LockoutAttempts, "will_acl", cfg.Identity.WillACL)
	return b, nil
}

func (cfg *Config) validate() error {
	if cfg.PlainAddr == "" && cfg.TLSAddr == "" && cfg.WebSocketAddr == "" {
		return errors.New("broker: no listener configured (set PlainAddr, TLSAddr and/or WebSocketAddr, e.g. 127.0.0.1:0)")
	}
	if cfg.WebSocketTLS != nil && cfg.WebSocketTLS.ClientAuth >= tls.VerifyClientCertIfGiven && cfg.WebSocketTLS.ClientCAs == nil {
		return fmt.Errorf("broker: WebSocket listener %s verifies client certificates but ClientCAs is nil (set ClientCAs to the device CA pool)", cfg.WebSocketAddr)
	}
	if err := cfg.Identity.validate(); err != nil {
		return err
	}
	if err := validateGateways(cfg.Gateways); err != nil {
		return err
	}
	if cfg.TLSAddr != "" {
		if cfg.TLS == nil {
			return fmt.Errorf("broker: TLS listener %s without a tls.Config (set Config.TLS with the server certificate)", cfg.TLSAddr)
		}
		if len(cfg.TLS.Certificates) == 0 && cfg.TLS.GetCertificate == nil && cfg.TLS.GetConfigForClient == nil {
			return fmt.Errorf("broker: TLS listener %s has no server certificate (set TLS.Certificates)", cfg.TLSAddr)
		}
		if cfg.TLS.ClientAuth >= tls.VerifyClientCertIfGiven && cfg.TLS.ClientCAs == nil {
			return fmt.Errorf("broker: TLS listener %s verifies client certificates but ClientCAs is nil, which would trust the system roots (set ClientCAs to the device CA pool)", cfg.TLSAddr)
		}
	}
	if cfg.MaxPendingWrites < 0 {
		return fmt.Errorf("broker: MaxPendingWrites %d is negative (0 = default %d)", cfg.MaxPendingWrites, DefaultMaxPendingWrites)
	}
	if cfg.ConnectTimeout < 0 {
		return fmt.Errorf("broker: ConnectTimeout %v is negative (0 = default %v)", cfg.ConnectTimeout, DefaultConnectTimeout)
	}
	for u := range cfg.Users {
		if u == "" {
			return errors.New("broker: Users has an empty username (remove it; anonymous access is AllowAnonymous)")
		}
	}
	return nil
}

// PlainAddr returns the bound host:port of the plaintext listener, "" if none.
func (b *Broker) PlainAddr() string {
	if b.plain == nil {
		return ""
	}
	return b.plain.Address()
}

// Dial opens an in-memory connection to the TLS listener (tls) or the plaintext one, for clients
// in the same process: a fleet's gateways, which would otherwise hold two descriptors each
// (10,000 devices: 20,000, the hard limit of many machines). The server end is handled exactly as
// an accepted socket (TLS handshake, limits, ACL, tracking); the caller runs the client's TLS.
func (b *Broker) Dial(tls bool) (net.Conn, error) {
	l := b.plain
	if tls {
		l = b.tls
	}
	if l == nil {
		kind := "plaintext"
		if tls {
			kind = "TLS"
		}
		return nil, fmt.Errorf("broker: no %s listener to dial in memory", kind)
	}
	return l.dial(b.srv.EstablishConnection)
}

// TLSAddr returns the bound host:port of the TLS listener, "" if none.
func (b *Broker) TLSAddr() string {
	if b.tls == nil {
		return ""
	}
	return b.tls.Address()
}

// WebSocketURL returns the ws:// or wss:// URL of the WebSocket listener, "" if none.
func (b *Broker) WebSocketURL() string {
	if b.ws == nil {
		return ""
	}
	return b.ws.URL()
}

// listeners are the broker's bound listeners.
func (b *Broker) listeners() []listeners.Listener {
	var out []listeners.Listener
	if b.plain != nil {
		out = append(out, b.plain)
	}
	if b.tls != nil {
		out = append(out, b.tls)
	}
	if b.ws != nil {
		out = append(out, b.ws)
	}
	return out
}

// Server returns the mochi server, for inline subscriptions (Options.InlineClient is set).
func (b *Broker) Server() *mqtt.Server { return b.srv }

// PresentedCerts returns the client certificates presented during TLS handshakes that reached
// CONNECT, one entry per (client id, certificate), sorted by client id then first sighting.
func (b *Broker) PresentedCerts() []PresentedCert { return b.certs.list() }

// Stats returns a snapshot of the broker's counters.
func (b *Broker) Stats() Stats {
	info := b.srv.Info
	return Stats{
		ClientsConnected:  atomic.LoadInt64(&info.ClientsConnected),
		MessagesReceived:  atomic.LoadInt64(&info.MessagesReceived),
		MessagesDropped:   atomic.LoadInt64(&info.MessagesDropped),
		InflightDropped:   atomic.LoadInt64(&info.InflightDropped),
		HandshakeFailures: b.counters.handshakeFailures.Load(),
		AuthFailures:      b.counters.authFailures.Load(),
		ACLDenials:        b.counters.aclDenials.Load(),
		Oversize:          b.counters.oversize.Load(),
	}
}

// Close disconnects every client, closes the listeners and waits for their goroutines. It is safe
// to call more than once; the ports are free when it returns.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		if b.stopCtx != nil {
			b.stopCtx()
		}
		_ = b.srv.Close() // closes our listeners (and their connections) and waits for the clients
		b.log.Info("broker stopped")
	})
	return nil
}

// closeListeners releases bound sockets when Start fails half way.
func (b *Broker) closeListeners() {
	for _, l := range b.listeners() {
		l.Close(func(string) {})
	}
}
