package checks

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"reflect"
	"testing"
)

func TestNormalizeFacts(t *testing.T) {
	got := normalizeFacts(map[string]any{
		"tls.versions":     []string{"TLS 1.3", "TLS 1.2", "TLS 1.3"},
		"tls.suites":       []string(nil),
		"broker.version":   nil,
		"http.status.none": 401,
	})
	want := map[string]any{
		"tls.versions":     []string{"TLS 1.2", "TLS 1.3"},
		"tls.suites":       []string{},
		"http.status.none": 401,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("normalizeFacts = %#v, want %#v", got, want)
	}
	if normalizeFacts(map[string]any{"x.y": nil}) != nil || normalizeFacts(nil) != nil {
		t.Error("no facts must normalise to nil (omitted from run.json)")
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
		if got := keyFact(tc.key); got != tc.want {
			t.Errorf("%s: keyFact = %q, want %q", tc.name, got, tc.want)
		}
	}
}
