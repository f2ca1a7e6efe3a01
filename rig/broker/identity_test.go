package broker

import (
	"bytes"
	"crypto/tls"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/pathrig/rig/rig/secevent"
	"github.com/pathrig/rig/rig/telemetry"
)

// events is a security event log the test reads back.
type events struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (e *events) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.buf.Write(p)
}

func (e *events) kinds(t *testing.T) []string {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	evs, err := secevent.Decode(bytes.NewReader(e.buf.Bytes()), 1000)
	if err != nil {
		t.Fatalf("decode security events: %v", err)
	}
	var out []string
	for _, ev := range evs {
		if strings.Contains(ev.Detail, "pw-") {
			t.Errorf("event %+v quotes a password", ev)
		}
		out = append(out, string(ev.Kind)+":"+string(ev.Outcome))
	}
	return out
}

// passwordBroker is a plaintext broker with per-device passwords and the ACL: identity rules
// without certificates, where only the client id binding stops a takeover.
func passwordBroker(t *testing.T, id IdentityConfig) (*Broker, *events) {
	ev := &events{}
	b := start(t, Config{PlainAddr: "127.0.0.1:0", Users: map[string]string{devA: "pw-a", devB: "pw-b"}, DeviceACL: true,
		Identity: id, Events: secevent.New(ev, "broker"), Log: testLog(t)})
	return b, ev
}

func TestClientIDBinding(t *testing.T) {
	tests := []struct {
		name      string
		bound     bool
		wantTaken bool
		wantEvent string
	}{
		{"free client ids: B takes over A's session", false, true, ""},
		{"bound client ids: B is refused, A keeps its session", true, false, "takeover-refused:refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, ev := passwordBroker(t, IdentityConfig{BoundClientID: tc.bound})
			url := "tcp://" + b.PlainAddr()
			a := mustConnect(t, dial{url: url, id: devA, user: devA, pass: "pw-a"})
			_, err := connect(t, dial{url: url, id: devA, user: devB, pass: "pw-b"})
			if (err == nil) != tc.wantTaken {
				t.Fatalf("B connecting with A's client id: err = %v, want accepted=%v", err, tc.wantTaken)
			}
			if tc.wantTaken {
				waitLost(t, a, "A after the takeover")
				return
			}
			// A's session answers after the refusal: a PINGREQ round trip through a publish.
			publish(t, a, telemetry.TopicPrefix+"/"+devA+"/t", 1, []byte("still here"))
			if !a.IsConnectionOpen() {
				t.Fatal("A's session ended although B was refused")
			}
			if got := ev.kinds(t); strings.Join(got, ",") != tc.wantEvent {
				t.Errorf("security events = %v, want %s", got, tc.wantEvent)
			}
		})
	}
}

// fakeClock is an injectable clock for the lockout window.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestLockout(t *testing.T) {
	clk := &fakeClock{}
	clk.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	ev := &events{}
	b := start(t, Config{PlainAddr: "127.0.0.1:0", Users: map[string]string{devA: "pw-a", devB: "pw-b"},
		Identity: IdentityConfig{LockoutAttempts: 3, LockoutWindow: 30 * time.Second}, Events: secevent.New(ev, "broker"), Now: clk.now, Log: testLog(t)})
	url := "tcp://" + b.PlainAddr()
	try := func(user, pass string) bool {
		c, err := connect(t, dial{url: url, id: user, user: user, pass: pass})
		if c != nil {
			c.Disconnect(0)
			// Wait until the broker has let the client go, so that the next CONNECT with its id is a
			// plain login, not a takeover of a session still open.
			for deadline := time.Now().Add(wait); ; time.Sleep(time.Millisecond) {
				if cl, ok := b.Server().Clients.Get(user); !ok || cl.Closed() {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("broker still holds client %s after DISCONNECT", user)
				}
			}
		}
		return err == nil
	}
	steps := []struct {
		name    string
		user    string
		pass    string
		advance time.Duration
		want    bool
	}{
		{"A right password", devA, "pw-a", 0, true},
		{"A wrong 1", devA, "x", 0, false},
		{"A wrong 2", devA, "x", 0, false},
		{"A wrong 3 locks", devA, "x", 0, false},
		{"A right password while locked", devA, "pw-a", 0, false},
		{"B is not locked", devB, "pw-b", 0, true},
		{"A right password, 29s later", devA, "pw-a", 29 * time.Second, false},
		{"A right password after the window", devA, "pw-a", 2 * time.Second, true},
		{"A wrong once more does not lock (the count restarted)", devA, "x", 0, false},
		{"A right password", devA, "pw-a", 0, true},
	}
	for _, st := range steps {
		clk.advance(st.advance)
		if got := try(st.user, st.pass); got != st.want {
			t.Fatalf("%s: accepted = %v, want %v", st.name, got, st.want)
		}
	}
	want := "auth-failure:refused,auth-failure:refused,lockout:alert,auth-failure:refused,lockout:refused,lockout:refused,auth-failure:refused"
	if got := strings.Join(ev.kinds(t), ","); got != want {
		t.Errorf("security events = %s, want %s", got, want)
	}
}

func TestLockoutTableIsBounded(t *testing.T) {
	clk := &fakeClock{}
	l := newLockout(IdentityConfig{LockoutAttempts: 2, LockoutWindow: time.Minute}, clk.now)
	for i := range maxLockoutKeys + 500 {
		l.fail("user:" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + time.Duration(i).String())
	}
	if n := len(l.keys); n > maxLockoutKeys {
		t.Fatalf("lockout table holds %d keys, want at most %d", n, maxLockoutKeys)
	}
}

func TestWillACL(t *testing.T) {
	own, other := telemetry.TopicPrefix+"/"+devA+"/status", telemetry.TopicPrefix+"/"+devB+"/status"
	tests := []struct {
		name      string
		willACL   bool
		topic     string
		wantOK    bool
		delivered bool
	}{
		{"will on own topic", true, own, true, false},
		{"will on another device's topic, will ACL on: refused", true, other, false, false},
		{"will on another device's topic, will ACL off: mochi publishes it", false, other, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, ev := passwordBroker(t, IdentityConfig{WillACL: tc.willACL})
			url := "tcp://" + b.PlainAddr()
			got := make(chan []byte, 1)
			obs := mustConnect(t, dial{url: url, id: devB, user: devB, pass: "pw-b"})
			subscribe(t, obs, other, func(_ paho.Client, m paho.Message) { got <- m.Payload() })
			o := paho.NewClientOptions().AddBroker(url).SetClientID(devA).SetUsername(devA).SetPassword("pw-a").
				SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(wait).SetBinaryWill(tc.topic, []byte("gone"), 0, false)
			c := paho.NewClient(o)
			tok := c.Connect()
			if !tok.WaitTimeout(wait) {
				t.Fatal("connect timed out")
			}
			if (tok.Error() == nil) != tc.wantOK {
				t.Fatalf("connect with a will on %s: err = %v, want ok=%v", tc.topic, tok.Error(), tc.wantOK)
			}
			if !tc.wantOK {
				if k := ev.kinds(t); len(k) != 1 || k[0] != "acl-deny:refused" {
					t.Errorf("security events = %v, want one acl-deny", k)
				}
				return
			}
			// Drop the connection without DISCONNECT: the broker sees a vanished client.
			b.Server().Clients.GetAll()[devA].Stop(nil)
			select {
			case p := <-got:
				if !tc.delivered {
					t.Fatalf("will %q delivered, want none", p)
				}
			case <-time.After(300 * time.Millisecond):
				if tc.delivered {
					t.Fatal("will not delivered within 300ms")
				}
			}
		})
	}
}

func TestRetainedObeysACL(t *testing.T) {
	b, _ := passwordBroker(t, IdentityConfig{})
	url := "tcp://" + b.PlainAddr()
	other := telemetry.TopicPrefix + "/" + devB + "/state"
	a := mustConnect(t, dial{url: url, id: devA, user: devA, pass: "pw-a"})
	tok := a.Publish(other, 0, true, []byte("spoofed retained"))
	tok.WaitTimeout(wait)
	a.Disconnect(100)
	if n := len(b.Server().Topics.Messages(other)); n != 0 {
		t.Fatalf("broker retained %d messages on %s from a device that may not write there", n, other)
	}
}

func TestWebSocketListener(t *testing.T) {
	f := newFixture(t)
	hard := f.hardened(t)
	hard.WebSocketAddr, hard.WebSocketTLS = "127.0.0.1:0", hard.TLS
	exp := f.exposed(t)
	exp.WebSocketAddr = "127.0.0.1:0"
	bh, be := start(t, hard), start(t, exp)
	if !strings.HasPrefix(bh.WebSocketURL(), "wss://127.0.0.1:") || !strings.HasPrefix(be.WebSocketURL(), "ws://127.0.0.1:") {
		t.Fatalf("WebSocket URLs %q, %q", bh.WebSocketURL(), be.WebSocketURL())
	}
	trust := func(certs ...tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: f.pki.CAPool(), ServerName: "localhost", Certificates: certs}
	}
	tests := []struct {
		name   string
		d      dial
		wantOK bool
	}{
		{"exposed ws, anonymous", dial{url: be.WebSocketURL(), id: "anyone"}, true},
		{"hardened wss, anonymous without a certificate", dial{url: bh.WebSocketURL(), id: "anyone", tls: trust()}, false},
		{"hardened wss, A's certificate, no password", dial{url: bh.WebSocketURL(), id: devA, tls: trust(f.certA.Cert)}, false},
		{"hardened wss, A's certificate, wrong password", dial{url: bh.WebSocketURL(), id: devA, user: devA, pass: "x", tls: trust(f.certA.Cert)}, false},
		{"hardened wss, A's certificate and password", dial{url: bh.WebSocketURL(), id: devA, user: devA, pass: "pw-a", tls: trust(f.certA.Cert)}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := connect(t, tc.d)
			if (err == nil) != tc.wantOK {
				t.Fatalf("connect err = %v, want ok=%v", err, tc.wantOK)
			}
			if c != nil {
				// The ACL holds over WebSocket too: B's topic is out of reach.
				if code := subscribe(t, c, telemetry.TopicPrefix+"/"+devB+"/#", func(paho.Client, paho.Message) {}); tc.d.user != "" && code != 0x80 {
					t.Errorf("subscribe to B's topics over wss: SUBACK 0x%02x, want 0x80", code)
				}
				c.Disconnect(0)
			}
		})
	}
	// Close frees the WebSocket port and a restart binds it again.
	addr := strings.TrimSuffix(strings.TrimPrefix(bh.WebSocketURL(), "wss://"), "/mqtt")
	nb, err := bh.Restart(t.Context())
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer nb.Close()
	if got := nb.WebSocketURL(); got != "wss://"+addr+"/mqtt" {
		t.Errorf("restarted WebSocket URL %q, want the same address %s", got, addr)
	}
}

func TestIdentityConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   IdentityConfig
		want string
	}{
		{"negative attempts", IdentityConfig{LockoutAttempts: -1}, "negative"},
		{"attempts without a window", IdentityConfig{LockoutAttempts: 3}, "LockoutWindow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Start(t.Context(), Config{PlainAddr: "127.0.0.1:0", AllowAnonymous: true, Identity: tc.id})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start err = %v, want one naming %q", err, tc.want)
			}
		})
	}
}
