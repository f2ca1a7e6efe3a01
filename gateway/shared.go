package gateway

import (
	"context"
	"errors"
	"sync"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Shared is one MQTT session that the gateways of a group of devices publish through: what a
// multi-device gateway does, one broker connection (one TLS session, one client certificate,
// one login under the gateway's own identity) carrying every device's telemetry under that
// device's topic. Each device keeps its own Gateway — its own read loop, queue, identity,
// counters and publish tokens — so every frame is still accounted for per device; only the
// connection is shared. The broker must let the gateway's identity publish under its devices'
// topics (rig/broker's Config.Gateways).
//
// The session dials on the first publisher's demand and stays up (paho reconnects it) until
// Close, which the owner calls once every gateway of the group has returned from Run.
type Shared struct {
	dialer *Gateway // dials with the session's configuration; never Run

	mu      sync.Mutex
	started bool
	conn    mqtt.Client
	ready   chan struct{} // closed when client is set (or the session gave up)
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	closed  bool
}

// NewShared validates the session's configuration: BrokerURL, TLS, Username/Password, ClientID
// (required: the gateway's identity), Dial, timeouts and Backoff as in Config; the serial and
// spool fields are not used.
func NewShared(cfg Config) (*Shared, error) {
	if cfg.ClientID == "" {
		return nil, errors.New("gateway: a shared session needs Config.ClientID (the gateway's identity)")
	}
	if cfg.SpoolPath != "" {
		return nil, errors.New("gateway: a shared session does not publish from a spool (run spooled gateways with a session each)")
	}
	cfg.Port = "session:" + cfg.ClientID // a name for the logs; never opened
	cfg.Link = nil
	g, err := New(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Shared{dialer: g, ready: make(chan struct{}), ctx: ctx, cancel: cancel, done: make(chan struct{})}, nil
}

// client returns the connected session, dialing it on the first call; nil when ctx ended first
// or the session is closed.
func (s *Shared) client(ctx context.Context) mqtt.Client {
	s.mu.Lock()
	if !s.started && !s.closed {
		s.started = true
		go func() {
			defer close(s.done)
			c := s.dialer.connect(s.ctx, s.dialer.cfg.ClientID)
			s.mu.Lock()
			s.conn = c
			s.mu.Unlock()
			close(s.ready)
		}()
	}
	s.mu.Unlock()
	select {
	case <-s.ready:
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.conn
	case <-ctx.Done():
		return nil
	}
}

// Connected reports whether the session's MQTT connection is up.
func (s *Shared) Connected() bool { return s.dialer.Stats().Connected }

// ClientID is the session's identity at the broker.
func (s *Shared) ClientID() string { return s.dialer.cfg.ClientID }

// Close disconnects the session (paho gets 250 ms for what is in flight) and stops a dial under
// way. Call it after the group's gateways returned from Run: their last tokens use the session.
func (s *Shared) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	started := s.started
	s.mu.Unlock()
	s.cancel()
	if !started {
		return
	}
	<-s.done
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c != nil {
		c.Disconnect(250)
		s.dialer.setConnected(false)
	}
}
