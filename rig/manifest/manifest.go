// Package manifest makes a run folder tamper-evident: a SHA-256 manifest over every file, written
// last, in the format of coreutils' sha256sum (so `sha256sum -c MANIFEST.sha256` checks it too),
// optionally signed with an ed25519 key the user supplies.
package manifest

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/pathrig/rig/rig/infile"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// File is the manifest's name inside a folder; SigFile holds the base64 ed25519 signature of
// the manifest's exact bytes.
const (
	File    = "MANIFEST.sha256"
	SigFile = "MANIFEST.sha256.sig"
)

// Write hashes every regular file below dir (except the manifest and its signature) and writes
// dir/MANIFEST.sha256, sorted by path; with key, also dir/MANIFEST.sha256.sig.
func Write(dir string, key ed25519.PrivateKey) error {
	sums, _, err := hashTree(dir)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	for _, p := range sortedKeys(sums) {
		fmt.Fprintf(&b, "%s  %s\n", sums[p], p)
	}
	if err := os.WriteFile(filepath.Join(dir, File), b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("manifest: write %s: %w", filepath.Join(dir, File), err)
	}
	sigPath := filepath.Join(dir, SigFile)
	if key == nil {
		if err := os.Remove(sigPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("manifest: remove stale %s: %w", sigPath, err)
		}
		return nil
	}
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(key, b.Bytes()))
	if err := os.WriteFile(sigPath, []byte(sig+"\n"), 0o644); err != nil {
		return fmt.Errorf("manifest: write %s: %w", sigPath, err)
	}
	return nil
}

// Signature states of a verified folder.
const (
	SigNotChecked = "not checked" // no public key given
	SigValid      = "valid"
	SigInvalid    = "invalid"
	SigMissing    = "missing" // a public key was given but the folder has no signature
)

// Report is the outcome of Verify.
type Report struct {
	Files   int      // files the manifest lists
	Changed []string // listed, present, different content
	Missing []string // listed, absent
	// Added: present, not listed. A directory under which the manifest lists no file and which
	// holds no file either is listed with a trailing slash (sha256sum lists files only, so an
	// added empty directory would otherwise pass unseen).
	Added []string
	// Duplicates: lines that list a path an earlier line already lists, as
	// "MANIFEST.sha256:LINE: PATH (first listed at line N)". Write never makes one.
	Duplicates []string
	Signature  string
}

// OK reports whether the folder matches its manifest (and its signature, when one was checked).
func (r *Report) OK() bool {
	return len(r.Changed) == 0 && len(r.Missing) == 0 && len(r.Added) == 0 && len(r.Duplicates) == 0 &&
		(r.Signature == SigNotChecked || r.Signature == SigValid)
}

// String lists every problem, one per line.
func (r *Report) String() string {
	var b strings.Builder
	for _, p := range r.Duplicates {
		fmt.Fprintf(&b, "duplicate %s\n", p)
	}
	for _, p := range r.Changed {
		fmt.Fprintf(&b, "changed  %s\n", p)
	}
	for _, p := range r.Missing {
		fmt.Fprintf(&b, "missing  %s\n", p)
	}
	for _, p := range r.Added {
		fmt.Fprintf(&b, "added    %s\n", p)
	}
	if r.Signature != SigNotChecked {
		fmt.Fprintf(&b, "signature %s\n", r.Signature)
	}
	return b.String()
}

// Verify checks dir against its manifest. pub, when not nil, must verify the signature. An error
// means the folder could not be checked at all (no manifest, unreadable, malformed).
func Verify(dir string, pub ed25519.PublicKey) (*Report, error) {
	mpath := filepath.Join(dir, File)
	raw, err := os.ReadFile(mpath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("manifest: %s has no %s (was it written by `rig run`, or copied without it?)", dir, File)
		}
		return nil, fmt.Errorf("manifest: read %s: %w", mpath, err)
	}
	lines, err := parse(mpath, raw)
	if err != nil {
		return nil, err
	}
	got, dirs, err := hashTree(dir)
	if err != nil {
		return nil, err
	}
	rep := &Report{Signature: SigNotChecked}
	want := map[string]string{}
	firstLine := map[string]int{}
	for _, l := range lines {
		if first, ok := firstLine[l.path]; ok {
			rep.Duplicates = append(rep.Duplicates, fmt.Sprintf("%s:%d: %s (first listed at line %d)", File, l.line, l.path, first))
			// The first line decides: a later copy must not override what an earlier one says.
			continue
		}
		firstLine[l.path] = l.line
		want[l.path] = l.sum
	}
	rep.Files = len(want)
	for _, p := range sortedKeys(want) {
		switch h, ok := got[p]; {
		case !ok:
			rep.Missing = append(rep.Missing, p)
		case h != want[p]:
			rep.Changed = append(rep.Changed, p)
		}
	}
	for _, p := range sortedKeys(got) {
		if _, ok := want[p]; !ok {
			rep.Added = append(rep.Added, p)
		}
	}
	rep.Added = append(rep.Added, addedDirs(dirs, want, got)...)
	sort.Strings(rep.Added)
	if pub != nil {
		rep.Signature = checkSig(filepath.Join(dir, SigFile), raw, pub)
	}
	return rep, nil
}

// addedDirs returns, with a trailing slash, each directory below which neither a listed file nor
// a present file lies: the one kind of addition a file list cannot show. Only the topmost of
// nested empty directories is named.
func addedDirs(dirs []string, want, got map[string]string) []string {
	holds := map[string]bool{} // directories with a listed or present file somewhere below
	for _, m := range []map[string]string{want, got} {
		for p := range m {
			for d := path.Dir(p); d != "." && d != "/" && !holds[d]; d = path.Dir(d) {
				holds[d] = true
			}
		}
	}
	var out []string
	named := map[string]bool{}
	for _, d := range dirs { // sorted: a parent comes before its children
		if holds[d] {
			continue
		}
		covered := false
		for a := path.Dir(d); a != "."; a = path.Dir(a) {
			if named[a] {
				covered = true
				break
			}
		}
		named[d] = true
		if !covered {
			out = append(out, d+"/")
		}
	}
	return out
}

func checkSig(path string, manifest []byte, pub ed25519.PublicKey) string {
	b, err := infile.Read(path, "signature file", infile.MaxSecret)
	if err != nil {
		return SigMissing
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || !ed25519.Verify(pub, manifest, sig) {
		return SigInvalid
	}
	return SigValid
}

// line is one line of a manifest.
type line struct {
	line      int
	sum, path string
}

func parse(name string, raw []byte) ([]line, error) {
	var out []line
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for n := 1; sc.Scan(); n++ {
		text := sc.Text()
		sum, p, ok := strings.Cut(text, "  ")
		if !ok || len(sum) != 64 || p == "" {
			return nil, fmt.Errorf("manifest: %s:%d: want \"<sha256 hex>  <path>\", got %q", name, n, text)
		}
		if _, err := hex.DecodeString(sum); err != nil {
			return nil, fmt.Errorf("manifest: %s:%d: bad digest %q", name, n, sum)
		}
		out = append(out, line{line: n, sum: sum, path: p})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("manifest: %s: %w", name, err)
	}
	return out, nil
}

// hashTree returns the sha256 of every regular file below dir by slash-separated relative path,
// and every directory below dir (sorted, dir itself excluded).
func hashTree(dir string) (map[string]string, []string, error) {
	out := map[string]string{}
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." {
				dirs = append(dirs, rel)
			}
			return nil
		}
		if rel == File || rel == SigFile {
			return nil
		}
		if !d.Type().IsRegular() {
			out[rel] = "not a regular file"
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		out[rel] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("manifest: hash %s: %w", dir, err)
	}
	sort.Strings(dirs)
	return out, dirs, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// LoadPrivateKey reads an ed25519 private key in PEM PKCS#8, as written by
// `openssl genpkey -algorithm ed25519 -out key.pem`.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	block, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(block)
	if err != nil {
		return nil, fmt.Errorf("manifest: %s: not a PKCS#8 private key: %w", path, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("manifest: %s holds a %T, want an ed25519 key (openssl genpkey -algorithm ed25519)", path, k)
	}
	return ek, nil
}

// LoadPublicKey reads an ed25519 public key in PEM PKIX, as written by
// `openssl pkey -in key.pem -pubout -out pub.pem`.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	block, err := readPEM(path, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(block)
	if err != nil {
		return nil, fmt.Errorf("manifest: %s: not a PKIX public key: %w", path, err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("manifest: %s holds a %T, want an ed25519 public key", path, k)
	}
	return ek, nil
}

func readPEM(path, typ string) ([]byte, error) {
	b, err := infile.Read(path, "key file", infile.MaxPEM)
	if err != nil {
		return nil, fmt.Errorf("manifest: read key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != typ {
		return nil, fmt.Errorf("manifest: %s: want a PEM %q block", path, typ)
	}
	return block.Bytes, nil
}
