// Package evidence owns the raw files that back each verdict inside a run folder. Every write goes
// through a Redactor, so a secret handed to the rig never reaches a file.
package evidence

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Redacted replaces every secret in evidence.
const Redacted = "[REDACTED]"

// Store writes evidence files below <run>/evidence/.
type Store struct {
	root string
	mu   sync.Mutex
	// secrets are replaced by Redacted in everything written; longest first.
	secrets [][]byte
	// encoded are the base64 forms of the secrets; longest first.
	encoded  []b64Form
	unsorted bool // secrets or encoded gained entries since they were sorted
}

// NewStore creates dir/evidence and returns a store that writes into it.
func NewStore(runDir string) (*Store, error) {
	root := filepath.Join(runDir, "evidence")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("evidence: create %s: %w", root, err)
	}
	return &Store{root: runDir}, nil
}

// AddSecret registers a value that must never appear in evidence (tokens, passwords, PEM keys).
// Values shorter than 4 bytes are ignored: redacting them would shred unrelated text.
func (s *Store) AddSecret(secret string) {
	if len(secret) < 4 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets = append(s.secrets, []byte(secret))
	// JSON writers escape <, >, & and quotes: register the escaped form too.
	if b, err := json.Marshal(secret); err == nil {
		if esc := b[1 : len(b)-1]; string(esc) != secret {
			s.secrets = append(s.secrets, esc)
		}
	}
	s.encoded = append(s.encoded, b64Forms([]byte(secret))...)
	s.unsorted = true // sorted once by the next Redact: a fleet registers 10,000 passwords
}

var pemKey = regexp.MustCompile(`(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----`)
var bearer = regexp.MustCompile(`(?i)(authorization:\s*bearer\s+)\S+`)

// Redact returns b with every registered secret (also in base64: see b64Forms), every PEM
// private key and every bearer token replaced by Redacted.
func (s *Store) Redact(b []byte) []byte {
	s.mu.Lock()
	if s.unsorted {
		// Sorted copies: a Redact running on the previous slices keeps them intact.
		s.secrets = slices.Clone(s.secrets)
		sort.SliceStable(s.secrets, func(i, j int) bool { return len(s.secrets[i]) > len(s.secrets[j]) })
		s.encoded = slices.Clone(s.encoded)
		sort.SliceStable(s.encoded, func(i, j int) bool { return len(s.encoded[i].core) > len(s.encoded[j].core) })
		s.unsorted = false
	}
	secrets, encoded := s.secrets, s.encoded
	s.mu.Unlock()
	if len(secrets)+len(encoded) > 64 {
		// Many secrets (a fleet's): replace only those the text holds, found in one pass.
		in := present(b, secrets)
		for i, sec := range secrets {
			if in[i] {
				b = bytes.ReplaceAll(b, sec, []byte(Redacted))
			}
		}
		cores := make([][]byte, len(encoded))
		for i, f := range encoded {
			cores[i] = f.core
		}
		in = present(b, cores)
		for i, f := range encoded {
			if in[i] {
				b = f.redact(b)
			}
		}
	} else {
		for _, sec := range secrets {
			b = bytes.ReplaceAll(b, sec, []byte(Redacted))
		}
		for _, f := range encoded {
			b = f.redact(b)
		}
	}
	b = pemKey.ReplaceAll(b, []byte(Redacted))
	b = bearer.ReplaceAll(b, []byte("${1}"+Redacted))
	return b
}

// Write stores data as evidence/<control>/<name> and returns its path relative to the run folder.
func (s *Store) Write(control, name string, data []byte) (string, error) {
	if control == "" || name == "" || strings.ContainsAny(control+name, `/\`) || strings.HasPrefix(name, ".") {
		return "", fmt.Errorf("evidence: bad file name %q/%q", control, name)
	}
	rel := path.Join("evidence", control, name)
	full := filepath.Join(s.root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return "", fmt.Errorf("evidence: %w", err)
	}
	if err := os.WriteFile(full, s.Redact(data), 0o644); err != nil {
		return "", fmt.Errorf("evidence: write %s: %w", rel, err)
	}
	return rel, nil
}

// WriteJSON stores v, indented, as evidence/<control>/<name>.
func (s *Store) WriteJSON(control, name string, v any) (string, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", fmt.Errorf("evidence: encode %s/%s: %w", control, name, err)
	}
	return s.Write(control, name, append(b, '\n'))
}
