package identity

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/broker"
	"github.com/pathrig/rig/rig/checks/probe/mqttclient"
	"github.com/pathrig/rig/rig/pki"
	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/telemetry"
)

const timeout = 3 * time.Second

// refPath is the reference broker in one state with the endpoints and identities the probes use.
type refPath struct {
	b          *broker.Broker
	tls, ws    mqttclient.Endpoint
	plain      mqttclient.Endpoint
	a, bIdent  Identity
	hardened   bool
	lockWindow time.Duration
}

// startRef starts the reference broker as the exposed or the hardened profile configures it:
// exposed = anonymous, no ACL, free client ids, a plain WebSocket listener; hardened = mTLS plus
// passwords, per-device ACL, bound client ids, lockout, will ACL, wss under the same rules.
func startRef(t *testing.T, hardened bool) *refPath {
	t.Helper()
	p, err := pki.New(pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := p.IssueServer(pki.ServerOpts{DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]*pki.Issued{}
	for _, n := range []string{"probe-a", "probe-b"} {
		if ids[n], err = p.IssueClient(n, pki.ClientOpts{}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := broker.Config{PlainAddr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0", WebSocketAddr: "127.0.0.1:0",
		TLS: &tls.Config{Certificates: []tls.Certificate{srv.Cert}}, AllowAnonymous: true}
	rp := &refPath{hardened: hardened, lockWindow: 400 * time.Millisecond}
	if hardened {
		cfg.PlainAddr = ""
		cfg.TLS.ClientAuth, cfg.TLS.ClientCAs, cfg.TLS.MinVersion = tls.RequireAndVerifyClientCert, p.CAPool(), tls.VersionTLS12
		cfg.WebSocketTLS = cfg.TLS
		cfg.AllowAnonymous = false
		cfg.Users = map[string]string{"probe-a": "pw-a-secret", "probe-b": "pw-b-secret"}
		cfg.CertIdentity, cfg.DeviceACL = true, true
		cfg.Identity = broker.IdentityConfig{BoundClientID: true, LockoutAttempts: 3, LockoutWindow: rp.lockWindow, WillACL: true}
	}
	b, err := broker.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	rp.b = b
	clientTLS := &tls.Config{RootCAs: p.CAPool(), ServerName: "localhost"}
	rp.tls = mqttclient.Endpoint{Label: "tls", Addr: b.TLSAddr(), TLS: clientTLS}
	rp.plain = mqttclient.Endpoint{Label: "plain", Addr: b.PlainAddr()}
	rp.ws = mqttclient.Endpoint{Label: "ws", URL: b.WebSocketURL()}
	if hardened {
		rp.ws.TLS = clientTLS
	}
	ident := func(n, pw string) Identity {
		c := ids[n].Cert
		return Identity{Name: n, ClientID: n, Username: n, Password: pw, Cert: &c, Topic: telemetry.TopicPrefix + "/" + n + "/probe"}
	}
	rp.a, rp.bIdent = ident("probe-a", "pw-a-secret"), ident("probe-b", "pw-b-secret")
	if !hardened {
		rp.a.Password, rp.bIdent.Password = "any", "any" // the exposed broker checks nothing
	}
	return rp
}

func TestTakeoverVerdicts(t *testing.T) {
	for _, hardened := range []bool{false, true} {
		t.Run(profileName(hardened), func(t *testing.T) {
			rp := startRef(t, hardened)
			r := Takeover(t.Context(), rp.tls, rp.a, rp.bIdent, timeout)
			if r.Error != "" || !r.VictimConnected {
				t.Fatalf("takeover sequence failed: %s (%+v)", r.Error, r.Steps)
			}
			if got, want := r.Attempt.Accepted(), !hardened; got != want {
				t.Errorf("second identity with the victim's id accepted = %v, want %v", got, want)
			}
			if r.VictimSurvived != hardened {
				t.Errorf("victim survived = %v, want %v (steps %+v)", r.VictimSurvived, hardened, r.Steps)
			}
		})
	}
}

func TestLockoutVerdicts(t *testing.T) {
	for _, hardened := range []bool{false, true} {
		t.Run(profileName(hardened), func(t *testing.T) {
			rp := startRef(t, hardened)
			r := Lockout(t.Context(), rp.tls, rp.bIdent, 3, rp.lockWindow, timeout)
			if r.Error != "" {
				t.Fatalf("lockout sequence failed: %s", r.Error)
			}
			if hardened {
				if r.WrongAccepted != 0 || r.AfterFailures.Accepted() || r.Released == nil || !*r.Released {
					t.Errorf("hardened: wrong accepted %d, right after failures %s, released %v; want 0, refused, true", r.WrongAccepted, r.AfterFailures.Answer, r.Released)
				}
				return
			}
			if r.WrongAccepted != 3 || !r.AfterFailures.Accepted() {
				t.Errorf("exposed: wrong accepted %d, right after failures %s; want 3, accepted", r.WrongAccepted, r.AfterFailures.Answer)
			}
		})
	}
}

func TestRetainAndWillVerdicts(t *testing.T) {
	for _, hardened := range []bool{false, true} {
		t.Run(profileName(hardened), func(t *testing.T) {
			rp := startRef(t, hardened)
			r := RetainACL(t.Context(), rp.tls, rp.a, rp.bIdent, timeout)
			if r.Error != "" || !r.SubscriberReady {
				t.Fatalf("retained sequence: error %q, subscriber ready %v", r.Error, r.SubscriberReady)
			}
			if r.Retained != !hardened || r.Delivered != !hardened {
				t.Errorf("retained canary: stored %v, delivered %v; want %v", r.Retained, r.Delivered, !hardened)
			}
			if !hardened && (r.Cleared == nil || !*r.Cleared || len(rp.b.Server().Topics.Messages(rp.bIdent.Topic)) != 0) {
				t.Errorf("the retained canary was not cleared (cleared %v)", r.Cleared)
			}
			w := WillACL(t.Context(), rp.tls, rp.a, rp.bIdent, 500*time.Millisecond, timeout)
			if w.Error != "" || !w.SubscriberReady {
				t.Fatalf("will sequence: error %q, subscriber ready %v", w.Error, w.SubscriberReady)
			}
			if w.Delivered != !hardened || (w.Refused != nil) != hardened {
				t.Errorf("will: delivered %v, refused at CONNECT %v; want %v, %v", w.Delivered, w.Refused != nil, !hardened, hardened)
			}
		})
	}
}

func TestDoorsAgree(t *testing.T) {
	for _, hardened := range []bool{false, true} {
		t.Run(profileName(hardened), func(t *testing.T) {
			rp := startRef(t, hardened)
			v3 := Door(t.Context(), rp.tls, rp.tls, 4, rp.a, rp.bIdent, timeout)
			v5 := Door(t.Context(), rp.tls, rp.tls, 5, rp.a, rp.bIdent, timeout)
			ws := Door(t.Context(), rp.ws, rp.tls, 4, rp.a, rp.bIdent, timeout)
			for _, d := range []DoorResult{v3, v5, ws} {
				if d.Error != "" || !d.ObserverReady {
					t.Fatalf("door %s v%d: error %q, observer ready %v", d.Endpoint, d.Version, d.Error, d.ObserverReady)
				}
				if got := d.Seen.AnonymousIn() || d.Seen.WrongIn() || d.Seen.OtherIn(); got == hardened {
					t.Errorf("door %s v%d: something got through = %v on the %s broker (%+v)", d.Endpoint, d.Version, got, profileName(hardened), d.Seen)
				}
			}
			if g := Gaps(v3.Seen, v5.Seen); len(g) != 0 {
				t.Errorf("MQTT 5 gaps: %+v", g)
			}
			if v3.Seen.Enforces() != hardened {
				t.Errorf("3.1.1 enforces = %v, want %v", v3.Seen.Enforces(), hardened)
			}
			if hardened {
				if mps := v5.Seen.Identity.Properties["maximum_packet_size"]; mps != nil {
					t.Logf("MQTT 5 CONNACK properties: %v", v5.Seen.Identity.Properties)
				}
				if v5.Seen.PubackCode == nil || *v5.Seen.PubackCode != 0x87 {
					t.Errorf("MQTT 5 publish to another device's topic: PUBACK %v, want 0x87", v5.Seen.PubackCode)
				}
			}
		})
	}
}

func profileName(hardened bool) string {
	if hardened {
		return "hardened"
	}
	return "exposed"
}

// TestVerdictsOnReferenceBroker takes every identity verdict from the reference broker in its
// exposed and hardened states: the exposed one fails each control that applies (the MQTT 5
// comparison has nothing to compare with while 3.1.1 enforces nothing), the hardened one passes.
func TestVerdictsOnReferenceBroker(t *testing.T) {
	tests := []struct {
		hardened bool
		want     map[string]record.Status
	}{
		{false, map[string]record.Status{"takeover": record.StatusFail, "lockout": record.StatusFail, "retain": record.StatusFail, "will": record.StatusFail, "mqtt5": record.StatusSkip, "websocket": record.StatusFail}},
		{true, map[string]record.Status{"takeover": record.StatusPass, "lockout": record.StatusPass, "retain": record.StatusPass, "will": record.StatusPass, "mqtt5": record.StatusPass, "websocket": record.StatusPass}},
	}
	for _, tc := range tests {
		t.Run(profileName(tc.hardened), func(t *testing.T) {
			rp := startRef(t, tc.hardened)
			ctx := t.Context()
			got := map[string]Verdict{
				"takeover":  TakeoverVerdict(Takeover(ctx, rp.tls, rp.a, rp.bIdent, timeout)),
				"lockout":   LockoutVerdict(Lockout(ctx, rp.tls, rp.bIdent, 3, rp.lockWindow, timeout)),
				"retain":    RetainVerdict(RetainACL(ctx, rp.tls, rp.a, rp.bIdent, timeout)),
				"will":      WillVerdict(WillACL(ctx, rp.tls, rp.a, rp.bIdent, 300*time.Millisecond, timeout), "300ms"),
				"mqtt5":     MQTT5Verdict(Door(ctx, rp.tls, rp.tls, 4, rp.a, rp.bIdent, timeout), Door(ctx, rp.tls, rp.tls, 5, rp.a, rp.bIdent, timeout)),
				"websocket": WebSocketVerdict("WebSocket listener", rp.ws.URL, Door(ctx, rp.ws, rp.tls, 4, rp.a, rp.bIdent, timeout)),
			}
			for name, want := range tc.want {
				if v := got[name]; v.Status != want {
					t.Errorf("%s: %s (%s), want %s", name, v.Status, v.Reason, want)
				} else {
					t.Logf("%s: %s: %s", name, v.Status, v.Reason)
				}
			}
		})
	}
}
