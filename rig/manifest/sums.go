package manifest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// SigSuffix names a checksum file's signature: SHA256SUMS.sig beside SHA256SUMS, in the same
// format as a run folder's SigFile (the base64 ed25519 signature of the file's exact bytes, one line).
const SigSuffix = ".sig"

// WriteSums writes the checksum file path in sha256sum format over names (paths relative to the
// checksum file's folder, listed sorted); with key, it also writes path+SigSuffix, and without one
// it removes a stale signature. It is how `make dist` seals a release: `sha256sum -c` checks the
// file, `rig verify --pub-key PUB path` checks it and its signature.
func WriteSums(path string, names []string, key ed25519.PrivateKey) error {
	dir := filepath.Dir(path)
	names = append([]string(nil), names...)
	sort.Strings(names)
	var b bytes.Buffer
	for i, n := range names {
		if i > 0 && names[i-1] == n {
			return fmt.Errorf("manifest: %s: %s listed twice", path, n)
		}
		if n == "" || filepath.IsAbs(n) || strings.HasPrefix(filepath.Clean(n), "..") {
			return fmt.Errorf("manifest: %s: %q is not a path below %s", path, n, dir)
		}
		sum, err := fileSum(filepath.Join(dir, filepath.FromSlash(n)))
		if err != nil {
			return fmt.Errorf("manifest: %s: %w", path, err)
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, filepath.ToSlash(n))
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("manifest: write %s: %w", path, err)
	}
	sigPath := path + SigSuffix
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

// VerifySums checks a checksum file written by WriteSums (or by sha256sum): every listed file,
// relative to the checksum file's folder, must be present with that SHA-256 and no path may be
// listed twice; with pub, path+SigSuffix must verify. Files beside it that it does not list are
// not its business (a download folder holds other things), so Report.Added stays empty. An error
// means the file could not be checked at all.
func VerifySums(path string, pub ed25519.PublicKey) (*Report, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: read %s: %w", path, err)
	}
	lines, err := parse(path, raw)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	rep := &Report{Signature: SigNotChecked}
	first := map[string]int{}
	for _, l := range lines {
		// sha256sum -b writes "<sum> *<path>"; the binary-mode marker is not part of the name.
		name := strings.TrimPrefix(l.path, "*")
		if n, ok := first[name]; ok {
			rep.Duplicates = append(rep.Duplicates, fmt.Sprintf("%s:%d: %s (first listed at line %d)", filepath.Base(path), l.line, name, n))
			continue
		}
		first[name] = l.line
		rep.Files++
		if filepath.IsAbs(name) || strings.HasPrefix(filepath.Clean(filepath.FromSlash(name)), "..") {
			rep.Missing = append(rep.Missing, name+" (outside "+dir+")")
			continue
		}
		sum, err := fileSum(filepath.Join(dir, filepath.FromSlash(name)))
		switch {
		case errors.Is(err, os.ErrNotExist):
			rep.Missing = append(rep.Missing, name)
		case err != nil:
			return nil, fmt.Errorf("manifest: %s: %w", path, err)
		case sum != l.sum:
			rep.Changed = append(rep.Changed, name)
		}
	}
	if pub != nil {
		rep.Signature = checkSig(path+SigSuffix, raw, pub)
	}
	return rep, nil
}

func fileSum(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", p)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
