package baseline

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/manifest"
	"github.com/pathrig/rig/rig/record"
)

// sealed writes a run folder as rig run leaves it: run.json and the manifest.
func sealed(t *testing.T, dir, headline string) *record.Run {
	t.Helper()
	r := &record.Run{Schema: record.SchemaRun, Scenario: "hardening-verify", Profile: "hardened", Checks: []string{"transport"}}
	r.Volatile.Started = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r.Summarize()
	r.Summary.Headline = headline
	os.MkdirAll(dir, 0o755)
	if err := record.WriteJSON(filepath.Join(dir, record.RunFile), r); err != nil {
		t.Fatal(err)
	}
	if err := manifest.Write(dir, nil); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMarkVerify(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "baselines")
	runA, runB := filepath.Join(dir, "hardening-verify"), filepath.Join(root, "out", "later")
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC)

	if _, _, err := Read(dir, "hardening-verify"); !errors.Is(err, ErrNoRecord) {
		t.Fatalf("Read before any mark: %v, want ErrNoRecord", err)
	}
	ra := sealed(t, runA, "Hardened path · 0 findings")
	rec, err := Write(Mark{Dir: dir, Path: "hardening-verify", RunDir: runA, Run: ra, Now: now, By: "consultant", Tool: "test", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Run != "hardening-verify" || rec.Replaces != nil || rec.Scenario != "hardening-verify" || len(rec.ManifestSHA256) != 64 {
		t.Errorf("record %+v", rec)
	}
	got, raw, err := Read(dir, "hardening-verify")
	if err != nil {
		t.Fatal(err)
	}
	step := func(name string, pub ed25519.PublicKey, wantSig string, wantOK bool) {
		t.Helper()
		c := Verify(dir, got, raw, pub)
		if c.Signature != wantSig || c.OK() != wantOK {
			t.Errorf("%s: signature %s ok %v (%v), want %s ok %v", name, c.Signature, c.OK(), c.Problems, wantSig, wantOK)
		}
	}
	step("intact, no key", nil, SigNotChecked, true)
	step("intact, signed", pub, SigValid, true)
	step("another key", otherPub, SigInvalid, false)

	// The run rewritten after it was validated (a new manifest too): the pin catches it.
	sealed(t, runA, "Hardened path · 0 findings (rewritten)")
	step("run rewritten", nil, SigNotChecked, false)
	c := Verify(dir, got, raw, nil)
	if !strings.Contains(strings.Join(c.Problems, " "), "not the one marked") {
		t.Errorf("problems %v: want the manifest pin named", c.Problems)
	}

	// A later run marked without a key replaces the record and drops the stale signature.
	rb := sealed(t, runB, "Hardened path · 0 findings")
	rec2, err := Write(Mark{Dir: dir, Path: "hardening-verify", RunDir: runB, Run: rb, Now: now.Add(time.Hour), Tool: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if rec2.Run != "../out/later" || rec2.Replaces == nil || rec2.Replaces.Run != "hardening-verify" || rec2.Replaces.ManifestSHA256 != rec.ManifestSHA256 {
		t.Errorf("second record %+v (replaces %+v)", rec2, rec2.Replaces)
	}
	if _, err := os.Stat(File(dir, "hardening-verify") + SigExt); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale signature stayed: %v", err)
	}
	got, raw, _ = Read(dir, "hardening-verify")
	step("replaced, unsigned, key given", pub, SigMissing, false)
	step("replaced, no key", nil, SigNotChecked, true)
	if paths, err := List(dir); err != nil || len(paths) != 1 || paths[0] != "hardening-verify" {
		t.Errorf("List = %v, %v", paths, err)
	}
	os.RemoveAll(runB)
	step("run gone", nil, SigNotChecked, false)

	for _, bad := range []string{"", "../x", "Upper", "a/b", "-x"} {
		if _, err := Write(Mark{Dir: dir, Path: bad, RunDir: runA, Run: ra, Now: now}); err == nil {
			t.Errorf("path name %q accepted", bad)
		}
	}
}
