package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/pathrig/rig/rig/pki"
	"github.com/pathrig/rig/rig/telemetry"
)

// TestDialInMemory: an in-memory connection goes through the TLS listener's path like a socket:
// the same client-certificate verification, authentication and ACL decide, and the failures are
// counted; a closed broker or a missing listener is an error naming it.
func TestDialInMemory(t *testing.T) {
	f := newFixture(t)
	b := start(t, f.hardened(t))
	trust := func(certs ...*pki.Issued) *tls.Config {
		c := &tls.Config{RootCAs: f.pki.CAPool(), ServerName: "localhost"}
		for _, iss := range certs {
			c.Certificates = append(c.Certificates, iss.Cert)
		}
		return c
	}
	memDial := func(cfg *tls.Config) paho.OpenConnectionFunc {
		return func(*url.URL, paho.ClientOptions) (net.Conn, error) {
			conn, err := b.Dial(true)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(conn, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			if err := tc.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, err
			}
			return tc, nil
		}
	}
	tests := []struct {
		name       string
		id, user   string
		pass       string
		tls        *tls.Config
		wantOK     bool
		wantPubACK bool // a publish to its own topic is acknowledged
	}{
		{name: "device A, own cert and password", id: devA, user: devA, pass: "pw-a", tls: trust(f.certA), wantOK: true, wantPubACK: true},
		{name: "no client cert", id: devA, user: devA, pass: "pw-a", tls: trust()},
		{name: "A's cert, B's credentials", id: devB, user: devB, pass: "pw-b", tls: trust(f.certA)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := paho.NewClientOptions().AddBroker("ssl://memory:8883").SetClientID(tc.id).SetUsername(tc.user).SetPassword(tc.pass).
				SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(wait).
				SetCustomOpenConnectionFn(memDial(tc.tls))
			c := paho.NewClient(o)
			tok := c.Connect()
			if !tok.WaitTimeout(wait) {
				t.Fatal("connect: timed out")
			}
			if err := tok.Error(); (err == nil) != tc.wantOK {
				t.Fatalf("connect err = %v, want ok=%v", err, tc.wantOK)
			}
			if !tc.wantOK {
				return
			}
			defer c.Disconnect(0)
			ptok := c.Publish(telemetry.Topic(telemetry.TopicPrefix, tc.id), 1, false, []byte("{}"))
			if !ptok.WaitTimeout(wait) || ptok.Error() != nil {
				t.Fatalf("publish to its own topic: done=%v err=%v", ptok.WaitTimeout(0), ptok.Error())
			}
		})
	}
	deadline := time.Now().Add(wait)
	for s := b.Stats(); s.HandshakeFailures != 1 || s.AuthFailures != 1; s = b.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("HandshakeFailures, AuthFailures = %d, %d; want 1, 1 (counted as for a socket)", s.HandshakeFailures, s.AuthFailures)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := b.Dial(false); err == nil {
		t.Error("Dial(plaintext) on a broker without a plaintext listener: no error")
	}
	_ = b.Close()
	if _, err := b.Dial(true); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Dial after Close: %v, want net.ErrClosed", err)
	}
}
