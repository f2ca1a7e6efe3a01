package engine

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/pathrig/rig/rig/evidence"
	"github.com/pathrig/rig/rig/manifest"
	"github.com/pathrig/rig/rig/record"
)

// TestOutputsAreRedacted: a probe error that echoes a credential reaches every rendering through
// the reason; the evidence store's redaction must scrub it from each file, the delta included.
func TestOutputsAreRedacted(t *testing.T) {
	const secret = "tok-9f8e7d6c5b4a"
	dir := t.TempDir()
	ev, err := evidence.NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	ev.AddSecret(secret)
	mk := func(status record.Status) *record.Run {
		r := &record.Run{Schema: record.SchemaRun, Scenario: "s", Profile: "p", Checks: []string{"ingest-auth"}, Results: []record.Result{{
			Control: "INGEST-UNAUTH", Check: "ingest-auth", Title: "t", Status: status, Severity: record.SeverityHigh,
			Reason: "server said: invalid token " + secret, Observed: map[string]any{"echo": secret}, Evidence: []string{},
		}}}
		r.Summarize()
		return r
	}
	base := filepath.Join(t.TempDir(), "base")
	os.MkdirAll(base, 0o755)
	if err := record.WriteJSON(filepath.Join(base, record.RunFile), mk(record.StatusPass)); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteOutputs(dir, mk(record.StatusFail), Outputs{Baseline: base}, ev.Redact); err != nil {
		t.Fatal(err)
	}
	n := 0
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		n++
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the secret", p)
		}
		return nil
	})
	if n < 9 { // 5 renderings, 3 delta files, the manifest
		t.Errorf("only %d files written", n)
	}
}

// TestOutputsSealEveryDirectory: a run that wrote no evidence file leaves evidence/ empty; the
// manifest cannot list an empty directory and verify reports one as added, so the outputs remove
// it before sealing and the folder verifies.
func TestOutputsSealEveryDirectory(t *testing.T) {
	dir := t.TempDir()
	if _, err := evidence.NewStore(dir); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "evidence", "CTRL", "empty"), 0o755)
	r := &record.Run{Schema: record.SchemaRun, Scenario: "s", Profile: "p"}
	r.Summarize()
	if err := record.WriteJSON(filepath.Join(dir, record.RunFile), r); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteOutputs(dir, r, Outputs{}, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := manifest.Verify(dir, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v\n%s", err, rep)
	}
}
