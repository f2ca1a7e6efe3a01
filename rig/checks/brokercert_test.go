package checks

import (
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/record"
)

func TestExpiryWindow(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
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
			if _, got := expiryWindow(now.Add(-day), tc.notAfter, now); got != tc.want {
				t.Errorf("severity %q, want %q", got, tc.want)
			}
		})
	}
	if w, sev := expiryWindow(now.Add(day), now.Add(90*day), now); sev != record.SeverityHigh || w != "not yet valid" {
		t.Errorf("not yet valid: %q %q", w, sev)
	}
}

func TestWeakKey(t *testing.T) {
	tests := []struct {
		alg  string
		bits int
		weak bool
	}{
		{"RSA", 1024, true}, {"RSA", 2047, true}, {"RSA", 2048, false}, {"RSA", 4096, false},
		{"ECDSA", 224, true}, {"ECDSA", 256, false}, {"ECDSA", 384, false}, {"Ed25519", 256, false},
	}
	for _, tc := range tests {
		if got := weakKey(tc.alg, tc.bits) != ""; got != tc.weak {
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
		chain := judgeChain(newEvidence(env, ctlCertChain), []*x509.Certificate{expired}, p.pool, now)
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
		o := judgeChain(newEvidence(env, ctlCertChain), []*x509.Certificate{cnOnly}, other, now)
		if o.Status != record.StatusFail {
			t.Errorf("status %s, want fail (reason: %s)", o.Status, o.Reason)
		}
	})
}
