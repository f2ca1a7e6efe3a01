// Package checktest holds the real peers and the assertions the check tests share: certificates
// made with crypto/x509 and with Debian's openssl CLI, mochi brokers configured like the exposed
// and hardened profiles, Mosquitto and openssl s_server started as child processes, a tiny ingest
// stub, a fake telemetry account, and checks of a run's results and evidence. Every peer binds a
// loopback ephemeral port. Only tests import it.
package checktest

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
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/evidence"
	"github.com/pathrig/rig/rig/record"
)

const (
	ServerName = "broker.rig.test"
	Token      = "tok-3f9a1c7e5b2d4f60a8e1"
	Password   = "probe-a-pass-7c2e9f41"
)

// CertSpec describes one test certificate.
type CertSpec struct {
	CN        string
	DNS       []string
	IPs       []net.IP
	NotBefore time.Time
	NotAfter  time.Time
	Key       crypto.Signer
	IsCA      bool
	EKU       []x509.ExtKeyUsage
}

// Issue signs spec with parent (self-signed when parent is nil).
func Issue(t testing.TB, spec CertSpec, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, tls.Certificate) {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: spec.CN, Organization: []string{"rig test"}},
		DNSNames:              spec.DNS,
		IPAddresses:           spec.IPs,
		NotBefore:             spec.NotBefore,
		NotAfter:              spec.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           spec.EKU,
		BasicConstraintsValid: true,
		IsCA:                  spec.IsCA,
	}
	if spec.IsCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	}
	if parent == nil {
		parent, parentKey = tmpl, spec.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, spec.Key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: spec.Key, Leaf: cert}
}

func ECKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func RSAKey(t testing.TB, bits int) crypto.Signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// PKI is the deployment CA with what it issued, plus the exposed profile's bad certificate.
type PKI struct {
	CA     *x509.Certificate
	CAKey  crypto.Signer
	Pool   *x509.CertPool // the deployment's trust anchor
	Good   tls.Certificate
	Bad    tls.Certificate
	Client tls.Certificate
}

var sharedPKI struct {
	once sync.Once
	pki  *PKI
}

// TestPKI returns one PKI per test binary: RSA key generation is the slow part of these tests.
func TestPKI(t testing.TB) *PKI {
	t.Helper()
	sharedPKI.once.Do(func() {
		now := time.Now()
		p := &PKI{CAKey: ECKey(t)}
		p.CA, _ = Issue(t, CertSpec{CN: "rig test CA", NotBefore: now.Add(-2 * 365 * 24 * time.Hour), NotAfter: now.Add(5 * 365 * 24 * time.Hour), Key: p.CAKey, IsCA: true}, nil, nil)
		p.Pool = x509.NewCertPool()
		p.Pool.AddCert(p.CA)
		_, p.Good = Issue(t, CertSpec{
			CN: ServerName, DNS: []string{ServerName}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour), Key: ECKey(t),
			EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}, p.CA, p.CAKey)
		// Exposed: self-signed, RSA-1024, the right name only in the CN, expiring in 10 days.
		_, p.Bad = Issue(t, CertSpec{
			CN: ServerName, DNS: []string{"wrong.example"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 24 * time.Hour), Key: RSAKey(t, 1024),
			EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}, nil, nil)
		_, p.Client = Issue(t, CertSpec{
			CN: "probe-a", NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour), Key: ECKey(t),
			EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}, p.CA, p.CAKey)
		sharedPKI.pki = p
	})
	if sharedPKI.pki == nil {
		t.Fatal("test PKI could not be generated")
	}
	return sharedPKI.pki
}

func QuietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// AllowHook admits everyone to everything, like mochi's auth.AllowHook. That one is not used
// because its package imports gopkg.in/yaml.v3, which go.sum does not carry (yet).
type AllowHook struct{ mqtt.HookBase }

func (h *AllowHook) ID() string { return "rig-test-allow-all" }

func (h *AllowHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *AllowHook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (h *AllowHook) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

// HardenedHook refuses clients with neither a username nor a verified client certificate, and
// every wildcard subscription.
type HardenedHook struct{ mqtt.HookBase }

func (h *HardenedHook) ID() string { return "rig-test-hardened" }

func (h *HardenedHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *HardenedHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	if tc, ok := cl.Net.Conn.(*tls.Conn); ok && len(tc.ConnectionState().PeerCertificates) > 0 {
		return true
	}
	return len(pk.Connect.Username) > 0
}

func (h *HardenedHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	return !strings.ContainsAny(topic, "#+")
}

// StartBroker starts a mochi broker shaped like the named profile and returns its targets.
func StartBroker(t *testing.T, profile string) check.Broker {
	t.Helper()
	p := TestPKI(t)
	opts := &mqtt.Options{Logger: QuietLogger(), InlineClient: false}
	var tlsConf *tls.Config
	plain := false
	switch profile {
	case "exposed":
		plain = true
		// Go servers refuse TLS 1.0 and 1.1 unless MinVersion says otherwise.
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS10, Certificates: []tls.Certificate{p.Bad}}
	case "hardened":
		caps := mqtt.NewDefaultServerCapabilities()
		caps.MaximumPacketSize = 4096
		opts.Capabilities = caps
		tlsConf = &tls.Config{
			MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{p.Good},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.Pool,
		}
	default:
		t.Fatalf("unknown profile %q", profile)
	}
	s := mqtt.New(opts)
	var err error
	if profile == "exposed" {
		err = s.AddHook(new(AllowHook), nil)
	} else {
		err = s.AddHook(new(HardenedHook), nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	b := check.Broker{ServerName: ServerName, Trust: p.Pool}
	if plain {
		l := listeners.NewTCP(listeners.Config{Type: listeners.TypeTCP, ID: "plain", Address: "127.0.0.1:0"})
		if err := s.AddListener(l); err != nil {
			t.Fatal(err)
		}
		b.Plain = l.Address()
	} else {
		b.Plain = ClosedPort(t) // named, but nothing listens
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

// ClosedPort returns a loopback address nothing listens on: it was bound and released.
func ClosedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// SampleBody is a telemetry record as the gateway would post it.
var SampleBody = []byte(`{"device":"0123456789abcdef01234567","boot":1,"seq":7,"device_time_ms":1500,"gateway_time":"2025-01-01T00:00:00Z","temp_centi_c":2150,"supply_mv":3300}`)

// StartIngest starts a stand-in for the ingest API. With a token it answers 401 without the right
// bearer; without one it accepts anything and, carelessly, echoes the Authorization header it got,
// so the tests see that redaction catches a secret the peer sends back.
func StartIngest(t *testing.T, token string) check.Ingest {
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
	return check.Ingest{URL: srv.URL + "/v1/telemetry", Token: Token, Sample: bytes.Clone(SampleBody)}
}

// FakeTelemetry answers Account with fixed numbers.
type FakeTelemetry struct {
	Acc check.Accounting
	Err error

	mu    sync.Mutex
	Drain time.Duration // the drain of the last call
	Calls int
}

func (f *FakeTelemetry) Account(ctx context.Context, drain time.Duration) (*check.Accounting, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Drain, f.Calls = drain, f.Calls+1
	if _, ok := ctx.Deadline(); !ok {
		return nil, io.ErrUnexpectedEOF // a check must bound the call
	}
	if f.Err != nil {
		return nil, f.Err
	}
	a := f.Acc
	return &a, nil
}

// Accounting totals rows as the accounting does.
func Accounting(rows ...check.TrustAccount) check.Accounting {
	a := check.Accounting{Accounts: rows}
	for _, r := range rows {
		a.Totals.Sent += r.Sent
		a.Totals.Delivered += r.Delivered
		a.Totals.Lost += r.Lost
		a.Totals.StoredDuplicates += r.StoredDuplicates
		a.Totals.Altered += r.Altered
	}
	return a
}

func HealthyTelemetry() *FakeTelemetry {
	return &FakeTelemetry{Acc: Accounting(
		check.TrustAccount{Device: "0123456789abcdef01234567", Boot: 1, Sent: 120, Delivered: 120, Duplicates: 3},
		check.TrustAccount{Device: "0123456789abcdef01234567", Boot: 2, Sent: 40, Delivered: 40},
	)}
}

func LossyTelemetry() *FakeTelemetry {
	return &FakeTelemetry{Acc: Accounting(check.TrustAccount{Device: "0123456789abcdef01234567", Boot: 1, Sent: 120, Delivered: 97, Lost: 23})}
}

func ProbeIdentityA(t *testing.T) check.Identity {
	c := TestPKI(t).Client
	return check.Identity{Name: "probe-a", ClientID: "probe-a", Username: "probe-a", Password: Password, Cert: &c, Topic: "rig/devices/probe-a/telemetry"}
}

// NewEnv builds an env writing evidence into a fresh run folder.
func NewEnv(t *testing.T, targets check.Targets, tel check.Telemetry) (*check.Env, string) {
	t.Helper()
	dir := t.TempDir()
	store, err := evidence.NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	env := &check.Env{Targets: targets, Evidence: store, Log: QuietLogger(), Limits: check.Limits{ProbeTimeout: 2 * time.Second, OversizeBytes: 64 << 10, DrainTimeout: time.Second}}
	if tel != nil {
		env.Telemetry = tel
	}
	return env, dir
}

// NeedBinary returns the path of a Debian tool or skips the test naming the package.
func NeedBinary(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed: apt-get install -y %s (.ci/run installs it in CI)", name, pkg)
	}
	return p
}

// FreeAddr returns a loopback address with a port that was free a moment ago: the peer binds it
// itself, since these tools cannot report a port they chose.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func Port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// Run runs a command with a deadline and fails the test with its output on error.
func Run(t testing.TB, dir string, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// WaitListening polls addr until it accepts a TCP connection or the deadline passes.
func WaitListening(t testing.TB, addr string, exited <-chan struct{}, output func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("peer exited before listening on %s:\n%s", addr, output())
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("peer not listening on %s after 10s:\n%s", addr, output())
}

// lockedBuffer collects a child's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// StartPeer starts a long-running peer, waits until every addr listens and stops it (by its own
// pid) when the test ends.
func StartPeer(t testing.TB, dir string, addrs []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// openssl s_server reads stdin; a pipe nobody writes keeps it serving.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		_ = stdin.Close()
		if t.Failed() {
			o := out.String()
			if len(o) > 2048 {
				o = "…" + o[len(o)-2048:]
			}
			t.Logf("%s output (tail):\n%s", name, o)
		}
	})
	for _, a := range addrs {
		WaitListening(t, a, exited, out.String)
	}
}

// ---- certificates made with the openssl CLI ----

const opensslConf = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[selfsigned_ext]
basicConstraints = critical,CA:FALSE
subjectAltName = DNS:wrong.example
extendedKeyUsage = serverAuth
[ca]
default_ca = ca_default
[ca_default]
dir = .
database = index.txt
new_certs_dir = issued
serial = serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[policy_any]
commonName = supplied
`

// opensslCert is one certificate case.
type opensslCert struct {
	name      string
	CN        string
	san       string // subjectAltName value, "" for none (CN only)
	EKU       string // serverAuth, clientAuth
	Key       string // "ec" or "rsa:1024" ..., or "reuse:<name>" to share another case's key
	md        string // sha256 or sha1
	issuer    string // "" for the deployment CA, "foreign-ca" for the unrelated one
	NotBefore time.Time
	NotAfter  time.Time
}

// OpenSSLPKI is a CA and the certificates it issued, all files in dir.
type OpenSSLPKI struct {
	Dir     string
	Pool    *x509.CertPool
	Anchors []*x509.Certificate // the certificates in Pool
}

func (p *OpenSSLPKI) Cert(name string) string { return filepath.Join(p.Dir, name+".pem") }
func (p *OpenSSLPKI) Key(name string) string  { return filepath.Join(p.Dir, name+".key") }

func (p *OpenSSLPKI) TLSCert(t testing.TB, name string) *tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(p.Cert(name), p.Key(name))
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

func opensslTime(tm time.Time) string { return tm.UTC().Format("20060102150405Z") }

var opensslPKIOnce struct {
	once sync.Once
	pki  *OpenSSLPKI
	err  string
}

// BrokerName is the name devices use in the openssl-made cases.
const BrokerName = "broker.rig.test"

// NewOpenSSLPKI makes, once per test binary, a CA with the openssl CLI and every certificate case.
func NewOpenSSLPKI(t testing.TB) *OpenSSLPKI {
	t.Helper()
	openssl := NeedBinary(t, "openssl", "openssl")
	opensslPKIOnce.once.Do(func() {
		dir, err := os.MkdirTemp("", "rig-openssl-pki-")
		if err != nil {
			opensslPKIOnce.err = err.Error()
			return
		}
		// The folder outlives single tests (it is shared); TestMain removes it. It holds throwaway
		// test keys only.
		must := func(args ...string) {
			cmd := exec.Command(openssl, args...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil && opensslPKIOnce.err == "" {
				opensslPKIOnce.err = fmt.Sprintf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
		write := func(name, data string) {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil && opensslPKIOnce.err == "" {
				opensslPKIOnce.err = err.Error()
			}
		}
		write("ca.cnf", opensslConf)
		write("index.txt", "")
		write("serial", "1000\n")
		_ = os.Mkdir(filepath.Join(dir, "issued"), 0o755)
		// The CA predates every case, as a real deployment CA does: an expired leaf is then judged
		// at a time its issuer was valid.
		now := time.Now()
		day := 24 * time.Hour
		must("req", "-config", "ca.cnf", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
			"-keyout", "ca.key", "-out", "ca.csr", "-subj", "/CN=rig openssl test CA")
		must("ca", "-batch", "-config", "ca.cnf", "-selfsign", "-keyfile", "ca.key", "-in", "ca.csr", "-out", "ca.pem",
			"-startdate", opensslTime(now.Add(-5*365*day)), "-enddate", opensslTime(now.Add(25*365*day)), "-extensions", "ca_ext", "-notext")
		// Another CA, unrelated to the deployment: what a self-signed or foreign certificate chains to.
		must("req", "-config", "ca.cnf", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
			"-keyout", "foreign-ca.key", "-out", "foreign-ca.pem", "-subj", "/CN=some other CA", "-days", "3650", "-extensions", "ca_ext")
		san := "DNS:" + BrokerName + ",IP:127.0.0.1"
		cases := []opensslCert{
			{name: "good", CN: BrokerName, san: san, EKU: "serverAuth", Key: "ec", md: "sha256", NotBefore: now.Add(-day), NotAfter: now.Add(90 * day)},
			{name: "expired", CN: BrokerName, san: san, EKU: "serverAuth", Key: "ec", md: "sha256", NotBefore: now.Add(-400 * day), NotAfter: now.Add(-30 * day)},
			{name: "not-yet-valid", CN: BrokerName, san: san, EKU: "serverAuth", Key: "ec", md: "sha256", NotBefore: now.Add(10 * day), NotAfter: now.Add(100 * day)},
			{name: "cn-only", CN: BrokerName, san: "", EKU: "serverAuth", Key: "ec", md: "sha256", NotBefore: now.Add(-day), NotAfter: now.Add(90 * day)},
			{name: "wrong-san", CN: BrokerName, san: "DNS:wrong.example", EKU: "serverAuth", Key: "ec", md: "sha256", NotBefore: now.Add(-day), NotAfter: now.Add(90 * day)},
			{name: "rsa1024", CN: BrokerName, san: san, EKU: "serverAuth", Key: "rsa:1024", md: "sha256", NotBefore: now.Add(-day), NotAfter: now.Add(90 * day)},
			// RSA key exchange and DHE_RSA suites need an RSA certificate.
			{name: "rsa2048", CN: BrokerName, san: san, EKU: "serverAuth", Key: "rsa:2048", md: "sha256", NotBefore: now.Add(-day), NotAfter: now.Add(90 * day)},
			{name: "sha1", CN: BrokerName, san: san, EKU: "serverAuth", Key: "ec", md: "sha1", NotBefore: now.Add(-day), NotAfter: now.Add(90 * day)},
			{name: "sha1-foreign", CN: BrokerName, san: san, EKU: "serverAuth", Key: "ec", md: "sha1", issuer: "foreign-ca", NotBefore: now.Add(-day), NotAfter: now.Add(90 * day)},
			{name: "twenty-years", CN: BrokerName, san: san, EKU: "serverAuth", Key: "ec", md: "sha256", NotBefore: now.Add(-day), NotAfter: now.Add(20 * 365 * day)},
			{name: "expiring", CN: BrokerName, san: san, EKU: "serverAuth", Key: "ec", md: "sha256", NotBefore: now.Add(-day), NotAfter: now.Add(10 * day)},
			// Devices.
			{name: "device-a", CN: "probe-a", EKU: "clientAuth", Key: "ec", md: "sha256", NotBefore: now.Add(-day), NotAfter: now.Add(365 * day)},
			{name: "device-b", CN: "probe-b", EKU: "clientAuth", Key: "ec", md: "sha256", NotBefore: now.Add(-day), NotAfter: now.Add(365 * day)},
			{name: "device-no-eku", CN: "probe-c", EKU: "serverAuth", Key: "ec", md: "sha256", NotBefore: now.Add(-day), NotAfter: now.Add(365 * day)},
			{name: "device-shared-key", CN: "probe-d", EKU: "clientAuth", Key: "reuse:device-a", md: "sha256", NotBefore: now.Add(-day), NotAfter: now.Add(365 * day)},
		}
		for _, c := range cases {
			ext := "[ext]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\nextendedKeyUsage = " + c.EKU + "\n"
			if c.san != "" {
				ext += "subjectAltName = " + c.san + "\n"
			}
			write(c.name+".ext", ext)
			keyArgs := []string{"-newkey", c.Key, "-nodes", "-keyout", c.name + ".key"}
			switch {
			case c.Key == "ec":
				keyArgs = []string{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", c.name + ".key"}
			case strings.HasPrefix(c.Key, "reuse:"):
				other := strings.TrimPrefix(c.Key, "reuse:")
				keyArgs = []string{"-key", other + ".key"}
				must("pkey", "-in", other+".key", "-out", c.name+".key")
			}
			must(append([]string{"req", "-config", "ca.cnf", "-new", "-subj", "/CN=" + c.CN, "-out", c.name + ".csr"}, keyArgs...)...)
			issuer := "ca"
			if c.issuer != "" {
				issuer = c.issuer
			}
			must("ca", "-batch", "-config", "ca.cnf", "-cert", issuer+".pem", "-keyfile", issuer+".key", "-in", c.name+".csr", "-out", c.name+".pem",
				"-startdate", opensslTime(c.NotBefore), "-enddate", opensslTime(c.NotAfter), "-md", c.md,
				"-extfile", c.name+".ext", "-extensions", "ext", "-notext")
		}
		// Self-signed RSA-1024 with the wrong SAN, expiring in 10 days: the exposed broker's.
		must("req", "-config", "ca.cnf", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", "selfsigned.key", "-out", "selfsigned.pem",
			"-subj", "/CN="+BrokerName, "-days", "10", "-extensions", "selfsigned_ext")
		p := &OpenSSLPKI{Dir: dir, Pool: x509.NewCertPool()}
		ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
		if err == nil && !p.Pool.AppendCertsFromPEM(ca) {
			opensslPKIOnce.err = "ca.pem holds no certificate"
		}
		if b, _ := pem.Decode(ca); b != nil {
			if c, err := x509.ParseCertificate(b.Bytes); err == nil {
				p.Anchors = append(p.Anchors, c)
			}
		}
		opensslPKIOnce.pki = p
	})
	if opensslPKIOnce.pki == nil && opensslPKIOnce.err == "" {
		opensslPKIOnce.err = "openssl PKI not created"
	}
	if opensslPKIOnce.err != "" {
		t.Fatal(opensslPKIOnce.err)
	}
	return opensslPKIOnce.pki
}

// ---- openssl s_server ----

// StartSServer starts `openssl s_server` on a free loopback port with the named certificate
// case and extra flags, and returns its address.
func StartSServer(t testing.TB, p *OpenSSLPKI, certName string, flags ...string) string {
	t.Helper()
	openssl := NeedBinary(t, "openssl", "openssl")
	addr := FreeAddr(t)
	args := append([]string{"s_server", "-accept", addr, "-cert", p.Cert(certName), "-key", p.Key(certName), "-quiet", "-naccept", "1000"}, flags...)
	StartPeer(t, p.Dir, []string{addr}, openssl, args...)
	return addr
}

// ---- mosquitto ----

// MosquittoBroker is a running mosquitto and what the checks need to reach it.
type MosquittoBroker struct {
	Plain, TLS string
}

const ProbePasswordA = "probe-a-mosq-5d1e8b"
const ProbePasswordB = "probe-b-mosq-a93c07"

// StartMosquitto starts Debian's mosquitto in the exposed or the hardened shape. It runs in the
// foreground as a child of the test, never as a system service, and keeps root's privileges
// (`user root`) so that it can read the key files of the temporary folder.
func StartMosquitto(t testing.TB, p *OpenSSLPKI, shape string) MosquittoBroker {
	t.Helper()
	mosq := NeedBinary(t, "mosquitto", "mosquitto")
	dir := t.TempDir()
	var b MosquittoBroker
	var conf strings.Builder
	conf.WriteString("user root\nper_listener_settings false\npersistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n")
	switch shape {
	case "exposed":
		b.Plain, b.TLS = FreeAddr(t), FreeAddr(t)
		fmt.Fprintf(&conf, "allow_anonymous true\n")
		fmt.Fprintf(&conf, "listener %s 127.0.0.1\n", Port(b.Plain))
		fmt.Fprintf(&conf, "listener %s 127.0.0.1\ncertfile %s\nkeyfile %s\ntls_version tlsv1.1\nciphers ALL:COMPLEMENTOFALL:@SECLEVEL=0\n",
			Port(b.TLS), p.Cert("selfsigned"), p.Key("selfsigned"))
	case "hardened":
		passwd := NeedBinary(t, "mosquitto_passwd", "mosquitto")
		pw := filepath.Join(dir, "passwd")
		Run(t, dir, passwd, "-b", "-c", pw, "probe-a", ProbePasswordA)
		Run(t, dir, passwd, "-b", pw, "probe-b", ProbePasswordB)
		acl := filepath.Join(dir, "acl")
		if err := os.WriteFile(acl, []byte("pattern readwrite rig/devices/%u/#\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		b.Plain, b.TLS = FreeAddr(t), FreeAddr(t) // plain is named but nothing listens there
		fmt.Fprintf(&conf, "allow_anonymous false\npassword_file %s\nacl_file %s\nmax_packet_size 4096\n", pw, acl)
		fmt.Fprintf(&conf, "listener %s 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\ntls_version tlsv1.2\nciphers ECDHE+AESGCM:ECDHE+CHACHA20\n",
			Port(b.TLS), filepath.Join(p.Dir, "ca.pem"), p.Cert("good"), p.Key("good"))
	default:
		t.Fatalf("unknown mosquitto shape %q", shape)
	}
	cf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(cf, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	listening := []string{b.TLS}
	if shape == "exposed" {
		listening = append(listening, b.Plain)
	}
	StartPeer(t, dir, listening, mosq, "-c", cf)
	return b
}

func ByControl(t *testing.T, results []record.Result) map[string]record.Result {
	t.Helper()
	m := map[string]record.Result{}
	for _, r := range results {
		if _, dup := m[r.Control]; dup {
			t.Errorf("control %s reported twice", r.Control)
		}
		m[r.Control] = r
	}
	return m
}

// AssertEvidence checks that every referenced evidence file exists and that no file in the run
// folder holds a secret.
func AssertEvidence(t *testing.T, dir string, results []record.Result) {
	t.Helper()
	for _, r := range results {
		for _, p := range r.Evidence {
			if strings.HasPrefix(p, "/") || strings.Contains(p, "..") {
				t.Errorf("%s: evidence path %q is not relative to the run folder", r.Control, p)
			}
			if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(p))); err != nil {
				t.Errorf("%s: evidence %s: %v", r.Control, p, err)
			}
		}
	}
	secrets := []string{Token, Password, "PRIVATE KEY"}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("evidence file %s contains secret %q", path, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// AssertDeterministic checks that observed values carry no loopback port and no date.
func AssertDeterministic(t *testing.T, results []record.Result) {
	t.Helper()
	for _, r := range results {
		b := JSONOf(t, r.Observed)
		if strings.Contains(b, "127.0.0.1:") || strings.Contains(b, time.Now().UTC().Format("2006-01-02")) {
			t.Errorf("%s: observed values hold an address or a date: %s", r.Control, b)
		}
	}
}

// want is the expected verdict of one control.
type Want struct {
	Status   record.Status
	Severity record.Severity // checked when not empty
}

// Verdicts is the expected outcome of every control of the checks a case runs.
type Verdicts map[string]Want

func AssertVerdicts(t *testing.T, results []record.Result, w Verdicts) {
	t.Helper()
	got := ByControl(t, results)
	for _, r := range results {
		if _, ok := w[r.Control]; !ok {
			t.Errorf("%s: %s (%s) has no expected verdict in this case: every control is asserted", r.Control, r.Status, r.Reason)
		}
	}
	for id, want := range w {
		r, ok := got[id]
		if !ok {
			t.Errorf("%s: not evaluated", id)
			continue
		}
		if r.Status != want.Status {
			t.Errorf("%s: status %s, want %s (reason: %s)", id, r.Status, want.Status, r.Reason)
			continue
		}
		if want.Severity != "" && r.Status == record.StatusFail && r.Severity != want.Severity {
			t.Errorf("%s: severity %s, want %s (reason: %s)", id, r.Severity, want.Severity, r.Reason)
		}
	}
}

var (
	Pass    = Want{Status: record.StatusPass}
	Skipped = Want{Status: record.StatusSkip}
	Errored = Want{Status: record.StatusError}
)

func Fail(sev record.Severity) Want { return Want{Status: record.StatusFail, Severity: sev} }

// JSONOf marshals observed values, failing the test when they are not JSON-friendly.
func JSONOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("observed values are not JSON-friendly: %v", err)
	}
	return string(b)
}

// EvaluateWith runs the named checks with evaluate (checks.Evaluate: a family's tests cannot
// name the evaluator's package here without a cycle) against targets in a fresh run folder,
// with a one-second probe timeout, and asserts the evidence.
func EvaluateWith(t *testing.T, evaluate func(context.Context, *check.Env, []string) ([]record.Result, error), targets check.Targets, intrusive bool, checkIDs ...string) []record.Result {
	t.Helper()
	env, dir := NewEnv(t, targets, nil)
	env.Intrusive = intrusive
	env.Limits.ProbeTimeout = time.Second
	results, err := evaluate(context.Background(), env, checkIDs)
	if err != nil {
		t.Fatal(err)
	}
	AssertEvidence(t, dir, results)
	return results
}

// Cleanup removes the shared openssl PKI folder: a package whose tests use NewOpenSSLPKI calls it
// from TestMain once every test has run.
func Cleanup() {
	if p := opensslPKIOnce.pki; p != nil {
		_ = os.RemoveAll(p.Dir)
	}
}
