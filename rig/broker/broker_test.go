package broker

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pathrig/rig/rig/pki"
	"github.com/pathrig/rig/rig/telemetry"
)

const (
	devA = "0123456789abcdef00000001"
	devB = "0123456789abcdef00000002"
	wait = 5 * time.Second
)

func testLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(&tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tWriter struct{ t *testing.T }

func (w *tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// fixture is one PKI with the certificates both profiles need.
type fixture struct {
	pki        *pki.PKI
	badServer  *pki.Issued // self-signed, RSA-1024, SAN broker.invalid, 10 days left
	goodServer *pki.Issued
	certA      *pki.Issued
	certB      *pki.Issued
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	p, err := pki.New(pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{pki: p}
	must := func(iss *pki.Issued, err error) *pki.Issued {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return iss
	}
	f.badServer = must(p.IssueServer(pki.ServerOpts{DNSNames: []string{"broker.invalid"}, SelfSigned: true, RSABits: 1024,
		Validity: pki.Validity{ValidFor: 10 * 24 * time.Hour}}))
	f.goodServer = must(p.IssueServer(pki.ServerOpts{DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}))
	f.certA = must(p.IssueClient(devA, pki.ClientOpts{}))
	f.certB = must(p.IssueClient(devB, pki.ClientOpts{}))
	return f
}

func (f *fixture) exposed(t *testing.T) Config {
	return Config{
		PlainAddr:      "127.0.0.1:0",
		TLSAddr:        "127.0.0.1:0",
		TLS:            &tls.Config{Certificates: []tls.Certificate{f.badServer.Cert}, MinVersion: tls.VersionTLS10},
		AllowAnonymous: true,
		Log:            testLog(t),
	}
}

func (f *fixture) hardened(t *testing.T) Config {
	return Config{
		TLSAddr: "127.0.0.1:0",
		TLS: &tls.Config{
			Certificates: []tls.Certificate{f.goodServer.Cert},
			MinVersion:   tls.VersionTLS12,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    f.pki.CAPool(),
		},
		Users:         map[string]string{devA: "pw-a", devB: "pw-b"},
		CertIdentity:  true,
		DeviceACL:     true,
		MaxPacketSize: 4096,
		Log:           testLog(t),
	}
}

func start(t *testing.T, cfg Config) *Broker {
	t.Helper()
	b, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// client is a paho client with its connection-lost signal.
type client struct {
	paho.Client
	lost chan error
}

type dial struct {
	url        string
	id         string
	user, pass string
	tls        *tls.Config
}

func connect(t *testing.T, d dial) (*client, error) {
	t.Helper()
	c := &client{lost: make(chan error, 1)}
	o := paho.NewClientOptions().AddBroker(d.url).SetClientID(d.id).SetUsername(d.user).SetPassword(d.pass).
		SetTLSConfig(d.tls).SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(wait).SetWriteTimeout(wait).SetCleanSession(true).
		SetConnectionLostHandler(func(_ paho.Client, err error) { c.lost <- err })
	c.Client = paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(wait) {
		return nil, errors.New("connect: timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

func mustConnect(t *testing.T, d dial) *client {
	t.Helper()
	c, err := connect(t, d)
	if err != nil {
		t.Fatalf("connect %s as %q: %v", d.url, d.id, err)
	}
	return c
}

func subscribe(t *testing.T, c *client, filter string, h paho.MessageHandler) byte {
	t.Helper()
	tok := c.Subscribe(filter, 1, h)
	if !tok.WaitTimeout(wait) {
		t.Fatalf("subscribe %q: no SUBACK within %v", filter, wait)
	}
	// paho keys the result by the filter without a $share/<group>/ prefix; one filter, one result.
	res := tok.(*paho.SubscribeToken).Result()
	if len(res) != 1 {
		t.Fatalf("subscribe %q: results %v (err %v), want one", filter, res, tok.Error())
	}
	for _, code := range res {
		return code
	}
	return 0
}

func publish(t *testing.T, c *client, topic string, qos byte, payload []byte) {
	t.Helper()
	tok := c.Publish(topic, qos, false, payload)
	if !tok.WaitTimeout(wait) {
		t.Fatalf("publish %q: not acknowledged within %v", topic, wait)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("publish %q: %v", topic, err)
	}
}

// inline collects what the broker hands to an inline subscription, as the bridge sees it.
type inline struct {
	mu   sync.Mutex
	msgs []packets.Packet
	ch   chan string
}

func subscribeInline(t *testing.T, b *Broker, filter string) *inline {
	t.Helper()
	in := &inline{ch: make(chan string, 100)}
	err := b.Server().Subscribe(filter, 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		in.mu.Lock()
		in.msgs = append(in.msgs, pk)
		in.mu.Unlock()
		in.ch <- pk.TopicName
	})
	if err != nil {
		t.Fatalf("inline subscribe %q: %v", filter, err)
	}
	return in
}

func (in *inline) topics() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []string
	for _, pk := range in.msgs {
		out = append(out, pk.TopicName)
	}
	return out
}

func (in *inline) waitFor(t *testing.T, topic string) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case got := <-in.ch:
			if got == topic {
				return
			}
		case <-deadline:
			t.Fatalf("inline handler: %q not received within %v (got %v)", topic, wait, in.topics())
		}
	}
}

func waitLost(t *testing.T, c *client, what string) error {
	t.Helper()
	select {
	case err := <-c.lost:
		return err
	case <-time.After(wait):
		t.Fatalf("%s: connection still open after %v, want the broker to close it", what, wait)
		return nil
	}
}

func tlsDial(addr string, cfg *tls.Config) (*tls.Conn, error) {
	d := &net.Dialer{Timeout: wait}
	return tls.DialWithDialer(d, "tcp", addr, cfg)
}

func TestExposedAcceptsAnything(t *testing.T) {
	f := newFixture(t)
	b := start(t, f.exposed(t))
	if b.PlainAddr() == "" || b.TLSAddr() == "" || strings.HasSuffix(b.PlainAddr(), ":0") {
		t.Fatalf("addresses = %q %q, want two bound ports", b.PlainAddr(), b.TLSAddr())
	}

	sub := mustConnect(t, dial{url: "tcp://" + b.PlainAddr(), id: "spy"}) // anonymous
	got := make(chan paho.Message, 4)
	if code := subscribe(t, sub, "#", func(_ paho.Client, m paho.Message) { got <- m }); code != 1 {
		t.Fatalf("SUBACK for # = %#x, want 0x01 (granted)", code)
	}

	// Anonymous over TLS too, trusting nothing (the certificate is bad on purpose).
	pub := mustConnect(t, dial{url: "ssl://" + b.TLSAddr(), id: "anyone", tls: &tls.Config{InsecureSkipVerify: true}})
	big := bytes.Repeat([]byte("x"), 256*1024)
	publish(t, pub, "rig/devices/"+devB+"/telemetry", 1, big)
	select {
	case m := <-got:
		if len(m.Payload()) != len(big) {
			t.Errorf("payload = %d bytes, want %d", len(m.Payload()), len(big))
		}
	case <-time.After(wait):
		t.Fatalf("subscriber on # did not receive the 256 KiB publish")
	}
	if s := b.Stats(); s.AuthFailures != 0 || s.ACLDenials != 0 {
		t.Errorf("stats = %+v, want no refusals", s)
	}
}

func TestTLSVersions(t *testing.T) {
	f := newFixture(t)
	exposed := start(t, f.exposed(t))
	hardened := start(t, f.hardened(t))
	tests := []struct {
		name    string
		addr    string
		version uint16
		cert    bool
		wantOK  bool
	}{
		{"exposed TLS 1.0", exposed.TLSAddr(), tls.VersionTLS10, false, true},
		{"exposed TLS 1.1", exposed.TLSAddr(), tls.VersionTLS11, false, true},
		{"exposed TLS 1.3", exposed.TLSAddr(), tls.VersionTLS13, false, true},
		{"hardened TLS 1.0", hardened.TLSAddr(), tls.VersionTLS10, true, false},
		{"hardened TLS 1.1", hardened.TLSAddr(), tls.VersionTLS11, true, false},
		{"hardened TLS 1.2", hardened.TLSAddr(), tls.VersionTLS12, true, true},
		{"hardened TLS 1.3", hardened.TLSAddr(), tls.VersionTLS13, true, true},
		{"hardened without client cert", hardened.TLSAddr(), tls.VersionTLS13, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tc.version, MaxVersion: tc.version}
			if tc.cert {
				cfg.Certificates = []tls.Certificate{f.certA.Cert}
			}
			conn, err := tlsDial(tc.addr, cfg)
			if err == nil {
				// TLS 1.3 client auth failures arrive after the client's handshake returns.
				_ = conn.SetDeadline(time.Now().Add(wait))
				_, err = conn.Write([]byte{0xC0, 0x00}) // PINGREQ before CONNECT: the broker closes
				if err == nil {
					_, err = conn.Read(make([]byte, 1))
					if errors.Is(err, io.EOF) {
						err = nil // handshake fine, MQTT closed the connection
					}
				}
				if err == nil || tc.wantOK {
					if got := conn.ConnectionState().Version; got != tc.version {
						t.Errorf("negotiated %s, want %s", tls.VersionName(got), tls.VersionName(tc.version))
					}
				}
				conn.Close()
			}
			if (err == nil) != tc.wantOK {
				t.Errorf("handshake err = %v, want ok=%v", err, tc.wantOK)
			}
		})
	}
}

func TestExposedTLS10SpeaksMQTT(t *testing.T) {
	f := newFixture(t)
	b := start(t, f.exposed(t))
	c := mustConnect(t, dial{url: "ssl://" + b.TLSAddr(), id: "legacy",
		tls: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}})
	if !c.IsConnectionOpen() {
		t.Fatalf("paho over TLS 1.0: not connected")
	}
}

func TestHardenedAuthentication(t *testing.T) {
	f := newFixture(t)
	b := start(t, f.hardened(t))
	url := "ssl://" + b.TLSAddr()
	trust := func(certs ...*pki.Issued) *tls.Config {
		c := &tls.Config{RootCAs: f.pki.CAPool(), ServerName: "127.0.0.1"}
		for _, iss := range certs {
			c.Certificates = append(c.Certificates, iss.Cert)
		}
		return c
	}
	selfSigned, err := f.pki.IssueClient(devA, pki.ClientOpts{SelfSigned: true})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		d      dial
		wantOK bool
	}{
		{"device A, own cert and password", dial{url: url, id: devA, user: devA, pass: "pw-a", tls: trust(f.certA)}, true},
		{"anonymous with a cert", dial{url: url, id: devA, tls: trust(f.certA)}, false},
		{"no client cert", dial{url: url, id: devA, user: devA, pass: "pw-a", tls: trust()}, false},
		{"self-signed client cert", dial{url: url, id: devA, user: devA, pass: "pw-a", tls: trust(selfSigned)}, false},
		{"wrong password", dial{url: url, id: devA, user: devA, pass: "nope", tls: trust(f.certA)}, false},
		{"A's cert, B's credentials", dial{url: url, id: devB, user: devB, pass: "pw-b", tls: trust(f.certA)}, false},
		{"A's cert, client id B", dial{url: url, id: devB, user: devA, pass: "pw-a", tls: trust(f.certA)}, false},
		{"unknown user", dial{url: url, id: devA, user: "mallory", pass: "pw-a", tls: trust(f.certA)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := connect(t, tc.d)
			if (err == nil) != tc.wantOK {
				t.Fatalf("connect err = %v, want ok=%v", err, tc.wantOK)
			}
			if c != nil {
				c.Disconnect(0)
			}
		})
	}
	// The server counts a failed handshake after sending its alert, so the client may see the
	// failure first: poll.
	deadline := time.Now().Add(wait)
	for s := b.Stats(); s.AuthFailures != 5 || s.HandshakeFailures != 2; s = b.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("AuthFailures, HandshakeFailures = %d, %d; want 5, 2", s.AuthFailures, s.HandshakeFailures)
		}
		time.Sleep(5 * time.Millisecond)
	}

	// The certificate inventory saw A's certificate, verified, under client ids A and B.
	pcs := b.PresentedCerts()
	var ids []string
	for _, pc := range pcs {
		ids = append(ids, pc.ClientID)
		if !pc.Verified || pc.Leaf.Subject.CommonName != devA {
			t.Errorf("presented %+v: want verified, CN %s", pc.ClientID, devA)
		}
	}
	if want := []string{devA, devB}; strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Errorf("presented client ids = %v, want %v", ids, want)
	}
}

// hardenedPair starts the hardened broker and connects devices A and B.
func hardenedPair(t *testing.T) (*fixture, *Broker, *client, *client) {
	f := newFixture(t)
	b := start(t, f.hardened(t))
	dev := func(id, pass string, cert *pki.Issued) *client {
		return mustConnect(t, dial{url: "ssl://" + b.TLSAddr(), id: id, user: id, pass: pass,
			tls: &tls.Config{RootCAs: f.pki.CAPool(), Certificates: []tls.Certificate{cert.Cert}}})
	}
	return f, b, dev(devA, "pw-a", f.certA), dev(devB, "pw-b", f.certB)
}

func TestHardenedSubscribeACL(t *testing.T) {
	_, _, a, _ := hardenedPair(t)
	noop := func(paho.Client, paho.Message) {}
	tests := []struct {
		filter string
		want   byte
	}{
		{"#", 0x80},
		{"$SYS/#", 0x80},
		{"rig/devices/+/telemetry", 0x80},
		{"rig/devices/" + devB + "/cmd/#", 0x80},
		{"rig/devices/" + devB + "/telemetry", 0x80},
		{"rig/devices/" + devA + "/telemetry", 0x01}, // a device may read its own topics
		{"rig/devices/" + devA + "/#", 0x01},
		{"$share/g/rig/devices/" + devA + "/cmd/#", 0x80},
		{"rig/devices/" + devA + "/cmd/#", 0x01},
		{"rig/devices/" + devA + "/cmd/ping", 0x01},
	}
	for _, tc := range tests {
		if got := subscribe(t, a, tc.filter, noop); got != tc.want {
			t.Errorf("SUBACK for %q = %#x, want %#x", tc.filter, got, tc.want)
		}
	}
}

func TestHardenedPublishACL(t *testing.T) {
	_, b, a, _ := hardenedPair(t)
	in := subscribeInline(t, b, "rig/devices/+/telemetry")
	own := telemetry.Topic(telemetry.TopicPrefix, devA)
	foreign := telemetry.Topic(telemetry.TopicPrefix, devB)

	publish(t, a, own, 1, []byte(`{}`))
	in.waitFor(t, own)

	// QoS 0 to another device's topic: dropped silently. A later own publish proves it was
	// processed (mochi handles one client's packets in order).
	publish(t, a, foreign, 0, []byte(`{}`))
	publish(t, a, own, 1, []byte(`{}`))
	in.waitFor(t, own)
	for _, topic := range in.topics() {
		if topic == foreign {
			t.Fatalf("inline handler received %q, want it refused", foreign)
		}
	}

	// QoS 1 to another device's topic: a v3.1.1 client has no negative PUBACK, mochi disconnects.
	a.Publish(foreign, 1, false, []byte(`{}`))
	waitLost(t, a, "QoS 1 publish to another device's topic")
	for _, topic := range in.topics() {
		if topic == foreign {
			t.Fatalf("inline handler received %q, want it refused", foreign)
		}
	}
	if got := b.Stats().ACLDenials; got != 2 {
		t.Errorf("ACLDenials = %d, want 2", got)
	}
}

func TestHardenedCrossDeviceDelivery(t *testing.T) {
	// B may subscribe to its own cmd topic and receives what the rig publishes there; A cannot
	// publish there.
	_, b, a, bb := hardenedPair(t)
	got := make(chan string, 4)
	cmd := "rig/devices/" + devB + "/cmd/ping"
	if code := subscribe(t, bb, "rig/devices/"+devB+"/cmd/#", func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }); code != 1 {
		t.Fatalf("SUBACK = %#x, want 0x01", code)
	}
	publish(t, a, cmd, 0, []byte("from-a"))
	if err := b.Server().Publish(cmd, []byte("from-rig"), false, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p != "from-rig" {
			t.Fatalf("B received %q first, want from-rig (A's publish refused)", p)
		}
	case <-time.After(wait):
		t.Fatalf("B did not receive the rig's command")
	}
}

func TestHardenedOversizeDisconnects(t *testing.T) {
	_, b, a, _ := hardenedPair(t)
	in := subscribeInline(t, b, "rig/devices/+/telemetry")
	own := telemetry.Topic(telemetry.TopicPrefix, devA)

	publish(t, a, own, 1, bytes.Repeat([]byte("x"), 3000)) // under 4096
	in.waitFor(t, own)

	a.Publish(own, 1, false, bytes.Repeat([]byte("x"), 8192))
	waitLost(t, a, "8 KiB publish against a 4 KiB limit")
	if n := len(in.topics()); n != 1 {
		t.Errorf("inline handler got %d messages, want 1 (the oversize one refused)", n)
	}
	deadline := time.Now().Add(wait)
	for b.Stats().Oversize != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("Stats().Oversize = %d, want 1", b.Stats().Oversize)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConnectTimeoutClosesSilentPeers(t *testing.T) {
	f := newFixture(t)
	cfg := f.hardened(t)
	cfg.PlainAddr = "127.0.0.1:0"
	cfg.ConnectTimeout = 200 * time.Millisecond
	b := start(t, cfg)
	for _, addr := range []string{b.PlainAddr(), b.TLSAddr()} {
		conn, err := net.DialTimeout("tcp", addr, wait)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(wait))
		_, err = conn.Read(make([]byte, 1))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: silent peer still connected after %v, want closed after 200ms", addr, wait)
		}
		conn.Close()
	}
}

func TestCloseFreesPortsAndRestarts(t *testing.T) {
	f := newFixture(t)
	cfg := f.exposed(t)
	b, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := mustConnect(t, dial{url: "tcp://" + b.PlainAddr(), id: "x"})
	plain := b.PlainAddr()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	_ = b.Close() // idempotent
	waitLost(t, c, "broker Close")

	cfg.PlainAddr, cfg.TLSAddr = plain, ""
	b2 := start(t, cfg)
	if b2.PlainAddr() != plain {
		t.Fatalf("restart on %s bound %s", plain, b2.PlainAddr())
	}
	mustConnect(t, dial{url: "tcp://" + plain, id: "y"})
}

func TestContextEndsBroker(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cfg := f.exposed(t)
	cfg.TLSAddr = ""
	b, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(wait)
	for {
		conn, err := net.DialTimeout("tcp", b.PlainAddr(), wait)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatalf("listener still accepting %v after ctx cancel", wait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConfigErrors(t *testing.T) {
	f := newFixture(t)
	tests := map[string]Config{
		"no listener":         {},
		"TLS without config":  {TLSAddr: "127.0.0.1:0"},
		"TLS without cert":    {TLSAddr: "127.0.0.1:0", TLS: &tls.Config{}},
		"mTLS without CAs":    {TLSAddr: "127.0.0.1:0", TLS: &tls.Config{Certificates: []tls.Certificate{f.goodServer.Cert}, ClientAuth: tls.RequireAndVerifyClientCert}},
		"empty username":      {PlainAddr: "127.0.0.1:0", Users: map[string]string{"": "x"}},
		"unbindable address":  {PlainAddr: "127.0.0.1:-1"},
		"second bind of port": {PlainAddr: "<taken>"},
	}
	taken := start(t, Config{PlainAddr: "127.0.0.1:0"})
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			if cfg.PlainAddr == "<taken>" {
				cfg.PlainAddr = taken.PlainAddr()
			}
			b, err := Start(context.Background(), cfg)
			if err == nil {
				b.Close()
				t.Fatalf("Start: nil error, want one")
			}
			if !strings.HasPrefix(err.Error(), "broker: ") {
				t.Errorf("error %q does not name the broker", err)
			}
		})
	}
}

func TestDeviceAllowed(t *testing.T) {
	p := telemetry.TopicPrefix
	tests := []struct {
		id, topic string
		write     bool
		want      bool
	}{
		{devA, p + "/" + devA + "/telemetry", true, true},
		{devA, p + "/" + devA + "/status/x", true, true},
		{devA, p + "/" + devB + "/telemetry", true, false},
		{devA, p + "/" + devA, true, false},
		{devA, p + "/" + devA + "/cmd/#", false, true},
		{devA, p + "/" + devA + "/cmd", false, true},
		{devA, p + "/" + devA + "/cmdx", false, true},
		{devA, p + "/" + devA + "/#", false, true},
		{devA, p + "/" + devA + "/probe", false, true},
		{devA, p + "/" + devB + "/#", false, false},
		{devA, p + "/+/telemetry", false, false},
		{devA, "#", false, false},
		{"+", p + "/+/cmd/#", false, false},
		{"#", p + "/#/cmd", false, false},
		{"", p + "//cmd", false, false},
		{devA, p + "/" + devA, false, true},
		{devA, p + "/" + devA + "x/telemetry", true, false}, // another id that starts with devA's
		{devA, p + "/" + devA + "x/cmd", false, false},
		{devA, p + "x/" + devA + "/telemetry", true, false}, // another prefix that starts with p
		{devA, p + devA + "/telemetry", true, false},
		{devA, p + "/" + devA + "/+", true, false},
		{"$SYS", p + "/$SYS/telemetry", true, false},
	}
	for _, tc := range tests {
		if got := deviceAllowed(p, tc.id, tc.topic, tc.write); got != tc.want {
			t.Errorf("deviceAllowed(%q, %q, write=%v) = %v, want %v", tc.id, tc.topic, tc.write, got, tc.want)
		}
	}
}

func ExampleStart() {
	b, err := Start(context.Background(), Config{PlainAddr: "127.0.0.1:0", AllowAnonymous: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	fmt.Println(b.TLSAddr() == "", b.PlainAddr() != "")
	// Output: true true
}

func TestMaxPacketSizeAnnouncedToV5(t *testing.T) {
	b := start(t, Config{PlainAddr: "127.0.0.1:0", AllowAnonymous: true, MaxPacketSize: 4096, Log: testLog(t)})
	conn, err := net.DialTimeout("tcp", b.PlainAddr(), wait)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(wait))
	connect := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: 5,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30,
			ClientIdentifier: "v5-probe"},
	}
	var buf bytes.Buffer
	if err := connect.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	var head [2]byte
	if _, err := io.ReadFull(conn, head[:1]); err != nil {
		t.Fatal(err)
	}
	var fh packets.FixedHeader
	if err := fh.Decode(head[0]); err != nil || fh.Type != packets.Connack {
		t.Fatalf("first packet type %d (%v), want CONNACK", fh.Type, err)
	}
	n, _, err := packets.DecodeLength(&byteReader{conn})
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(conn, body); err != nil {
		t.Fatal(err)
	}
	ack := packets.Packet{FixedHeader: fh, ProtocolVersion: 5}
	if err := ack.ConnackDecode(body); err != nil {
		t.Fatal(err)
	}
	if ack.ReasonCode != 0 || ack.Properties.MaximumPacketSize != 4096 {
		t.Errorf("CONNACK reason %#x, Maximum Packet Size %d; want 0, 4096", ack.ReasonCode, ack.Properties.MaximumPacketSize)
	}
}

type byteReader struct{ r io.Reader }

func (b *byteReader) ReadByte() (byte, error) {
	var p [1]byte
	_, err := io.ReadFull(b.r, p[:])
	return p[0], err
}
