package checks

// Real peers for the check tests: certificates made with crypto/x509, mochi brokers configured
// like the exposed and hardened profiles, a tiny ingest stub and a fake telemetry account. All
// bind 127.0.0.1:0.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pathrig/rig/rig/evidence"
)

const (
	testServerName = "broker.rig.test"
	testToken      = "tok-3f9a1c7e5b2d4f60a8e1"
	testPassword   = "probe-a-pass-7c2e9f41"
)

// certSpec describes one test certificate.
type certSpec struct {
	cn        string
	dns       []string
	ips       []net.IP
	notBefore time.Time
	notAfter  time.Time
	key       crypto.Signer
	isCA      bool
	eku       []x509.ExtKeyUsage
}

// issue signs spec with parent (self-signed when parent is nil).
func issue(t testing.TB, spec certSpec, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, tls.Certificate) {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: spec.cn, Organization: []string{"rig test"}},
		DNSNames:              spec.dns,
		IPAddresses:           spec.ips,
		NotBefore:             spec.notBefore,
		NotAfter:              spec.notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           spec.eku,
		BasicConstraintsValid: true,
		IsCA:                  spec.isCA,
	}
	if spec.isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	}
	if parent == nil {
		parent, parentKey = tmpl, spec.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, spec.key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: spec.key, Leaf: cert}
}

func ecKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func rsaKey(t testing.TB, bits int) crypto.Signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testPKI is the deployment CA with what it issued, plus the exposed profile's bad certificate.
type testPKI struct {
	ca     *x509.Certificate
	caKey  crypto.Signer
	pool   *x509.CertPool // the deployment's trust anchor
	good   tls.Certificate
	bad    tls.Certificate
	client tls.Certificate
}

var sharedPKI struct {
	once sync.Once
	pki  *testPKI
}

// pki returns one PKI per test binary: RSA key generation is the slow part of these tests.
func pki(t testing.TB) *testPKI {
	t.Helper()
	sharedPKI.once.Do(func() {
		now := time.Now()
		p := &testPKI{caKey: ecKey(t)}
		p.ca, _ = issue(t, certSpec{cn: "rig test CA", notBefore: now.Add(-2 * 365 * 24 * time.Hour), notAfter: now.Add(5 * 365 * 24 * time.Hour), key: p.caKey, isCA: true}, nil, nil)
		p.pool = x509.NewCertPool()
		p.pool.AddCert(p.ca)
		_, p.good = issue(t, certSpec{
			cn: testServerName, dns: []string{testServerName}, ips: []net.IP{net.IPv4(127, 0, 0, 1)},
			notBefore: now.Add(-time.Hour), notAfter: now.Add(365 * 24 * time.Hour), key: ecKey(t),
			eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}, p.ca, p.caKey)
		// Exposed: self-signed, RSA-1024, the right name only in the CN, expiring in 10 days.
		_, p.bad = issue(t, certSpec{
			cn: testServerName, dns: []string{"wrong.example"},
			notBefore: now.Add(-time.Hour), notAfter: now.Add(10 * 24 * time.Hour), key: rsaKey(t, 1024),
			eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}, nil, nil)
		_, p.client = issue(t, certSpec{
			cn: "probe-a", notBefore: now.Add(-time.Hour), notAfter: now.Add(365 * 24 * time.Hour), key: ecKey(t),
			eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}, p.ca, p.caKey)
		sharedPKI.pki = p
	})
	if sharedPKI.pki == nil {
		t.Fatal("test PKI could not be generated")
	}
	return sharedPKI.pki
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// allowHook admits everyone to everything, like mochi's auth.AllowHook. That one is not used
// because its package imports gopkg.in/yaml.v3, which go.sum does not carry (yet).
type allowHook struct{ mqtt.HookBase }

func (h *allowHook) ID() string { return "rig-test-allow-all" }

func (h *allowHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *allowHook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (h *allowHook) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

// hardenedHook refuses clients with neither a username nor a verified client certificate, and
// every wildcard subscription.
type hardenedHook struct{ mqtt.HookBase }

func (h *hardenedHook) ID() string { return "rig-test-hardened" }

func (h *hardenedHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *hardenedHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	if tc, ok := cl.Net.Conn.(*tls.Conn); ok && len(tc.ConnectionState().PeerCertificates) > 0 {
		return true
	}
	return len(pk.Connect.Username) > 0
}

func (h *hardenedHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	return !strings.ContainsAny(topic, "#+")
}

// startBroker starts a mochi broker shaped like the named profile and returns its targets.
func startBroker(t *testing.T, profile string) Broker {
	t.Helper()
	p := pki(t)
	opts := &mqtt.Options{Logger: quietLogger(), InlineClient: false}
	var tlsConf *tls.Config
	plain := false
	switch profile {
	case "exposed":
		plain = true
		// Go servers refuse TLS 1.0 and 1.1 unless MinVersion says otherwise.
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS10, Certificates: []tls.Certificate{p.bad}}
	case "hardened":
		caps := mqtt.NewDefaultServerCapabilities()
		caps.MaximumPacketSize = 4096
		opts.Capabilities = caps
		tlsConf = &tls.Config{
			MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{p.good},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool,
		}
	default:
		t.Fatalf("unknown profile %q", profile)
	}
	s := mqtt.New(opts)
	var err error
	if profile == "exposed" {
		err = s.AddHook(new(allowHook), nil)
	} else {
		err = s.AddHook(new(hardenedHook), nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	b := Broker{ServerName: testServerName, Trust: p.pool}
	if plain {
		l := listeners.NewTCP(listeners.Config{Type: listeners.TypeTCP, ID: "plain", Address: "127.0.0.1:0"})
		if err := s.AddListener(l); err != nil {
			t.Fatal(err)
		}
		b.Plain = l.Address()
	} else {
		b.Plain = closedPort(t) // named, but nothing listens
	}
	l := listeners.NewTCP(listeners.Config{Type: listeners.TypeTCP, ID: "tls", Address: "127.0.0.1:0", TLSConfig: tlsConf})
	if err := s.AddListener(l); err != nil {
		t.Fatal(err)
	}
	b.TLS = l.Address()
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return b
}

// closedPort returns a loopback address nothing listens on: it was bound and released.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// sampleBody is a telemetry record as the gateway would post it.
var sampleBody = []byte(`{"device":"0123456789abcdef01234567","boot":1,"seq":7,"device_time_ms":1500,"gateway_time":"2025-01-01T00:00:00Z","temp_centi_c":2150,"supply_mv":3300}`)

// startIngest starts a stand-in for the ingest API. With a token it answers 401 without the right
// bearer; without one it accepts anything and, carelessly, echoes the Authorization header it got,
// so the tests see that redaction catches a secret the peer sends back.
func startIngest(t *testing.T, token string) Ingest {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ingest"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if !json.Valid(body) {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		if token == "" {
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "accepted", "seen_authorization": r.Header.Get("Authorization")})
			return
		}
		_, _ = io.WriteString(w, `{"status":"accepted"}`)
	}))
	t.Cleanup(srv.Close)
	return Ingest{URL: srv.URL + "/v1/telemetry", Token: testToken, Sample: bytes.Clone(sampleBody)}
}

// fakeTelemetry answers Account with fixed numbers.
type fakeTelemetry struct {
	acc Accounting
	err error

	mu    sync.Mutex
	drain time.Duration
	calls int
}

func (f *fakeTelemetry) Account(ctx context.Context, drain time.Duration) (*Accounting, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drain, f.calls = drain, f.calls+1
	if _, ok := ctx.Deadline(); !ok {
		return nil, io.ErrUnexpectedEOF // a check must bound the call
	}
	if f.err != nil {
		return nil, f.err
	}
	a := f.acc
	return &a, nil
}

// accounting totals rows as the accounting does.
func accounting(rows ...TrustAccount) Accounting {
	a := Accounting{Accounts: rows}
	for _, r := range rows {
		a.Totals.Sent += r.Sent
		a.Totals.Delivered += r.Delivered
		a.Totals.Lost += r.Lost
		a.Totals.StoredDuplicates += r.StoredDuplicates
		a.Totals.Altered += r.Altered
	}
	return a
}

func healthyTelemetry() *fakeTelemetry {
	return &fakeTelemetry{acc: accounting(
		TrustAccount{Device: "0123456789abcdef01234567", Boot: 1, Sent: 120, Delivered: 120, Duplicates: 3},
		TrustAccount{Device: "0123456789abcdef01234567", Boot: 2, Sent: 40, Delivered: 40},
	)}
}

func lossyTelemetry() *fakeTelemetry {
	return &fakeTelemetry{acc: accounting(TrustAccount{Device: "0123456789abcdef01234567", Boot: 1, Sent: 120, Delivered: 97, Lost: 23})}
}

func probeIdentityA(t *testing.T) Identity {
	c := pki(t).client
	return Identity{Name: "probe-a", ClientID: "probe-a", Username: "probe-a", Password: testPassword, Cert: &c, Topic: "rig/devices/probe-a/telemetry"}
}

// newEnv builds an env writing evidence into a fresh run folder.
func newEnv(t *testing.T, targets Targets, tel Telemetry) (*Env, string) {
	t.Helper()
	dir := t.TempDir()
	store, err := evidence.NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{Targets: targets, Evidence: store, Log: quietLogger(), Limits: Limits{ProbeTimeout: 2 * time.Second, OversizeBytes: 64 << 10, DrainTimeout: time.Second}}
	if tel != nil {
		env.Telemetry = tel
	}
	return env, dir
}
