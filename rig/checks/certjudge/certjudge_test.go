package certjudge

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/record"
)

// TestExpiryWindow judges dates against the catalog's renewal window of CERT-EXPIRY (60 and 30
// days): the thresholds come from the catalog, not from the test.
func TestExpiryWindow(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	win := RenewalOf(&check.Env{}, "CERT-EXPIRY")
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
			if _, got := ExpiryWindow(now.Add(-day), tc.notAfter, now, win); got != tc.want {
				t.Errorf("severity %q, want %q", got, tc.want)
			}
		})
	}
	if w, sev := ExpiryWindow(now.Add(day), now.Add(90*day), now, win); sev != record.SeverityHigh || w != "not yet valid" {
		t.Errorf("not yet valid: %q %q", w, sev)
	}
}

func TestWeakKey(t *testing.T) {
	floor := KeyFloorOf(&check.Env{}, "CERT-KEY")
	tests := []struct {
		alg  string
		bits int
		weak bool
	}{
		{"RSA", 1024, true}, {"RSA", 2047, true}, {"RSA", 2048, false}, {"RSA", 4096, false},
		{"ECDSA", 224, true}, {"ECDSA", 256, false}, {"ECDSA", 384, false}, {"Ed25519", 256, false},
	}
	for _, tc := range tests {
		if got := WeakKey(tc.alg, tc.bits, floor) != ""; got != tc.weak {
			t.Errorf("%s-%d: weak %v, want %v", tc.alg, tc.bits, got, tc.weak)
		}
	}
}

func TestKeyFact(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 1024)
	ek, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		name string
		key  any
		want string
	}{
		{"rsa", &rk.PublicKey, "RSA 1024"},
		{"ecdsa", &ek.PublicKey, "ECDSA P-384"},
		{"ed25519", pub, "Ed25519"},
	} {
		if got := KeyFact(tc.key); got != tc.want {
			t.Errorf("%s: keyFact = %q, want %q", tc.name, got, tc.want)
		}
	}
}
