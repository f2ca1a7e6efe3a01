package manifest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSums: a release's checksum file and its signature (make dist with DIST_SIGN_KEY), checked
// by VerifySums, by sha256sum -c and by openssl, and every way it can go wrong.
func TestSums(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	release := func(t *testing.T, key ed25519.PrivateKey) string {
		dir := t.TempDir()
		for name, body := range map[string]string{"rig_1_amd64.deb": "deb", "rig-linux-amd64": "elf", "sbom/rig.cdx.json": "{}", "unlisted.txt": "x"} {
			p := filepath.Join(dir, filepath.FromSlash(name))
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, []byte(body), 0o644)
		}
		if err := WriteSums(filepath.Join(dir, "SHA256SUMS"), []string{"rig_1_amd64.deb", "rig-linux-amd64", "sbom/rig.cdx.json"}, key); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(dir, "SHA256SUMS")
	}
	for _, tc := range []struct {
		name   string
		key    ed25519.PrivateKey
		check  ed25519.PublicKey
		tamper func(sums string)
		ok     bool
		sig    string
		bad    string // a line of Report.String()
	}{
		{"signed, right key", priv, pub, nil, true, SigValid, ""},
		{"signed, no key asked", priv, nil, nil, true, SigNotChecked, ""},
		{"unsigned, no key asked", nil, nil, nil, true, SigNotChecked, ""},
		{"unsigned, key asked", nil, pub, nil, false, SigMissing, "signature missing"},
		{"signed, other key", priv, otherPub, nil, false, SigInvalid, "signature invalid"},
		{"a listed file changed", priv, pub, func(s string) { os.WriteFile(filepath.Join(filepath.Dir(s), "rig_1_amd64.deb"), []byte("evil"), 0o644) }, false, SigValid, "changed  rig_1_amd64.deb"},
		{"a listed file missing", priv, pub, func(s string) { os.Remove(filepath.Join(filepath.Dir(s), "sbom/rig.cdx.json")) }, false, SigValid, "missing  sbom/rig.cdx.json"},
		{"checksums rewritten to match a changed file", priv, pub, func(s string) {
			os.WriteFile(filepath.Join(filepath.Dir(s), "rig_1_amd64.deb"), []byte("evil"), 0o644)
			sig, _ := os.ReadFile(s + SigSuffix)
			WriteSums(s, []string{"rig_1_amd64.deb", "rig-linux-amd64", "sbom/rig.cdx.json"}, nil)
			os.WriteFile(s+SigSuffix, sig, 0o644)
		}, false, SigInvalid, "signature invalid"},
		{"a line repeated", priv, nil, func(s string) {
			b, _ := os.ReadFile(s)
			first, _, _ := strings.Cut(string(b), "\n")
			os.WriteFile(s, append(b, []byte(first+"\n")...), 0o644)
		}, false, SigNotChecked, "duplicate SHA256SUMS:4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sums := release(t, tc.key)
			if tc.tamper != nil {
				tc.tamper(sums)
			}
			rep, err := VerifySums(sums, tc.check)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() != tc.ok || rep.Signature != tc.sig || rep.Files != 3 {
				t.Errorf("got ok=%v signature=%q files=%d, want ok=%v signature=%q files=3\n%s", rep.OK(), rep.Signature, rep.Files, tc.ok, tc.sig, rep)
			}
			if tc.bad != "" && !strings.Contains(rep.String(), tc.bad) {
				t.Errorf("report lacks %q:\n%s", tc.bad, rep)
			}
			if len(rep.Added) != 0 {
				t.Errorf("files beside the checksums are not its business: added %v", rep.Added)
			}
			if _, err := os.Stat(sums + SigSuffix); (err == nil) != (tc.key != nil) {
				t.Errorf("signature file present = %v, want %v", err == nil, tc.key != nil)
			}
		})
	}
	if _, err := VerifySums(filepath.Join(t.TempDir(), "SHA256SUMS"), nil); err == nil {
		t.Error("a missing checksum file verified")
	}
}

// TestSumsWithoutTheRig: the documented way to check a release without the rig — sha256sum -c,
// then the signature with openssl after base64 -d — accepts what WriteSums wrote.
func TestSumsWithoutTheRig(t *testing.T) {
	for _, tool := range []string{"sha256sum", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install coreutils openssl)", tool)
		}
	}
	dir := t.TempDir()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	px, _ := x509.MarshalPKIXPublicKey(pub)
	pubPath := filepath.Join(dir, "pub.pem")
	os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: px}), 0o644)
	rel := filepath.Join(dir, "dist")
	os.MkdirAll(rel, 0o755)
	os.WriteFile(filepath.Join(rel, "rig_1_arm64.deb"), []byte("deb"), 0o644)
	sums := filepath.Join(rel, "SHA256SUMS")
	if err := WriteSums(sums, []string{"rig_1_arm64.deb"}, priv); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sha256sum", "--check", "--strict", "SHA256SUMS")
	cmd.Dir = rel
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(sums + SigSuffix)
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	sigBin := filepath.Join(dir, "sig.bin")
	os.WriteFile(sigBin, raw, 0o644)
	if out, err := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pubPath, "-rawin", "-in", sums, "-sigfile", sigBin).CombinedOutput(); err != nil {
		t.Errorf("openssl pkeyutl -verify: %v\n%s", err, out)
	}
}
