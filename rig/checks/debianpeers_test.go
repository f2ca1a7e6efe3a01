package checks

// Real peers the rig did not write, from Debian: certificates made with the openssl CLI,
// Mosquitto 2.0 brokers and openssl s_server. .ci/run installs them; a test skips only when the
// binary is missing on a developer machine, and says how to get it.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// needBinary returns the path of a Debian tool or skips the test naming the package.
func needBinary(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed: apt-get install -y %s (.ci/run installs it in CI)", name, pkg)
	}
	return p
}

// freeAddr returns a loopback address with a port that was free a moment ago: the peer binds it
// itself, since these tools cannot report a port they chose.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// run runs a command with a deadline and fails the test with its output on error.
func run(t testing.TB, dir string, name string, args ...string) []byte {
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

// waitListening polls addr until it accepts a TCP connection or the deadline passes.
func waitListening(t testing.TB, addr string, exited <-chan struct{}, output func() string) {
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

// startPeer starts a long-running peer, waits until every addr listens and stops it (by its own
// pid) when the test ends.
func startPeer(t testing.TB, dir string, addrs []string, name string, args ...string) {
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
		waitListening(t, a, exited, out.String)
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
	cn        string
	san       string // subjectAltName value, "" for none (CN only)
	eku       string // serverAuth, clientAuth
	key       string // "ec" or "rsa:1024" ..., or "reuse:<name>" to share another case's key
	md        string // sha256 or sha1
	issuer    string // "" for the deployment CA, "foreign-ca" for the unrelated one
	notBefore time.Time
	notAfter  time.Time
}

// opensslPKI is a CA and the certificates it issued, all files in dir.
type opensslPKI struct {
	dir     string
	pool    *x509.CertPool
	anchors []*x509.Certificate // the certificates in pool
}

func (p *opensslPKI) cert(name string) string { return filepath.Join(p.dir, name+".pem") }
func (p *opensslPKI) key(name string) string  { return filepath.Join(p.dir, name+".key") }

func (p *opensslPKI) tlsCert(t testing.TB, name string) *tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(p.cert(name), p.key(name))
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

func opensslTime(tm time.Time) string { return tm.UTC().Format("20060102150405Z") }

var opensslPKIOnce struct {
	once sync.Once
	pki  *opensslPKI
	err  string
}

// brokerName is the name devices use in the openssl-made cases.
const brokerName = "broker.rig.test"

// newOpenSSLPKI makes, once per test binary, a CA with the openssl CLI and every certificate case.
func newOpenSSLPKI(t testing.TB) *opensslPKI {
	t.Helper()
	openssl := needBinary(t, "openssl", "openssl")
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
		san := "DNS:" + brokerName + ",IP:127.0.0.1"
		cases := []opensslCert{
			{name: "good", cn: brokerName, san: san, eku: "serverAuth", key: "ec", md: "sha256", notBefore: now.Add(-day), notAfter: now.Add(90 * day)},
			{name: "expired", cn: brokerName, san: san, eku: "serverAuth", key: "ec", md: "sha256", notBefore: now.Add(-400 * day), notAfter: now.Add(-30 * day)},
			{name: "not-yet-valid", cn: brokerName, san: san, eku: "serverAuth", key: "ec", md: "sha256", notBefore: now.Add(10 * day), notAfter: now.Add(100 * day)},
			{name: "cn-only", cn: brokerName, san: "", eku: "serverAuth", key: "ec", md: "sha256", notBefore: now.Add(-day), notAfter: now.Add(90 * day)},
			{name: "wrong-san", cn: brokerName, san: "DNS:wrong.example", eku: "serverAuth", key: "ec", md: "sha256", notBefore: now.Add(-day), notAfter: now.Add(90 * day)},
			{name: "rsa1024", cn: brokerName, san: san, eku: "serverAuth", key: "rsa:1024", md: "sha256", notBefore: now.Add(-day), notAfter: now.Add(90 * day)},
			// RSA key exchange and DHE_RSA suites need an RSA certificate.
			{name: "rsa2048", cn: brokerName, san: san, eku: "serverAuth", key: "rsa:2048", md: "sha256", notBefore: now.Add(-day), notAfter: now.Add(90 * day)},
			{name: "sha1", cn: brokerName, san: san, eku: "serverAuth", key: "ec", md: "sha1", notBefore: now.Add(-day), notAfter: now.Add(90 * day)},
			{name: "sha1-foreign", cn: brokerName, san: san, eku: "serverAuth", key: "ec", md: "sha1", issuer: "foreign-ca", notBefore: now.Add(-day), notAfter: now.Add(90 * day)},
			{name: "twenty-years", cn: brokerName, san: san, eku: "serverAuth", key: "ec", md: "sha256", notBefore: now.Add(-day), notAfter: now.Add(20 * 365 * day)},
			{name: "expiring", cn: brokerName, san: san, eku: "serverAuth", key: "ec", md: "sha256", notBefore: now.Add(-day), notAfter: now.Add(10 * day)},
			// Devices.
			{name: "device-a", cn: "probe-a", eku: "clientAuth", key: "ec", md: "sha256", notBefore: now.Add(-day), notAfter: now.Add(365 * day)},
			{name: "device-b", cn: "probe-b", eku: "clientAuth", key: "ec", md: "sha256", notBefore: now.Add(-day), notAfter: now.Add(365 * day)},
			{name: "device-no-eku", cn: "probe-c", eku: "serverAuth", key: "ec", md: "sha256", notBefore: now.Add(-day), notAfter: now.Add(365 * day)},
			{name: "device-shared-key", cn: "probe-d", eku: "clientAuth", key: "reuse:device-a", md: "sha256", notBefore: now.Add(-day), notAfter: now.Add(365 * day)},
		}
		for _, c := range cases {
			ext := "[ext]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\nextendedKeyUsage = " + c.eku + "\n"
			if c.san != "" {
				ext += "subjectAltName = " + c.san + "\n"
			}
			write(c.name+".ext", ext)
			keyArgs := []string{"-newkey", c.key, "-nodes", "-keyout", c.name + ".key"}
			switch {
			case c.key == "ec":
				keyArgs = []string{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", c.name + ".key"}
			case strings.HasPrefix(c.key, "reuse:"):
				other := strings.TrimPrefix(c.key, "reuse:")
				keyArgs = []string{"-key", other + ".key"}
				must("pkey", "-in", other+".key", "-out", c.name+".key")
			}
			must(append([]string{"req", "-config", "ca.cnf", "-new", "-subj", "/CN=" + c.cn, "-out", c.name + ".csr"}, keyArgs...)...)
			issuer := "ca"
			if c.issuer != "" {
				issuer = c.issuer
			}
			must("ca", "-batch", "-config", "ca.cnf", "-cert", issuer+".pem", "-keyfile", issuer+".key", "-in", c.name+".csr", "-out", c.name+".pem",
				"-startdate", opensslTime(c.notBefore), "-enddate", opensslTime(c.notAfter), "-md", c.md,
				"-extfile", c.name+".ext", "-extensions", "ext", "-notext")
		}
		// Self-signed RSA-1024 with the wrong SAN, expiring in 10 days: the exposed broker's.
		must("req", "-config", "ca.cnf", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", "selfsigned.key", "-out", "selfsigned.pem",
			"-subj", "/CN="+brokerName, "-days", "10", "-extensions", "selfsigned_ext")
		p := &opensslPKI{dir: dir, pool: x509.NewCertPool()}
		ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
		if err == nil && !p.pool.AppendCertsFromPEM(ca) {
			opensslPKIOnce.err = "ca.pem holds no certificate"
		}
		if b, _ := pem.Decode(ca); b != nil {
			if c, err := x509.ParseCertificate(b.Bytes); err == nil {
				p.anchors = append(p.anchors, c)
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

// startSServer starts `openssl s_server` on a free loopback port with the named certificate
// case and extra flags, and returns its address.
func startSServer(t testing.TB, p *opensslPKI, certName string, flags ...string) string {
	t.Helper()
	openssl := needBinary(t, "openssl", "openssl")
	addr := freeAddr(t)
	args := append([]string{"s_server", "-accept", addr, "-cert", p.cert(certName), "-key", p.key(certName), "-quiet", "-naccept", "1000"}, flags...)
	startPeer(t, p.dir, []string{addr}, openssl, args...)
	return addr
}

// ---- mosquitto ----

// mosquittoBroker is a running mosquitto and what the checks need to reach it.
type mosquittoBroker struct {
	plain, tls string
}

const probePasswordA = "probe-a-mosq-5d1e8b"
const probePasswordB = "probe-b-mosq-a93c07"

// startMosquitto starts Debian's mosquitto in the exposed or the hardened shape. It runs in the
// foreground as a child of the test, never as a system service, and keeps root's privileges
// (`user root`) so that it can read the key files of the temporary folder.
func startMosquitto(t testing.TB, p *opensslPKI, shape string) mosquittoBroker {
	t.Helper()
	mosq := needBinary(t, "mosquitto", "mosquitto")
	dir := t.TempDir()
	var b mosquittoBroker
	var conf strings.Builder
	conf.WriteString("user root\nper_listener_settings false\npersistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n")
	switch shape {
	case "exposed":
		b.plain, b.tls = freeAddr(t), freeAddr(t)
		fmt.Fprintf(&conf, "allow_anonymous true\n")
		fmt.Fprintf(&conf, "listener %s 127.0.0.1\n", port(b.plain))
		fmt.Fprintf(&conf, "listener %s 127.0.0.1\ncertfile %s\nkeyfile %s\ntls_version tlsv1.1\nciphers ALL:COMPLEMENTOFALL:@SECLEVEL=0\n",
			port(b.tls), p.cert("selfsigned"), p.key("selfsigned"))
	case "hardened":
		passwd := needBinary(t, "mosquitto_passwd", "mosquitto")
		pw := filepath.Join(dir, "passwd")
		run(t, dir, passwd, "-b", "-c", pw, "probe-a", probePasswordA)
		run(t, dir, passwd, "-b", pw, "probe-b", probePasswordB)
		acl := filepath.Join(dir, "acl")
		if err := os.WriteFile(acl, []byte("pattern readwrite rig/devices/%u/#\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		b.plain, b.tls = freeAddr(t), freeAddr(t) // plain is named but nothing listens there
		fmt.Fprintf(&conf, "allow_anonymous false\npassword_file %s\nacl_file %s\nmax_packet_size 4096\n", pw, acl)
		fmt.Fprintf(&conf, "listener %s 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\ntls_version tlsv1.2\nciphers ECDHE+AESGCM:ECDHE+CHACHA20\n",
			port(b.tls), filepath.Join(p.dir, "ca.pem"), p.cert("good"), p.key("good"))
	default:
		t.Fatalf("unknown mosquitto shape %q", shape)
	}
	cf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(cf, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	listening := []string{b.tls}
	if shape == "exposed" {
		listening = append(listening, b.plain)
	}
	startPeer(t, dir, listening, mosq, "-c", cf)
	return b
}

// TestMain removes the shared openssl PKI folder, and the gateway the supplier tests built,
// once every test of the package has run.
func TestMain(m *testing.M) {
	code := m.Run()
	if p := opensslPKIOnce.pki; p != nil {
		_ = os.RemoveAll(p.dir)
	}
	if gatewayBuild.bin != "" {
		_ = os.RemoveAll(filepath.Dir(gatewayBuild.bin))
	}
	os.Exit(code)
}
