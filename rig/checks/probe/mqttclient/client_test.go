package mqttclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pathrig/rig/rig/broker"
	"github.com/pathrig/rig/rig/checks/probe"
	"github.com/pathrig/rig/rig/pki"
)

const timeout = 2 * time.Second

// startBroker starts the reference broker (mochi) on a loopback port: anonymous when users is
// empty, else with those passwords.
func startBroker(t *testing.T, users map[string]string) Endpoint {
	t.Helper()
	b, err := broker.Start(t.Context(), broker.Config{PlainAddr: "127.0.0.1:0", AllowAnonymous: len(users) == 0, Users: users})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return Endpoint{Label: "plain", Addr: b.PlainAddr()}
}

// fakePeer listens on a loopback port and answers every connection with serve; the remote
// address of each accepted connection (the client's local one) is sent on seen.
func fakePeer(t *testing.T, serve func(net.Conn)) (Endpoint, <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	seen := make(chan string, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			seen <- c.RemoteAddr().String()
			go func() { defer c.Close(); serve(c) }()
		}
	}()
	return Endpoint{Label: "fake", Addr: ln.Addr().String()}, seen
}

// readConnect reads the client's CONNECT (any one packet) before the fake answers.
func readConnect(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	r := bufio.NewReader(c)
	if _, err := r.ReadByte(); err != nil {
		return
	}
	n, _, err := packets.DecodeLength(r)
	if err != nil {
		return
	}
	_, _ = r.Discard(n)
}

// testPKI is a throwaway CA.
func testPKI(t *testing.T) *pki.PKI {
	t.Helper()
	p, err := pki.New(pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) Endpoint {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return Endpoint{Label: "closed", Addr: addr}
}

func TestConnectAnswers(t *testing.T) {
	auth := startBroker(t, map[string]string{"dev1": "pw-dev1"})
	refuse, refuseSeen := fakePeer(t, func(c net.Conn) { readConnect(c); _, _ = c.Write([]byte{0x20, 0x02, 0x00, 0x05}) })
	closer, closerSeen := fakePeer(t, func(c net.Conn) { readConnect(c) })
	silent, silentSeen := fakePeer(t, func(c net.Conn) { readConnect(c); time.Sleep(timeout + time.Second) })
	http, httpSeen := fakePeer(t, func(c net.Conn) { readConnect(c); _, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")) })
	// TLS: a server whose CA the client does not trust (the client gives up: nothing learnt of
	// the broker), and one that demands a client certificate the client does not have (it
	// alerts: the broker turned the client away).
	trusted, untrusted := testPKI(t), testPKI(t)
	serverTLS := func(demandCert bool) *tls.Config {
		cert, err := trusted.IssueServer(pki.ServerOpts{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
		if err != nil {
			t.Fatal(err)
		}
		c := &tls.Config{Certificates: []tls.Certificate{cert.Cert}, MinVersion: tls.VersionTLS12}
		if demandCert {
			c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, trusted.CAPool()
		}
		return c
	}
	tlsPeer := func(conf *tls.Config, roots *pki.PKI) (Endpoint, <-chan string) {
		ep, seen := fakePeer(t, func(c net.Conn) {
			tc := tls.Server(c, conf)
			if tc.Handshake() == nil {
				readConnect(tc)
			}
		})
		ep.TLS = &tls.Config{RootCAs: roots.CAPool(), MinVersion: tls.VersionTLS12}
		return ep, seen
	}
	notTrusted, notTrustedSeen := tlsPeer(serverTLS(false), untrusted)
	wantsCert, wantsCertSeen := tlsPeer(serverTLS(true), trusted)
	tests := []struct {
		name     string
		ep       Endpoint
		opts     ConnectOpts
		seen     <-chan string // the fake's record of the client's address; nil for the broker
		answer   string
		code     int // -1: no CONNACK code
		answered bool
	}{
		{"accepted 3.1.1", auth, ConnectOpts{Username: "dev1", Password: "pw-dev1"}, nil, AnswerAccepted, 0, true},
		{"accepted 5", auth, ConnectOpts{Version: 5, Username: "dev1", Password: "pw-dev1"}, nil, AnswerAccepted, 0, true},
		{"wrong password 3.1.1", auth, ConnectOpts{Username: "dev1", Password: "wrong"}, nil, AnswerRefused, 5, true},
		{"wrong password 5", auth, ConnectOpts{Version: 5, Username: "dev1", Password: "wrong"}, nil, AnswerRefused, 0x86, true},
		{"refusal from a known address", refuse, ConnectOpts{}, refuseSeen, AnswerRefused, 5, true},
		{"closed before CONNACK", closer, ConnectOpts{}, closerSeen, probe.AnswerClosed, -1, false},
		{"silent peer", silent, ConnectOpts{}, silentSeen, probe.AnswerSilent, -1, false},
		{"not MQTT", http, ConnectOpts{}, httpSeen, probe.AnswerNotMQTT, -1, false},
		{"nothing listening", closedPort(t), ConnectOpts{}, nil, probe.AnswerRefusedTCP, -1, false},
		{"TLS server not trusted", notTrusted, ConnectOpts{}, notTrustedSeen, probe.AnswerTLSFailed, -1, false},
		{"TLS client certificate demanded", wantsCert, ConnectOpts{}, wantsCertSeen, probe.AnswerTLSAlert, -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			c, ca := Connect(t.Context(), tt.ep, tt.opts, timeout)
			defer c.Disconnect()
			if el := time.Since(start); el > timeout+time.Second {
				t.Errorf("Connect took %s, over its %s timeout", el, timeout)
			}
			if ca.Answer != tt.answer {
				t.Fatalf("answer %q (%s), want %q", ca.Answer, ca.Detail, tt.answer)
			}
			if (c != nil) != (tt.answer == AnswerAccepted) {
				t.Errorf("client %v for answer %q: a client only when accepted", c != nil, ca.Answer)
			}
			switch {
			case tt.code < 0 && ca.Code != nil:
				t.Errorf("CONNACK code %d, want none", *ca.Code)
			case tt.code >= 0 && (ca.Code == nil || int(*ca.Code) != tt.code):
				t.Errorf("CONNACK code %v, want %d", ca.Code, tt.code)
			}
			if ca.Answered() != tt.answered {
				t.Errorf("Answered() = %v, want %v", ca.Answered(), tt.answered)
			}
			// Turned away: a refusing CONNACK, a hang-up or a TLS alert before one. Unanswered:
			// everything else that is not a CONNACK — nothing a verdict may rest on.
			turned := tt.answer == AnswerRefused || tt.answer == probe.AnswerClosed || tt.answer == probe.AnswerTLSAlert
			if ca.TurnedAway() != turned || ca.Unanswered() != (!turned && !tt.answered) {
				t.Errorf("TurnedAway() = %v, Unanswered() = %v for %q", ca.TurnedAway(), ca.Unanswered(), ca.Answer)
			}
			err := ca.Err(tt.ep)
			if (err == nil) != tt.answered {
				t.Errorf("Err = %v, want an error exactly when no CONNACK came", err)
			}
			if err != nil && !strings.Contains(err.Error(), tt.ep.Addr) {
				t.Errorf("Err %q does not name the endpoint %s", err, tt.ep.Addr)
			}
			switch {
			case tt.answer == probe.AnswerRefusedTCP:
				if ca.Local != "" {
					t.Errorf("local address %q with nothing connected", ca.Local)
				}
			case tt.seen != nil:
				if got := <-tt.seen; ca.Local != got {
					t.Errorf("local address %q, but the peer saw the client come from %s", ca.Local, got)
				}
			default:
				if h, _, err := net.SplitHostPort(ca.Local); err != nil || h != "127.0.0.1" {
					t.Errorf("local address %q, want 127.0.0.1:port", ca.Local)
				}
			}
		})
	}
}

// TestWebSocketDialAnswers: a WebSocket endpoint that cannot be dialled is named by the same words
// as a TCP one — not as a TLS failure on a plain ws:// URL.
func TestWebSocketDialAnswers(t *testing.T) {
	notHTTP, _ := fakePeer(t, func(c net.Conn) { _, _ = c.Write([]byte("\x20\x02\x00\x00 not http at all\r\n\r\n")) })
	httpNoUpgrade, _ := fakePeer(t, func(c net.Conn) {
		_, _ = bufio.NewReader(c).ReadString('\n')
		_, _ = c.Write([]byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
	})
	untrusted := testPKI(t)
	cert, err := testPKI(t).IssueServer(pki.ServerOpts{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	tlsPeer, _ := fakePeer(t, func(c net.Conn) {
		_ = tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert.Cert}}).Handshake()
	})
	for _, tt := range []struct {
		name, url string
		tls       *tls.Config
		answer    string
	}{
		{"nothing listening", "ws://" + closedPort(t).Addr + "/mqtt", nil, probe.AnswerRefusedTCP},
		{"not HTTP", "ws://" + notHTTP.Addr + "/mqtt", nil, probe.AnswerNotMQTT},
		{"HTTP without the upgrade", "ws://" + httpNoUpgrade.Addr + "/mqtt", nil, probe.AnswerNotMQTT},
		{"wss, server not trusted", "wss://" + tlsPeer.Addr + "/mqtt", &tls.Config{RootCAs: untrusted.CAPool(), MinVersion: tls.VersionTLS12}, probe.AnswerTLSFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ep := Endpoint{Label: "ws", URL: tt.url, TLS: tt.tls}
			c, ca := Connect(t.Context(), ep, ConnectOpts{}, timeout)
			if c != nil {
				c.Disconnect()
			}
			if ca.Answer != tt.answer {
				t.Fatalf("answer %q (%s), want %q", ca.Answer, ca.Detail, tt.answer)
			}
			if err := ca.Err(ep); err == nil || !strings.Contains(err.Error(), tt.url) {
				t.Errorf("Err = %v, want an error naming %s", err, tt.url)
			}
		})
	}
}

// TestCollect subscribes to a topic the reference broker delivers five messages on: Collect stops
// at its max, later returns what came since within its duration, and ends with the context.
func TestCollect(t *testing.T) {
	ep := startBroker(t, nil)
	sub, ca := Connect(t.Context(), ep, ConnectOpts{}, timeout)
	if !ca.Accepted() {
		t.Fatalf("subscriber: %v", ca.Err(ep))
	}
	defer sub.Disconnect()
	if code, err := sub.Subscribe("rig/collect/#", 1); err != nil || code > 1 {
		t.Fatalf("subscribe: code %d, %v", code, err)
	}
	pub, ca := Connect(t.Context(), ep, ConnectOpts{}, timeout)
	if !ca.Accepted() {
		t.Fatalf("publisher: %v", ca.Err(ep))
	}
	defer pub.Disconnect()
	for i := range 5 {
		if _, err := pub.Publish(fmt.Sprintf("rig/collect/%d", i), []byte{byte('a' + i)}, 1, false); err != nil {
			t.Fatal(err)
		}
	}

	start := time.Now()
	got, err := sub.Collect(t.Context(), 5*time.Second, 3)
	if err != nil || len(got) != 3 {
		t.Fatalf("Collect(max 3) = %d messages, %v; want 3, nil", len(got), err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Collect(max 3) took %s: it should stop once it holds 3", el)
	}
	start = time.Now()
	got, err = sub.Collect(t.Context(), 300*time.Millisecond, 100)
	if err != nil || len(got) != 5 {
		t.Fatalf("Collect(300ms) = %d messages, %v; want all 5, nil", len(got), err)
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Errorf("Collect(300ms, max 100) returned after %s: it should read for its duration", el)
	}
	for i, m := range got {
		if want := fmt.Sprintf("rig/collect/%d", i); m.Topic != want || !bytes.Equal(m.Payload, []byte{byte('a' + i)}) {
			t.Errorf("message %d: %s %q, want %s %q", i, m.Topic, m.Payload, want, []byte{byte('a' + i)})
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	if _, err := sub.Collect(ctx, 10*time.Second, 100); !errors.Is(err, context.Canceled) {
		t.Errorf("Collect with a cancelled context: %v, want context.Canceled", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Collect with a context cancelled after 100ms took %s", el)
	}
}

// TestSessionErrors: a broker that ends the session after the CONNACK makes the next step fail
// with an error that names the endpoint and is still a closed connection to errors.Is.
func TestSessionErrors(t *testing.T) {
	ep, _ := fakePeer(t, func(c net.Conn) { readConnect(c); _, _ = c.Write([]byte{0x20, 0x02, 0x00, 0x00}) })
	tests := []struct {
		name string
		step func(*Client) error
	}{
		{"subscribe", func(c *Client) error { _, err := c.Subscribe("a/#", 0); return err }},
		{"publish QoS 1", func(c *Client) error { _, err := c.Publish("a/b", []byte("x"), 1, false); return err }},
		{"ping", func(c *Client) error { return c.Ping() }},
		{"collect", func(c *Client) error { _, err := c.Collect(t.Context(), timeout, 10); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ca := Connect(t.Context(), ep, ConnectOpts{}, timeout)
			if !ca.Accepted() {
				t.Fatalf("connect: %s %s", ca.Answer, ca.Detail)
			}
			defer c.Drop()
			err := tt.step(c)
			if err == nil || !Closed(err) || !strings.Contains(err.Error(), ep.Addr) {
				t.Errorf("error %v: want a closed connection naming %s", err, ep.Addr)
			}
		})
	}
}

// TestKeepBounded: a broker flooding the client makes it keep at most maxKept messages; the rest
// are read, counted and dropped, and Wait still sees a payload past the bound.
func TestKeepBounded(t *testing.T) {
	publish := func(payload string) []byte {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "f", Payload: []byte(payload), ProtocolVersion: 4}
		var b bytes.Buffer
		if err := pk.PublishEncode(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	var flood []byte
	for range maxKept + 10 {
		flood = append(flood, publish("x")...)
	}
	flood = append(flood, publish("last")...)
	c := &Client{version: 4, conn: byteConn{r: bytes.NewReader(nil)}, r: bufio.NewReader(bytes.NewReader(flood)), timeout: time.Second}
	ok, err := c.Wait(t.Context(), time.Second, []byte("last"))
	if !ok || err != nil {
		t.Fatalf("Wait for a payload past the bound = %v, %v; want true, nil", ok, err)
	}
	if len(c.Received()) != maxKept || c.Unkept() != 11 {
		t.Errorf("kept %d, unkept %d; want %d, 11", len(c.Received()), c.Unkept(), maxKept)
	}
}
