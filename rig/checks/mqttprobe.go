package checks

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// probeStep is one step of a paho probe as written to the evidence.
type probeStep struct {
	Step       string    `json:"step"`
	Started    time.Time `json:"started"`
	DurationMs float64   `json:"duration_ms"`
	Result     string    `json:"result"`
	Detail     string    `json:"detail,omitempty"`
}

// mqttProbe is one paho connection of a probe identity. It never reconnects and never retries:
// each probe is one bounded attempt, and a connection the broker drops stays dropped so that the
// drop is what the probe observes.
type mqttProbe struct {
	Identity string      `json:"identity"`
	ClientID string      `json:"client_id"`
	Endpoint string      `json:"endpoint"`
	TLS      bool        `json:"tls"`
	Steps    []probeStep `json:"steps"`

	client   mqtt.Client
	lost     chan struct{} // closed when paho reports the connection lost
	lostOnce sync.Once
	lostErr  error // set before lost is closed
	timeout  time.Duration
}

// probeEndpoint picks the endpoint a probe identity connects to: the TLS one when named, since that
// is where devices are meant to connect, else the plaintext one.
func probeEndpoint(b Broker) (addr string, useTLS bool) {
	if b.TLS != "" {
		return b.TLS, true
	}
	return b.Plain, false
}

// connectProbe connects id to addr with its credentials and client certificate. The client id is
// the identity's own when it has one (brokers commonly bind client ids to credentials), else a
// fresh random one. The returned probe must be closed, also when err is not nil.
func connectProbe(ctx context.Context, env *Env, id Identity, addr string, useTLS bool) (*mqttProbe, error) {
	timeout := env.Limits.ProbeTimeout
	p := &mqttProbe{Identity: id.Name, ClientID: id.ClientID, Endpoint: addr, TLS: useTLS, lost: make(chan struct{}), timeout: timeout}
	if p.ClientID == "" {
		p.ClientID = "rig-probe-" + randomHex(6)
	}
	scheme := "tcp://"
	opts := mqtt.NewClientOptions()
	if useTLS {
		scheme = "tls://"
		conf := probeTLSConfig(addr, env.Targets.Broker.ServerName, tls.VersionTLS10, tls.VersionTLS13, nil)
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
	p.client = mqtt.NewClient(opts)
	step := p.begin("connect")
	tok := p.client.Connect()
	if !waitToken(ctx, tok, timeout+timeout/2) {
		step.end("timeout", fmt.Sprintf("no CONNACK within %s", timeout))
		return p, fmt.Errorf("no CONNACK within %s", timeout)
	}
	if err := tok.Error(); err != nil {
		ct := tok.(*mqtt.ConnectToken)
		step.end("refused", fmt.Sprintf("return code %d: %v", ct.ReturnCode(), err))
		return p, err
	}
	step.end("connected", "")
	env.Log.Debug("probe identity connected", "identity", id.Name, "endpoint", addr, "tls", useTLS)
	return p, nil
}

// stepTimer records one step.
type stepTimer struct {
	p     *mqttProbe
	i     int
	start time.Time
}

func (p *mqttProbe) begin(name string) stepTimer {
	now := time.Now()
	p.Steps = append(p.Steps, probeStep{Step: name, Started: now.UTC()})
	return stepTimer{p: p, i: len(p.Steps) - 1, start: now}
}

func (s stepTimer) end(result, detail string) {
	st := &s.p.Steps[s.i]
	st.DurationMs, st.Result, st.Detail = msSince(s.start), result, detail
}

// dropped reports whether the broker closed the connection, waiting up to grace for paho to
// notice (its connection-lost handler runs after the failed token completes).
func (p *mqttProbe) dropped(grace time.Duration) (bool, string) {
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.lost:
		return true, fmt.Sprintf("connection lost: %v", p.lostErr)
	case <-t.C:
	}
	if !p.client.IsConnectionOpen() {
		return true, "connection closed"
	}
	return false, ""
}

// close disconnects politely when still connected; paho returns after the DISCONNECT is written
// or 100 ms, whichever is first.
func (p *mqttProbe) close() {
	if p.client != nil && p.client.IsConnectionOpen() {
		p.client.Disconnect(100)
	}
}

// waitToken waits for tok within timeout, or until ctx ends; it reports whether tok completed.
func waitToken(ctx context.Context, tok mqtt.Token, timeout time.Duration) bool {
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
