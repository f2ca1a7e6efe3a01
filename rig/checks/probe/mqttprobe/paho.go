package mqttprobe

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pathrig/rig/rig/checks/probe"
	"github.com/pathrig/rig/rig/checks/probe/tlsprobe"
)

// Step is one step of a paho probe as written to the evidence.
type Step struct {
	Step       string    `json:"step"`
	Started    time.Time `json:"started"`
	DurationMs float64   `json:"duration_ms"`
	Result     string    `json:"result"`
	Detail     string    `json:"detail,omitempty"`
}

// Client is one paho connection of a probe identity. It never reconnects and never retries:
// each probe is one bounded attempt, and a connection the broker drops stays dropped so that the
// drop is what the probe observes.
type Client struct {
	Identity string `json:"identity"`
	ClientID string `json:"client_id"`
	Endpoint string `json:"endpoint"`
	TLS      bool   `json:"tls"`
	Steps    []Step `json:"steps"`

	// Paho is the connection; the probe subscribes and publishes through it.
	Paho mqtt.Client `json:"-"`
	// Timeout bounds each of the probe's waits.
	Timeout time.Duration `json:"-"`

	lost     chan struct{} // closed when paho reports the connection lost
	lostOnce sync.Once
	lostErr  error // set before lost is closed
}

// Identity is who a probe connects as.
type Identity struct {
	Name     string           // label in evidence, e.g. "probe-a"
	ClientID string           // MQTT client id; "" for a fresh random one
	Username string           // may be empty
	Password string           // may be empty; secret
	Cert     *tls.Certificate // client certificate for mTLS, may be nil
}

// Dial connects id to addr with its credentials and client certificate; over TLS (useTLS)
// with the tlsprobe client configuration, SNI serverName. timeout bounds each step. The client id is
// the identity's own when it has one (brokers commonly bind client ids to credentials), else a
// fresh random one. The returned probe must be closed, also when err is not nil.
func Dial(ctx context.Context, log *slog.Logger, id Identity, addr string, useTLS bool, serverName string, timeout time.Duration) (*Client, error) {
	p := &Client{Identity: id.Name, ClientID: id.ClientID, Endpoint: addr, TLS: useTLS, lost: make(chan struct{}), Timeout: timeout}
	if p.ClientID == "" {
		p.ClientID = "rig-probe-" + probe.RandomHex(6)
	}
	scheme := "tcp://"
	opts := mqtt.NewClientOptions()
	if useTLS {
		scheme = "tls://"
		conf := tlsprobe.Config(addr, serverName, tls.VersionTLS10, tls.VersionTLS13, nil)
		if id.Cert != nil {
			conf.Certificates = []tls.Certificate{*id.Cert}
		}
		opts.SetTLSConfig(conf)
	}
	opts.AddBroker(scheme + addr).
		SetClientID(p.ClientID).
		SetUsername(id.Username).
		SetPassword(id.Password).
		SetProtocolVersion(4). // explicit, or paho silently retries with MQTT 3.1
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetConnectTimeout(timeout).
		SetWriteTimeout(timeout).
		SetPingTimeout(timeout).
		SetKeepAlive(30 * time.Second).
		SetDialer(&net.Dialer{Timeout: timeout}).
		SetOrderMatters(false).
		// Whatever a granted wildcard subscription brings in is dropped unread: the probe proves
		// access, it does not collect other devices' data.
		SetDefaultPublishHandler(func(mqtt.Client, mqtt.Message) {}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			p.lostOnce.Do(func() {
				p.lostErr = err
				close(p.lost)
			})
		})
	p.Paho = mqtt.NewClient(opts)
	step := p.Begin("connect")
	tok := p.Paho.Connect()
	if !WaitToken(ctx, tok, timeout+timeout/2) {
		step.End("timeout", fmt.Sprintf("no CONNACK within %s", timeout))
		return p, fmt.Errorf("no CONNACK within %s", timeout)
	}
	if err := tok.Error(); err != nil {
		ct := tok.(*mqtt.ConnectToken)
		step.End("refused", fmt.Sprintf("return code %d: %v", ct.ReturnCode(), err))
		return p, err
	}
	step.End("connected", "")
	log.Debug("probe identity connected", "identity", id.Name, "endpoint", addr, "tls", useTLS)
	return p, nil
}

// StepTimer records one step.
type StepTimer struct {
	p     *Client
	i     int
	start time.Time
}

// Begin records the start of a step; End on the result records its outcome.
func (p *Client) Begin(name string) StepTimer {
	now := time.Now()
	p.Steps = append(p.Steps, Step{Step: name, Started: now.UTC()})
	return StepTimer{p: p, i: len(p.Steps) - 1, start: now}
}

// End records the step's result.
func (s StepTimer) End(result, detail string) {
	st := &s.p.Steps[s.i]
	st.DurationMs, st.Result, st.Detail = probe.MsSince(s.start), result, detail
}

// Dropped reports whether the broker closed the connection, waiting up to grace for paho to
// notice (its connection-lost handler runs after the failed token completes).
func (p *Client) Dropped(grace time.Duration) (bool, string) {
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.lost:
		return true, fmt.Sprintf("connection lost: %v", p.lostErr)
	case <-t.C:
	}
	if !p.Paho.IsConnectionOpen() {
		return true, "connection closed"
	}
	return false, ""
}

// Close disconnects politely when still connected; paho returns after the DISCONNECT is written
// or 100 ms, whichever is first.
func (p *Client) Close() {
	if p.Paho != nil && p.Paho.IsConnectionOpen() {
		p.Paho.Disconnect(100)
	}
}

// WaitToken waits for tok within timeout, or until ctx ends; it reports whether tok completed.
func WaitToken(ctx context.Context, tok mqtt.Token, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}
