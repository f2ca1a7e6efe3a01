package brokercert

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/checktest"
	"github.com/pathrig/rig/rig/checks/probe"
	"github.com/pathrig/rig/rig/record"
)

// TestCertJudgements judges certificates without a handshake: SAN matching, chains, and an
// expired but well-issued certificate counted once (by CERT-EXPIRY), not twice.
func TestCertJudgements(t *testing.T) {
	p := checktest.TestPKI(t)
	now := time.Now()
	mk := func(spec checktest.CertSpec) *x509.Certificate {
		if spec.NotBefore.IsZero() {
			spec.NotBefore, spec.NotAfter = now.Add(-time.Hour), now.Add(200*24*time.Hour)
		}
		spec.Key = checktest.ECKey(t)
		spec.EKU = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		c, _ := checktest.Issue(t, spec, p.CA, p.CAKey)
		return c
	}
	ipOnly := mk(checktest.CertSpec{CN: "x", IPs: []net.IP{net.ParseIP("10.0.0.5"), net.ParseIP("::1")}})
	cnOnly := mk(checktest.CertSpec{CN: checktest.ServerName})
	wild := mk(checktest.CertSpec{CN: "x", DNS: []string{"*.rig.test"}})
	expired := mk(checktest.CertSpec{CN: checktest.ServerName, DNS: []string{checktest.ServerName}, NotBefore: now.Add(-400 * 24 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})

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
		{"CN only", cnOnly, checktest.ServerName, record.StatusFail},
		{"wildcard", wild, "broker.rig.test", record.StatusPass},
		{"wildcard covers one label only", wild, "a.broker.rig.test", record.StatusFail},
	}
	for _, tc := range san {
		t.Run("SAN/"+tc.name, func(t *testing.T) {
			env, _ := checktest.NewEnv(t, check.Targets{}, nil)
			o := judgeSAN(check.NewEvidence(env, ctlCertSAN), tc.cert, tc.server)
			if o.Status != tc.want {
				t.Errorf("status %s, want %s (reason: %s)", o.Status, tc.want, o.Reason)
			}
		})
	}

	t.Run("expired but well issued", func(t *testing.T) {
		env, _ := checktest.NewEnv(t, check.Targets{}, nil)
		chain := judgeChain(check.NewEvidence(env, ctlCertChain), []*x509.Certificate{expired}, p.Pool, []*x509.Certificate{p.CA}, now)
		if chain.Status != record.StatusPass {
			t.Errorf("CERT-CHAIN %s, want pass (reason: %s)", chain.Status, chain.Reason)
		}
		exp := judgeExpiry(check.NewEvidence(env, ctlCertExpiry), expired, now)
		if exp.Status != record.StatusFail || exp.Severity != record.SeverityCritical {
			t.Errorf("CERT-EXPIRY %s/%s, want fail/critical", exp.Status, exp.Severity)
		}
	})
	t.Run("other CA", func(t *testing.T) {
		env, _ := checktest.NewEnv(t, check.Targets{}, nil)
		other := x509.NewCertPool()
		other.AddCert(p.Bad.Leaf)
		o := judgeChain(check.NewEvidence(env, ctlCertChain), []*x509.Certificate{cnOnly}, other, []*x509.Certificate{p.Bad.Leaf}, now)
		if o.Status != record.StatusFail {
			t.Errorf("status %s, want fail (reason: %s)", o.Status, o.Reason)
		}
	})
}

// TestChainBySignature: chains crypto/x509 refuses for a SHA-1 or MD5 signature, made with the
// openssl CLI, are checked signature by signature: a refused hash is not a wrong issuer, and a
// right name is not a right issuer.
func TestChainBySignature(t *testing.T) {
	openssl := checktest.NeedBinary(t, "openssl", "openssl")
	dir := t.TempDir()
	ossl := func(args ...string) { t.Helper(); checktest.Run(t, dir, openssl, args...) }
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
		ossl("x509", "-req", "-in", name+".csr", "-CA", issuer+".pem", "-CAkey", issuer+".key", "-set_serial", "0x"+probe.RandomHex(8),
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
			env, _ := checktest.NewEnv(t, check.Targets{}, nil)
			o := judgeChain(check.NewEvidence(env, ctlCertChain), certs, pool, []*x509.Certificate{ca}, time.Now())
			if o.Status != tc.want {
				t.Errorf("CERT-CHAIN %s, want %s (reason: %s)", o.Status, tc.want, o.Reason)
			}
		})
	}
}
