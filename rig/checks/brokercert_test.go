package checks

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/record"
)

// TestExpiryWindow judges dates against the catalog's renewal window of CERT-EXPIRY (60 and 30
// days): the thresholds come from the catalog, not from the test.
func TestExpiryWindow(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	win := renewalOf(&Env{}, ctlCertExpiry)
	tests := []struct {
		name     string
		notAfter time.Time
		want     record.Severity
	}{
		{"expired yesterday", now.Add(-day), record.SeverityCritical},
		{"expires now", now, record.SeverityCritical},
		{"10 days", now.Add(10 * day), record.SeverityHigh},
		{"29 days 23 hours", now.Add(30*day - time.Hour), record.SeverityHigh},
		{"30 days", now.Add(30 * day), record.SeverityMedium},
		{"59 days", now.Add(59 * day), record.SeverityMedium},
		{"60 days", now.Add(60 * day), ""},
		{"a year", now.Add(365 * day), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, got := expiryWindow(now.Add(-day), tc.notAfter, now, win); got != tc.want {
				t.Errorf("severity %q, want %q", got, tc.want)
			}
		})
	}
	if w, sev := expiryWindow(now.Add(day), now.Add(90*day), now, win); sev != record.SeverityHigh || w != "not yet valid" {
		t.Errorf("not yet valid: %q %q", w, sev)
	}
}

func TestWeakKey(t *testing.T) {
	floor := keyFloorOf(&Env{}, ctlCertKey)
	tests := []struct {
		alg  string
		bits int
		weak bool
	}{
		{"RSA", 1024, true}, {"RSA", 2047, true}, {"RSA", 2048, false}, {"RSA", 4096, false},
		{"ECDSA", 224, true}, {"ECDSA", 256, false}, {"ECDSA", 384, false}, {"Ed25519", 256, false},
	}
	for _, tc := range tests {
		if got := weakKey(tc.alg, tc.bits, floor) != ""; got != tc.weak {
			t.Errorf("%s-%d: weak %v, want %v", tc.alg, tc.bits, got, tc.weak)
		}
	}
}

// TestCertJudgements judges certificates without a handshake: SAN matching, chains, and an
// expired but well-issued certificate counted once (by CERT-EXPIRY), not twice.
func TestCertJudgements(t *testing.T) {
	p := pki(t)
	now := time.Now()
	mk := func(spec certSpec) *x509.Certificate {
		if spec.notBefore.IsZero() {
			spec.notBefore, spec.notAfter = now.Add(-time.Hour), now.Add(200*24*time.Hour)
		}
		spec.key = ecKey(t)
		spec.eku = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		c, _ := issue(t, spec, p.ca, p.caKey)
		return c
	}
	ipOnly := mk(certSpec{cn: "x", ips: []net.IP{net.ParseIP("10.0.0.5"), net.ParseIP("::1")}})
	cnOnly := mk(certSpec{cn: testServerName})
	wild := mk(certSpec{cn: "x", dns: []string{"*.rig.test"}})
	expired := mk(certSpec{cn: testServerName, dns: []string{testServerName}, notBefore: now.Add(-400 * 24 * time.Hour), notAfter: now.Add(-24 * time.Hour)})

	san := []struct {
		name   string
		cert   *x509.Certificate
		server string
		want   record.Status
	}{
		{"IP SAN", ipOnly, "10.0.0.5", record.StatusPass},
		{"IPv6 SAN written differently", ipOnly, "0:0:0:0:0:0:0:1", record.StatusPass},
		{"IP not in SAN", ipOnly, "10.0.0.6", record.StatusFail},
		{"DNS name against IP-only SAN", ipOnly, "10.0.0.5.nip.io", record.StatusFail},
		{"CN only", cnOnly, testServerName, record.StatusFail},
		{"wildcard", wild, "broker.rig.test", record.StatusPass},
		{"wildcard covers one label only", wild, "a.broker.rig.test", record.StatusFail},
	}
	for _, tc := range san {
		t.Run("SAN/"+tc.name, func(t *testing.T) {
			env, _ := newEnv(t, Targets{}, nil)
			o := judgeSAN(newEvidence(env, ctlCertSAN), tc.cert, tc.server)
			if o.Status != tc.want {
				t.Errorf("status %s, want %s (reason: %s)", o.Status, tc.want, o.Reason)
			}
		})
	}

	t.Run("expired but well issued", func(t *testing.T) {
		env, _ := newEnv(t, Targets{}, nil)
		chain := judgeChain(newEvidence(env, ctlCertChain), []*x509.Certificate{expired}, p.pool, []*x509.Certificate{p.ca}, now)
		if chain.Status != record.StatusPass {
			t.Errorf("CERT-CHAIN %s, want pass (reason: %s)", chain.Status, chain.Reason)
		}
		exp := judgeExpiry(newEvidence(env, ctlCertExpiry), expired, now)
		if exp.Status != record.StatusFail || exp.Severity != record.SeverityCritical {
			t.Errorf("CERT-EXPIRY %s/%s, want fail/critical", exp.Status, exp.Severity)
		}
	})
	t.Run("other CA", func(t *testing.T) {
		env, _ := newEnv(t, Targets{}, nil)
		other := x509.NewCertPool()
		other.AddCert(p.bad.Leaf)
		o := judgeChain(newEvidence(env, ctlCertChain), []*x509.Certificate{cnOnly}, other, []*x509.Certificate{p.bad.Leaf}, now)
		if o.Status != record.StatusFail {
			t.Errorf("status %s, want fail (reason: %s)", o.Status, o.Reason)
		}
	})
}

// TestChainBySignature: chains crypto/x509 refuses for a SHA-1 or MD5 signature, made with the
// openssl CLI, are checked signature by signature: a refused hash is not a wrong issuer, and a
// right name is not a right issuer.
func TestChainBySignature(t *testing.T) {
	openssl := needBinary(t, "openssl", "openssl")
	dir := t.TempDir()
	ossl := func(args ...string) { t.Helper(); run(t, dir, openssl, args...) }
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.ext", "[ext]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n")
	write("server.ext", "[ext]\nbasicConstraints = critical,CA:FALSE\nextendedKeyUsage = serverAuth\n")
	write("client.ext", "[ext]\nbasicConstraints = critical,CA:FALSE\nextendedKeyUsage = clientAuth\n")
	// Two CAs with the same name and different keys: the impostor signs what claims the real
	// one as its issuer.
	for _, ca := range []string{"ca", "impostor"} {
		ossl("req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", ca+".key", "-out", ca+".pem", "-subj", "/CN=deployment CA", "-days", "30",
			"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	}
	sign := func(name, subject, issuer, md, ext string) {
		ossl("req", "-new", "-newkey", "rsa:1024", "-nodes", "-keyout", name+".key", "-out", name+".csr", "-subj", "/CN="+subject)
		ossl("x509", "-req", "-in", name+".csr", "-CA", issuer+".pem", "-CAkey", issuer+".key", "-set_serial", "0x"+randomHex(8),
			"-out", name+".pem", "-days", "20", "-"+md, "-extfile", ext+".ext", "-extensions", "ext")
	}
	sign("md5-leaf", "broker", "ca", "md5", "server")
	sign("sha1-inter", "intermediate", "ca", "sha1", "ca")
	sign("leaf-of-inter", "broker", "sha1-inter", "sha256", "server")
	sign("sha1-impostor-leaf", "broker", "impostor", "sha1", "server")
	sign("sha1-client-leaf", "broker", "ca", "sha1", "client")
	load := func(name string) *x509.Certificate {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name+".pem"))
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			t.Fatalf("%s.pem: no PEM block", name)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ca := load("ca")
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	tests := []struct {
		name  string
		chain []string
		want  record.Status
	}{
		{"MD5 leaf from the CA", []string{"md5-leaf"}, record.StatusPass},
		{"SHA-1 intermediate presented, SHA-256 leaf", []string{"leaf-of-inter", "sha1-inter"}, record.StatusPass},
		{"SHA-1 intermediate not presented", []string{"leaf-of-inter"}, record.StatusFail},
		{"SHA-1 leaf naming the CA, signed by another key", []string{"sha1-impostor-leaf"}, record.StatusFail},
		{"SHA-1 leaf from the CA for clientAuth only", []string{"sha1-client-leaf"}, record.StatusFail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var certs []*x509.Certificate
			for _, n := range tc.chain {
				certs = append(certs, load(n))
			}
			env, _ := newEnv(t, Targets{}, nil)
			o := judgeChain(newEvidence(env, ctlCertChain), certs, pool, []*x509.Certificate{ca}, time.Now())
			if o.Status != tc.want {
				t.Errorf("CERT-CHAIN %s, want %s (reason: %s)", o.Status, tc.want, o.Reason)
			}
		})
	}
}
