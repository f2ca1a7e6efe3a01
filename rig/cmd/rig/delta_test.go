package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/pathrig/rig/rig/manifest"
	"github.com/pathrig/rig/rig/record"
)

// sealedRun writes a run folder as `rig run` leaves it: run.json, one evidence file, the manifest.
func sealedRun(t *testing.T, dir string, status record.Status) string {
	t.Helper()
	r := &record.Run{Schema: record.SchemaRun, Scenario: "s", Profile: "p", Checks: []string{"transport"}, Results: []record.Result{{
		Control: "TRANSPORT-PLAINTEXT", Check: "transport", Title: "t", Status: status, Severity: record.SeverityHigh,
		Evidence: []string{"evidence/TRANSPORT-PLAINTEXT/connect.json"},
	}}}
	r.Summarize()
	if err := os.MkdirAll(filepath.Join(dir, "evidence", "TRANSPORT-PLAINTEXT"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "evidence", "TRANSPORT-PLAINTEXT", "connect.json"), []byte(`{"connack":0}`), 0o644)
	if err := record.WriteJSON(filepath.Join(dir, record.RunFile), r); err != nil {
		t.Fatal(err)
	}
	if err := manifest.Write(dir, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDeltaInputsAndOut: rig delta compares only run folders that verify against their
// manifests (a tampered baseline must not read as "controls improved"), and writes only into a
// new or empty --out that lies outside both runs, like rig run.
func TestDeltaInputsAndOut(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, base, rerun, out string) []string // returns the arguments after "delta"
		want  int
		keep  string // a file of the user's in out that must survive unchanged
	}{
		{"intact runs", func(t *testing.T, base, rerun, out string) []string { return []string{base, rerun, "--out", out} }, exitOK, ""},
		{"run.json inside a verified folder", func(t *testing.T, base, rerun, out string) []string {
			return []string{filepath.Join(base, record.RunFile), filepath.Join(rerun, record.RunFile), "--out", out}
		}, exitOK, ""},
		{"tampered baseline", func(t *testing.T, base, rerun, out string) []string {
			p := filepath.Join(base, record.RunFile)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, append(b, ' '), 0o644)
			return []string{base, rerun, "--out", out}
		}, exitUnverified, ""},
		{"evidence removed from the rerun", func(t *testing.T, base, rerun, out string) []string {
			os.Remove(filepath.Join(rerun, "evidence", "TRANSPORT-PLAINTEXT", "connect.json"))
			return []string{base, rerun, "--out", out}
		}, exitUnverified, ""},
		{"baseline without a manifest", func(t *testing.T, base, rerun, out string) []string {
			os.Remove(filepath.Join(base, manifest.File))
			return []string{base, rerun, "--out", out}
		}, exitUnverified, ""},
		{"out holds a user's file", func(t *testing.T, base, rerun, out string) []string {
			os.MkdirAll(out, 0o755)
			os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644)
			return []string{base, rerun, "--out", out}
		}, exitUsage, "notes.txt"},
		{"out holds only empty folders", func(t *testing.T, base, rerun, out string) []string {
			os.MkdirAll(filepath.Join(out, "old", "empty"), 0o755)
			return []string{base, rerun, "--out", out}
		}, exitOK, ""},
		{"out inside the baseline", func(t *testing.T, base, rerun, out string) []string {
			return []string{base, rerun, "--out", filepath.Join(base, "delta2")}
		}, exitUsage, ""},
		{"out is the rerun", func(t *testing.T, base, rerun, out string) []string {
			return []string{base, rerun, "--out", rerun}
		}, exitUsage, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			base := sealedRun(t, filepath.Join(dir, "base"), record.StatusFail)
			rerun := sealedRun(t, filepath.Join(dir, "rerun"), record.StatusPass)
			out := filepath.Join(dir, "delta")
			args := append([]string{"delta", "-q"}, tc.setup(t, base, rerun, out)...)
			var before []byte
			if tc.keep != "" {
				before, _ = os.ReadFile(filepath.Join(out, tc.keep))
			}
			if got := execute(context.Background(), args); got != tc.want {
				t.Fatalf("rig %v exited %d, want %d", args, got, tc.want)
			}
			if tc.keep != "" {
				if after, _ := os.ReadFile(filepath.Join(out, tc.keep)); string(after) != string(before) {
					t.Errorf("%s changed: %q → %q", tc.keep, before, after)
				}
				if _, err := os.Stat(filepath.Join(out, manifest.File)); err == nil {
					t.Errorf("a manifest was written into the user's folder")
				}
			}
			if tc.want != exitOK {
				if _, err := os.Stat(filepath.Join(out, "delta.json")); err == nil {
					t.Errorf("delta.json written although the delta was refused")
				}
				for _, in := range []string{base, rerun} {
					if _, err := os.Stat(filepath.Join(in, "delta2")); err == nil {
						t.Errorf("a delta folder was made inside %s", in)
					}
				}
				return
			}
			if got := execute(context.Background(), []string{"verify", out}); got != exitOK {
				t.Errorf("verify of the delta folder exited %d", got)
			}
		})
	}
}

// TestRunBaselineMustVerify: rig run --baseline refuses a baseline that fails verification
// before anything starts.
func TestRunBaselineMustVerify(t *testing.T) {
	dir := t.TempDir()
	base := sealedRun(t, filepath.Join(dir, "base"), record.StatusPass)
	p := filepath.Join(base, "evidence", "TRANSPORT-PLAINTEXT", "connect.json")
	os.WriteFile(p, []byte(`{"connack":5}`), 0o644)
	out := filepath.Join(dir, "run")
	if got := execute(context.Background(), []string{"run", "audit-baseline", "-q", "--baseline", base, "--out", out}); got != exitUnverified {
		t.Errorf("run with a tampered baseline exited %d, want %d", got, exitUnverified)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the run folder was created (stat: %v)", err)
	}
}
