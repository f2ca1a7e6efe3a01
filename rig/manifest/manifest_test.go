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
	"reflect"
	"strings"
	"testing"
)

// runFolder makes a small run-like folder with nested files.
func runFolder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"run.json":   `{"schema":"rig.run/v1"}`,
		"summary.md": "# Hardened path · 0 findings\n",
		"evidence/TRANSPORT-PLAINTEXT/connect.json": `{"answer":"refused"}`,
		"delta/delta.json":                          `{}`,
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestVerifyDetectsTampering(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		tamper                  func(t *testing.T, dir string)
		changed, missing, added []string
	}{
		{"untouched", func(*testing.T, string) {}, nil, nil, nil},
		{"one byte changed", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "evidence", "TRANSPORT-PLAINTEXT", "connect.json")
			b, _ := os.ReadFile(p)
			b[3] ^= 0x01
			os.WriteFile(p, b, 0o644)
		}, []string{"evidence/TRANSPORT-PLAINTEXT/connect.json"}, nil, nil},
		{"file deleted", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "summary.md"))
		}, nil, []string{"summary.md"}, nil},
		{"file added", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "evidence", "extra.txt"), []byte("x"), 0o644)
		}, nil, nil, []string{"evidence/extra.txt"}},
		{"all three", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "run.json"), []byte(`{"schema":"rig.run/v2"}`), 0o644)
			os.RemoveAll(filepath.Join(dir, "delta"))
			os.WriteFile(filepath.Join(dir, "notes.md"), nil, 0o644)
		}, []string{"run.json"}, []string{"delta/delta.json"}, []string{"notes.md"}},
		// sha256sum lists files only: an empty directory would pass unseen.
		{"empty directory added", func(t *testing.T, dir string) {
			os.MkdirAll(filepath.Join(dir, "evidence", "EXTRA", "deeper"), 0o755)
		}, nil, nil, []string{"evidence/EXTRA/"}},
		{"empty directory added at the top", func(t *testing.T, dir string) {
			os.Mkdir(filepath.Join(dir, "notes"), 0o755)
		}, nil, nil, []string{"notes/"}},
		{"directory with an added file", func(t *testing.T, dir string) {
			os.MkdirAll(filepath.Join(dir, "more"), 0o755)
			os.WriteFile(filepath.Join(dir, "more", "x.txt"), []byte("x"), 0o644)
		}, nil, nil, []string{"more/x.txt"}},
		{"listed file removed, its folder kept", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "delta", "delta.json"))
		}, nil, []string{"delta/delta.json"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := runFolder(t)
			if err := Write(dir, nil); err != nil {
				t.Fatal(err)
			}
			tc.tamper(t, dir)
			rep, err := Verify(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rep.Changed, tc.changed) || !reflect.DeepEqual(rep.Missing, tc.missing) || !reflect.DeepEqual(rep.Added, tc.added) {
				t.Errorf("report = changed %v missing %v added %v; want %v %v %v", rep.Changed, rep.Missing, rep.Added, tc.changed, tc.missing, tc.added)
			}
			if want := tc.changed == nil && tc.missing == nil && tc.added == nil; rep.OK() != want {
				t.Errorf("OK() = %v, want %v:\n%s", rep.OK(), want, rep)
			}
			if rep.Files != 4 {
				t.Errorf("manifest lists %d files, want 4", rep.Files)
			}
		})
	}
}

// TestVerifyDuplicateLines: a path listed twice is a manifest that was edited (sha256sum -c fails
// the copy whose digest differs; an identical copy hides nothing but is still not what Write
// makes). Verify names each duplicate line and the line it repeats.
func TestVerifyDuplicateLines(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(lines []string) []string
		want []string
	}{
		{"identical line repeated", func(l []string) []string { return append(l, l[1]) }, []string{File + ":5: evidence/TRANSPORT-PLAINTEXT/connect.json (first listed at line 2)"}},
		{"same path, other digest, listed first", func(l []string) []string {
			bad := strings.Repeat("0", 64) + l[3][64:]
			return append([]string{bad}, l...)
		}, []string{File + ":5: summary.md (first listed at line 1)"}},
		{"two paths repeated", func(l []string) []string { return append(l, l[0], l[0]) }, []string{
			File + ":5: delta/delta.json (first listed at line 1)", File + ":6: delta/delta.json (first listed at line 1)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := runFolder(t)
			if err := Write(dir, nil); err != nil {
				t.Fatal(err)
			}
			raw, _ := os.ReadFile(filepath.Join(dir, File))
			lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
			if len(lines) != 4 {
				t.Fatalf("manifest has %d lines, want 4", len(lines))
			}
			os.WriteFile(filepath.Join(dir, File), []byte(strings.Join(tc.edit(lines), "\n")+"\n"), 0o644)
			rep, err := Verify(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Errorf("OK() = true for a manifest with a duplicated line:\n%s", rep)
			}
			if !reflect.DeepEqual(rep.Duplicates, tc.want) {
				t.Errorf("Duplicates = %q, want %q", rep.Duplicates, tc.want)
			}
			if s := rep.String(); !strings.Contains(s, tc.want[0]) {
				t.Errorf("String() does not name the line:\n%s", s)
			}
		})
	}
}

func TestVerifyWithoutManifest(t *testing.T) {
	_, err := Verify(t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), File) {
		t.Fatalf("err = %v, want one naming %s", err, File)
	}
}

func TestSignature(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	dir := runFolder(t)
	if err := Write(dir, priv); err != nil {
		t.Fatal(err)
	}
	if rep, _ := Verify(dir, pub); !rep.OK() || rep.Signature != SigValid {
		t.Errorf("signed folder: %+v", rep)
	}
	if rep, _ := Verify(dir, otherPub); rep.OK() || rep.Signature != SigInvalid {
		t.Errorf("wrong key: %+v", rep)
	}
	// Rewriting the manifest after tampering (so the hashes match again) breaks the signature.
	os.WriteFile(filepath.Join(dir, "summary.md"), []byte("# all good\n"), 0o644)
	sig, _ := os.ReadFile(filepath.Join(dir, SigFile))
	if err := Write(dir, nil); err != nil {
		t.Fatal(err)
	}
	if rep, _ := Verify(dir, pub); rep.OK() || rep.Signature != SigMissing {
		t.Errorf("unsigned rewrite: %+v", rep)
	}
	os.WriteFile(filepath.Join(dir, SigFile), sig, 0o644)
	if rep, _ := Verify(dir, pub); rep.OK() || rep.Signature != SigInvalid {
		t.Errorf("rewritten manifest with the old signature: %+v", rep)
	}
}

// TestKeysFromFiles loads keys in the PEM forms openssl writes and, where openssl and sha256sum
// are installed, checks that they accept the manifest and its signature without the rig.
func TestKeysFromFiles(t *testing.T) {
	tmp := t.TempDir()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	p8, _ := x509.MarshalPKCS8PrivateKey(priv)
	px, _ := x509.MarshalPKIXPublicKey(pub)
	keyPath, pubPath := filepath.Join(tmp, "key.pem"), filepath.Join(tmp, "pub.pem")
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600)
	os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: px}), 0o644)
	k, err := LoadPrivateKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := LoadPublicKey(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPrivateKey(pubPath); err == nil {
		t.Error("a public key loaded as a private key")
	}
	dir := runFolder(t)
	if err := Write(dir, k); err != nil {
		t.Fatal(err)
	}
	if rep, _ := Verify(dir, pk); !rep.OK() {
		t.Fatalf("%+v", rep)
	}
	if _, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command("sha256sum", "--check", "--strict", File)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sha256sum -c: %v\n%s", err, out)
		}
	}
	if _, err := exec.LookPath("openssl"); err == nil {
		b, _ := os.ReadFile(filepath.Join(dir, SigFile))
		raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		sigBin := filepath.Join(tmp, "sig.bin")
		os.WriteFile(sigBin, raw, 0o644)
		cmd := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pubPath, "-rawin", "-in", filepath.Join(dir, File), "-sigfile", sigBin)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("openssl pkeyutl -verify: %v\n%s", err, out)
		}
	}
}
