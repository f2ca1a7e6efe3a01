// Package baseline records which run is the validated baseline of a path: a small record beside
// the run folder (<dir>/<path>.baseline.json) that names the run, pins its exact content by the
// SHA-256 of its MANIFEST.sha256, says who marked it when and what it replaced, and is signed
// with an ed25519 key when one is given (<dir>/<path>.baseline.json.sig). A regress compares
// with the run the record names, so "the last validated run" is a recorded, checkable fact
// rather than a folder name.
package baseline

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/pathrig/rig/rig/manifest"
	"github.com/pathrig/rig/rig/record"
)

// Schema is the version tag of a baseline record.
const Schema = "rig.baseline/v1"

// Ext ends a record's file name; SigExt is added to it for the signature.
const (
	Ext    = ".baseline.json"
	SigExt = ".sig"
)

// DefaultDir is where records live unless told otherwise: the repository's committed baselines.
const DefaultDir = "reports/baselines"

// ErrNoRecord: the path has no validated baseline in the folder.
var ErrNoRecord = errors.New("no validated baseline")

var pathName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// ValidPath reports whether name can name a path (it becomes a file name).
func ValidPath(name string) error {
	if !pathName.MatchString(name) || strings.Contains(name, "..") {
		return fmt.Errorf("baseline: path name %q: use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit (e.g. hardening-verify)", name)
	}
	return nil
}

// Record is the content of <path>.baseline.json.
type Record struct {
	Schema string `json:"schema"`
	Path   string `json:"path"` // the audited path's name, e.g. hardening-verify
	// Run is the run folder, relative to the record's folder (slash-separated), or absolute.
	Run string `json:"run"`
	// ManifestSHA256 is the SHA-256 of the run's MANIFEST.sha256 when it was marked: together
	// with rig verify it pins every byte of the run.
	ManifestSHA256 string    `json:"manifest_sha256"`
	Scenario       string    `json:"scenario"`
	Profile        string    `json:"profile"`
	Headline       string    `json:"headline"`
	Findings       int       `json:"findings"`
	RunStarted     time.Time `json:"run_started"`
	MarkedAt       time.Time `json:"marked_at"`
	MarkedBy       string    `json:"marked_by,omitempty"` // --by, e.g. the consultant's name
	Note           string    `json:"note,omitempty"`
	Tool           string    `json:"tool"` // the rig version that marked it
	// Replaces is the record this one replaced, if any: the path's earlier validated baseline.
	Replaces *Previous `json:"replaces,omitempty"`
}

// Previous names a replaced record.
type Previous struct {
	Run            string    `json:"run"`
	ManifestSHA256 string    `json:"manifest_sha256"`
	MarkedAt       time.Time `json:"marked_at"`
}

// File is the record of path in dir.
func File(dir, path string) string { return filepath.Join(dir, path+Ext) }

// Mark is what Write needs to mark a run.
type Mark struct {
	Dir    string // the records' folder
	Path   string
	RunDir string // the run folder; it must verify against its manifest (the caller checks)
	Run    *record.Run
	Now    time.Time
	By     string
	Note   string
	Tool   string
	Key    ed25519.PrivateKey // signs the record when set
}

// Write records m.RunDir as the validated baseline of m.Path, replacing any earlier record (named
// in Replaces), and signs it with m.Key; without a key any old signature is removed, since it
// would not match.
func Write(m Mark) (*Record, error) {
	if err := ValidPath(m.Path); err != nil {
		return nil, err
	}
	sum, err := manifestSum(m.RunDir)
	if err != nil {
		return nil, err
	}
	run, err := relRun(m.Dir, m.RunDir)
	if err != nil {
		return nil, err
	}
	rec := &Record{
		Schema: Schema, Path: m.Path, Run: run, ManifestSHA256: sum,
		Scenario: m.Run.Scenario, Profile: m.Run.Profile, Headline: m.Run.Summary.Headline, Findings: m.Run.Summary.Findings,
		RunStarted: m.Run.Volatile.Started.UTC(), MarkedAt: m.Now.UTC().Truncate(time.Second), MarkedBy: m.By, Note: m.Note, Tool: m.Tool,
	}
	if old, _, err := Read(m.Dir, m.Path); err == nil {
		rec.Replaces = &Previous{Run: old.Run, ManifestSHA256: old.ManifestSHA256, MarkedAt: old.MarkedAt}
	} else if !errors.Is(err, ErrNoRecord) {
		return nil, err
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("baseline: encode: %w", err)
	}
	b = append(b, '\n')
	if err := os.MkdirAll(m.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	p := File(m.Dir, m.Path)
	if err := writeAtomic(p, b); err != nil {
		return nil, err
	}
	sig := p + SigExt
	if m.Key == nil {
		if err := os.Remove(sig); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("baseline: remove the stale signature %s: %w", sig, err)
		}
		return rec, nil
	}
	s := base64.StdEncoding.EncodeToString(ed25519.Sign(m.Key, b))
	if err := writeAtomic(sig, []byte(s+"\n")); err != nil {
		return nil, err
	}
	return rec, nil
}

// Read loads the record of path in dir and returns it with its exact bytes (what a signature
// covers). ErrNoRecord when there is none.
func Read(dir, path string) (*Record, []byte, error) {
	if err := ValidPath(path); err != nil {
		return nil, nil, err
	}
	p := File(dir, path)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w for path %q in %s (mark one with 'rig baseline mark RUN --path %s --dir %s')", ErrNoRecord, path, dir, path, dir)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("baseline: read %s: %w", p, err)
	}
	var rec Record
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return nil, nil, fmt.Errorf("baseline: %s is not a baseline record: %w", p, err)
	}
	if rec.Schema != Schema {
		return nil, nil, fmt.Errorf("baseline: %s has schema %q, this rig reads %q", p, rec.Schema, Schema)
	}
	if rec.Path != path {
		return nil, nil, fmt.Errorf("baseline: %s records path %q, not %q (was it renamed?)", p, rec.Path, path)
	}
	return &rec, b, nil
}

// List returns the paths that have a record in dir, sorted.
func List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	var out []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), Ext); ok && !e.IsDir() && ValidPath(name) == nil {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Signature states of a checked record (those of rig/manifest).
const (
	SigNotChecked = manifest.SigNotChecked
	SigValid      = manifest.SigValid
	SigInvalid    = manifest.SigInvalid
	SigMissing    = manifest.SigMissing
)

// Check is what Verify found.
type Check struct {
	RunDir    string   // the run folder the record names, resolved
	Signature string   // one of the Sig* states
	Problems  []string // empty when the baseline can be used
}

// OK reports whether the record and its run verify.
func (c *Check) OK() bool { return len(c.Problems) == 0 }

// Verify checks a record read from dir: its signature with pub (when given), that the run it
// names still has the manifest it was marked with, and that the run verifies against that
// manifest (as rig verify does).
func Verify(dir string, rec *Record, raw []byte, pub ed25519.PublicKey) *Check {
	c := &Check{RunDir: rec.Run, Signature: SigNotChecked}
	if !filepath.IsAbs(c.RunDir) {
		c.RunDir = filepath.Join(dir, filepath.FromSlash(rec.Run))
	}
	if pub != nil {
		c.Signature = checkSig(File(dir, rec.Path)+SigExt, raw, pub)
		if c.Signature != SigValid {
			c.Problems = append(c.Problems, "the record's signature is "+c.Signature)
		}
	}
	sum, err := manifestSum(c.RunDir)
	switch {
	case err != nil:
		c.Problems = append(c.Problems, err.Error())
		return c
	case sum != rec.ManifestSHA256:
		c.Problems = append(c.Problems, fmt.Sprintf("the run's %s is not the one marked (SHA-256 %s, marked %s): the run folder was replaced or rewritten after it was validated", manifest.File, short(sum), short(rec.ManifestSHA256)))
	}
	rep, err := manifest.Verify(c.RunDir, nil)
	switch {
	case err != nil:
		c.Problems = append(c.Problems, err.Error())
	case !rep.OK():
		c.Problems = append(c.Problems, fmt.Sprintf("the run does not match its manifest (%s)", strings.Join(strings.Split(strings.TrimSpace(rep.String()), "\n"), "; ")))
	}
	return c
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12] + "…"
	}
	return sum
}

func manifestSum(runDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(runDir, manifest.File))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("baseline: %s has no %s (is it a run folder written by rig run?)", runDir, manifest.File)
		}
		return "", fmt.Errorf("baseline: %w", err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), nil
}

// relRun names the run folder relative to the records' folder when it can.
func relRun(dir, runDir string) (string, error) {
	ad, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("baseline: %w", err)
	}
	ar, err := filepath.Abs(runDir)
	if err != nil {
		return "", fmt.Errorf("baseline: %w", err)
	}
	rel, err := filepath.Rel(ad, ar)
	if err != nil {
		return filepath.ToSlash(ar), nil
	}
	return filepath.ToSlash(rel), nil
}

func checkSig(path string, msg []byte, pub ed25519.PublicKey) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return SigMissing
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || !ed25519.Verify(pub, msg, sig) {
		return SigInvalid
	}
	return SigValid
}

func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("baseline: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("baseline: write %s: %w", path, err)
	}
	return nil
}
