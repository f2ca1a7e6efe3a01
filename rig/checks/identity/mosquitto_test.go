package identity

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/checks/probe/mqttclient"
	"github.com/pathrig/rig/rig/mqttws"
	"github.com/pathrig/rig/rig/pki"
	"github.com/pathrig/rig/rig/record"
)

// mosqPKI is a CA, a server certificate for 127.0.0.1 and client certificates probe-a, probe-b,
// written where mosquitto reads them.
type mosqPKI struct {
	dir   string
	trust *tls.Config
	certs map[string]tls.Certificate
}

func newMosqPKI(t *testing.T) *mosqPKI {
	t.Helper()
	p, err := pki.New(pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	srv, err := p.IssueServer(pki.ServerOpts{DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	if err := srv.WriteFiles(dir, "server"); err != nil {
		t.Fatal(err)
	}
	m := &mosqPKI{dir: dir, trust: &tls.Config{RootCAs: p.CAPool(), ServerName: "localhost"}, certs: map[string]tls.Certificate{}}
	for _, n := range []string{"probe-a", "probe-b"} {
		c, err := p.IssueClient(n, pki.ClientOpts{})
		if err != nil {
			t.Fatal(err)
		}
		m.certs[n] = c.Cert
	}
	return m
}

func (m *mosqPKI) ident(n, pw string) Identity {
	c := m.certs[n]
	return Identity{Name: n, ClientID: n, Username: n, Password: pw, Cert: &c, Topic: "rig/devices/" + n + "/probe"}
}

// freePort returns a loopback port that was free a moment ago (mosquitto binds it itself).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).AddrPort().String()
}

// startMosquitto runs Debian's mosquitto in the foreground with conf (which names its listeners
// with %s for each of addrs' ports, in order) and waits until every listener accepts. It keeps
// root's privileges (`user root`) so that it reads the keys of the test's folder.
func startMosquitto(t *testing.T, dir, conf string, addrs ...string) {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		t.Skip("mosquitto not installed: apt-get install -y mosquitto (.ci/run installs it in CI)")
	}
	ports := make([]any, len(addrs))
	for i, a := range addrs {
		_, p, _ := net.SplitHostPort(a)
		ports[i] = p
	}
	cf := filepath.Join(dir, "mosquitto.conf")
	full := "user root\npersistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n" + fmt.Sprintf(conf, ports...)
	if err := os.WriteFile(cf, []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", cf)
	var out strings.Builder
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			mu.Lock()
			t.Logf("mosquitto config:\n%s\noutput:\n%s", full, out.String())
			mu.Unlock()
		}
	})
	for _, a := range addrs {
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", a, 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-exited:
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("mosquitto exited before listening on %s:\n%s", a, out.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("mosquitto does not listen on %s after 10s", a)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestMosquittoTakeover: with client certificates (use_identity_as_username) a second identity
// that connects with a device's client id takes over its session, unless
// use_username_as_clientid gives every connection its username as client id.
func TestMosquittoTakeover(t *testing.T) {
	tests := []struct {
		name string
		line string
		want record.Status
	}{
		{"client certificates, client ids free", "", record.StatusFail},
		{"client certificates, use_username_as_clientid", "use_username_as_clientid true\n", record.StatusPass},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMosqPKI(t)
			addr := freePort(t)
			// use_username_as_clientid is a listener option: it goes after the listener line.
			conf := "per_listener_settings false\nallow_anonymous false\n" +
				"listener %s 127.0.0.1\n" + tc.line + "cafile " + filepath.Join(m.dir, "ca.crt") + "\ncertfile " + filepath.Join(m.dir, "server.crt") +
				"\nkeyfile " + filepath.Join(m.dir, "server.key") + "\nrequire_certificate true\nuse_identity_as_username true\n"
			startMosquitto(t, m.dir, conf, addr)
			ep := mqttclient.Endpoint{Label: "tls", Addr: addr, TLS: m.trust}
			r := Takeover(t.Context(), ep, m.ident("probe-a", ""), m.ident("probe-b", ""), timeout)
			v := TakeoverVerdict(r)
			if v.Status != tc.want {
				t.Fatalf("IDENT-TAKEOVER on mosquitto = %s (%s), want %s; steps %+v", v.Status, v.Reason, tc.want, r.Steps)
			}
			t.Logf("%s: %s", v.Status, v.Reason)
		})
	}
}

// TestMosquittoLockout: mosquitto's password file has no lockout: the right password is accepted
// right after failed logins (the remediation is a plugin: mosquitto-go-auth, dynamic security).
func TestMosquittoLockout(t *testing.T) {
	m := newMosqPKI(t)
	passwd, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto_passwd not installed: apt-get install -y mosquitto")
	}
	pw := filepath.Join(m.dir, "passwd")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, passwd, "-b", "-c", pw, "probe-b", "pw-b-mosq").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	addr := freePort(t)
	startMosquitto(t, m.dir, "allow_anonymous false\npassword_file "+pw+"\nlistener %s 127.0.0.1\n", addr)
	r := Lockout(t.Context(), mqttclient.Endpoint{Label: "plain", Addr: addr}, Identity{Name: "probe-b", ClientID: "probe-b", Username: "probe-b", Password: "pw-b-mosq"}, 5, 200*time.Millisecond, timeout)
	v := LockoutVerdict(r)
	if v.Status != record.StatusFail || r.WrongAccepted != 0 || !r.AfterFailures.Accepted() {
		t.Fatalf("IDENT-LOCKOUT on mosquitto = %s (%s), want fail with every wrong password refused and the right one accepted", v.Status, v.Reason)
	}
	t.Logf("%s: %s", v.Status, v.Reason)
}

// wsFront is a WebSocket listener the test makes in front of a TCP MQTT listener: Debian's
// mosquitto 2.0.11 is built without libwebsockets ("Opening websockets listen socket ... Unable to
// start any listening sockets"), so the WebSocket side of a per_listener_settings broker is
// modelled by this front and the plain listener it relays to.
func wsFront(t *testing.T, backend string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := mqttws.Upgrader()
	srv := &http.Server{ReadHeaderTimeout: timeout, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := mqttws.New(ws, nil)
		defer c.Close()
		b, err := net.DialTimeout("tcp", backend, timeout)
		if err != nil {
			return
		}
		defer b.Close()
		done := make(chan struct{}, 2)
		go func() { _, _ = io.Copy(b, c); done <- struct{}{} }()
		go func() { _, _ = io.Copy(c, b); done <- struct{}{} }()
		<-done
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "ws://" + ln.Addr().String() + "/mqtt"
}

// TestMosquittoWebSocketBypass: per_listener_settings with a TLS listener that requires client
// certificates and passwords, and a second listener for WebSocket clients left with
// allow_anonymous true: IDENT-WEBSOCKET fails, while the TLS listener itself refuses anonymous
// clients.
func TestMosquittoWebSocketBypass(t *testing.T) {
	m := newMosqPKI(t)
	passwd, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto_passwd not installed: apt-get install -y mosquitto")
	}
	pw := filepath.Join(m.dir, "passwd")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for i, u := range []string{"probe-a", "probe-b"} {
		args := []string{"-b", pw, u, "pw-" + u}
		if i == 0 {
			args = []string{"-b", "-c", pw, u, "pw-" + u}
		}
		if out, err := exec.CommandContext(ctx, passwd, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v: %s", err, out)
		}
	}
	acl := filepath.Join(m.dir, "acl")
	if err := os.WriteFile(acl, []byte("pattern readwrite rig/devices/%u/#\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tlsAddr, wsBackend := freePort(t), freePort(t)
	conf := "per_listener_settings true\n" +
		"listener %s 127.0.0.1\ncafile " + filepath.Join(m.dir, "ca.crt") + "\ncertfile " + filepath.Join(m.dir, "server.crt") +
		"\nkeyfile " + filepath.Join(m.dir, "server.key") + "\nrequire_certificate true\nallow_anonymous false\npassword_file " + pw + "\nacl_file " + acl + "\n" +
		"listener %s 127.0.0.1\nallow_anonymous true\n"
	startMosquitto(t, m.dir, conf, tlsAddr, wsBackend)
	url := wsFront(t, wsBackend)
	a, b := m.ident("probe-a", "pw-probe-a"), m.ident("probe-b", "pw-probe-b")
	tlsEP := mqttclient.Endpoint{Label: "tls", Addr: tlsAddr, TLS: m.trust}
	base := Door(t.Context(), tlsEP, tlsEP, 4, a, b, timeout)
	if base.Error != "" || base.Seen.AnonymousIn() || base.Seen.WrongIn() {
		t.Fatalf("mosquitto's TLS listener: error %q, anonymous %s, wrong password %s; want both refused", base.Error, base.Seen.Anonymous.Answer, base.Seen.WrongPassword.Answer)
	}
	ws := Door(t.Context(), mqttclient.Endpoint{Label: "ws", URL: url}, tlsEP, 4, a, b, timeout)
	v := WebSocketVerdict("WebSocket listener", url, ws)
	if v.Status != record.StatusFail || !ws.Seen.AnonymousIn() {
		t.Fatalf("IDENT-WEBSOCKET = %s (%s), want fail with anonymous admitted", v.Status, v.Reason)
	}
	t.Logf("%s: %s", v.Status, v.Reason)
	// The MQTT 5 door of the TLS listener is held to the same rules as 3.1.1.
	v5 := Door(t.Context(), tlsEP, tlsEP, 5, a, b, timeout)
	if mv := MQTT5Verdict(base, v5); mv.Status != record.StatusPass {
		t.Errorf("IDENT-MQTT5 on mosquitto = %s (%s), want pass", mv.Status, mv.Reason)
	} else {
		t.Logf("MQTT 5: %s; CONNACK properties %v", mv.Reason, v5.Seen.Identity.Properties)
	}
}
