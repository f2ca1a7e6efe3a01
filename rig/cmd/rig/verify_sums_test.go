package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/pathrig/rig/rig/manifest"
)

// TestVerifyReleaseChecksums: `rig verify --pub-key PUB dist/SHA256SUMS` checks a release the way
// `make dist DIST_SIGN_KEY=KEY.pem` seals it (docs/bench.md#deploying-to-the-pi-the-debian-package), with the verify command's exit codes.
func TestVerifyReleaseChecksums(t *testing.T) {
	dir := t.TempDir()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	writePub := func(name string, k ed25519.PublicKey) string {
		px, _ := x509.MarshalPKIXPublicKey(k)
		p := filepath.Join(dir, name)
		os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: px}), 0o644)
		return p
	}
	pubPath, otherPath := writePub("pub.pem", pub), writePub("other.pem", otherPub)
	dist := filepath.Join(dir, "dist")
	os.MkdirAll(dist, 0o755)
	for _, n := range []string{"rig_1_amd64.deb", "rig_1_arm64.deb"} {
		os.WriteFile(filepath.Join(dist, n), []byte(n), 0o644)
	}
	sums := filepath.Join(dist, "SHA256SUMS")
	if err := manifest.WriteSums(sums, []string{"rig_1_amd64.deb", "rig_1_arm64.deb"}, priv); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name   string
		before func()
		args   []string
		want   int
	}{
		{"signed release", nil, []string{"verify", sums, "--pub-key", pubPath}, exitOK},
		{"without a key: checksums only", nil, []string{"verify", sums}, exitOK},
		{"another key", nil, []string{"verify", sums, "--pub-key", otherPath}, exitFindings},
		{"unreadable key", nil, []string{"verify", sums, "--pub-key", filepath.Join(dir, "nope.pem")}, exitUsage},
		{"a package changed", func() { os.WriteFile(filepath.Join(dist, "rig_1_arm64.deb"), []byte("evil"), 0o644) }, []string{"verify", sums, "--pub-key", pubPath}, exitFindings},
		{"signature removed", func() {
			os.WriteFile(filepath.Join(dist, "rig_1_arm64.deb"), []byte("rig_1_arm64.deb"), 0o644)
			os.Remove(sums + manifest.SigSuffix)
		}, []string{"verify", sums, "--pub-key", pubPath}, exitFindings},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.before != nil {
				s.before()
			}
			if got := execute(context.Background(), s.args); got != s.want {
				t.Errorf("rig %v exited %d, want %d", s.args, got, s.want)
			}
		})
	}
}
