package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/record"
)

// mgmtTarget starts a management endpoint that answers anyone and counts the requests it got.
func mgmtTarget(t *testing.T, dir string, checkIDs string) (scenarioPath string, requests *atomic.Int64) {
	t.Helper()
	requests = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		fmt.Fprintln(w, "debug")
	}))
	t.Cleanup(srv.Close)
	sc := writeFile(t, dir, "s.yaml", fmt.Sprintf("name: conv\nchecks: [%s]\ntargets:\n  management: [%q]\n", checkIDs, srv.URL+"/"))
	return sc, requests
}

// runCLI runs the CLI with stdout captured.
func runCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	root := newRoot()
	root.SetOut(&out)
	root.SetArgs(args)
	code := exitOK
	if err := root.ExecuteContext(context.Background()); err != nil {
		var ee *exitError
		if !errorsAs(err, &ee) {
			code = exitUsage
		} else {
			code = ee.code
		}
	}
	return code, out.String()
}

// TestStreamResults: --out - prints one JSON result per line (each valid against the run
// schema's result), nothing else on stdout, and leaves no run folder behind.
func TestStreamResults(t *testing.T) {
	dir := t.TempDir()
	sc, _ := mgmtTarget(t, dir, "guardrails-depth, device-certs")
	t.Chdir(dir)
	before := tempEntries(t)
	code, out := runCLI(t, "run", sc, "--out", "-", "-q", "--log-level", "error", "--fail-on", "high")
	if code != exitFindings {
		t.Errorf("exit %d, want %d (GUARD-MGMT fails high; --fail-on still gates)", code, exitFindings)
	}
	schema := resultSchema(t)
	cat, _ := checks.Catalog()
	var want int
	for _, c := range cat {
		if c.Check == "guardrails-depth" || c.Check == "device-certs" {
			want++
		}
	}
	lines := 0
	sc2 := bufio.NewScanner(strings.NewReader(out))
	for sc2.Scan() {
		lines++
		var v any
		if err := json.Unmarshal(sc2.Bytes(), &v); err != nil {
			t.Fatalf("line %d is not JSON: %q", lines, sc2.Text())
		}
		if err := schema.Validate(v); err != nil {
			t.Errorf("line %d is not a run.json result: %v", lines, err)
		}
	}
	if lines != want {
		t.Errorf("%d lines, want one per control (%d):\n%s", lines, want, out)
	}
	if !strings.Contains(out, `"control":"GUARD-MGMT","check":"guardrails-depth"`) {
		t.Errorf("no GUARD-MGMT line:\n%s", out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 { // s.yaml only: no out/runs
		t.Errorf("the working folder holds %v: --out - wrote a run folder", entries)
	}
	if after := tempEntries(t); len(after) > len(before) {
		t.Errorf("temporary folders left behind: %v → %v", before, after)
	}
	if code, _ := runCLI(t, "run", sc, "--out", "-", "--baseline", dir); code != exitUsage {
		t.Errorf("--out - with --baseline: exit %d, want %d", code, exitUsage)
	}
}

// TestControlSelection: --skip-control skips a control (reason "skipped on the command line")
// without sending its probe; --control runs only the checks that own the named controls; an
// unknown ID, or a control of a check the run does not include, is exit 2.
func TestControlSelection(t *testing.T) {
	dir := t.TempDir()
	sc, requests := mgmtTarget(t, dir, "guardrails-depth, device-certs")
	quiet := []string{"-q", "--log-level", "error"}

	out := filepath.Join(dir, "skipped")
	if code, _ := runCLI(t, append([]string{"run", sc, "--skip-control", "GUARD-MGMT", "--fail-on", "high", "--out", out}, quiet...)...); code != exitOK {
		t.Fatalf("exit %d, want 0: the only failing control is skipped", code)
	}
	var run record.Run
	readJSON(t, filepath.Join(out, "run.json"), &run)
	for _, r := range run.Results {
		if r.Control == "GUARD-MGMT" && (r.Status != record.StatusSkip || r.Reason != check.SkippedReason) {
			t.Errorf("GUARD-MGMT = %s %q, want skip %q", r.Status, r.Reason, check.SkippedReason)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("the skipped control's probe sent %d requests", n)
	}

	out = filepath.Join(dir, "only")
	if code, _ := runCLI(t, append([]string{"run", sc, "--control", "GUARD-MGMT", "--out", out}, quiet...)...); code != exitOK {
		t.Fatalf("--control: exit %d", code)
	}
	run = record.Run{}
	readJSON(t, filepath.Join(out, "run.json"), &run)
	if len(run.Checks) != 1 || run.Checks[0] != "guardrails-depth" {
		t.Errorf("checks %v, want only guardrails-depth", run.Checks)
	}
	for _, r := range run.Results {
		switch {
		case r.Control == "GUARD-MGMT" && r.Status != record.StatusFail:
			t.Errorf("GUARD-MGMT = %s (%s), want fail", r.Status, r.Reason)
		case r.Control != "GUARD-MGMT" && (r.Status != record.StatusSkip || r.Reason != check.SkippedReason):
			t.Errorf("%s = %s %q, want skipped on the command line", r.Control, r.Status, r.Reason)
		}
	}
	if requests.Load() == 0 {
		t.Error("the selected control sent no request")
	}

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"unknown --control", []string{"--control", "GUARD-NOPE"}},
		{"unknown --skip-control", []string{"--skip-control", "guard-mgmt"}},
		{"a control of a check not run", []string{"--control", "TRANSPORT-PLAINTEXT"}},
		{"run and skipped", []string{"--control", "GUARD-MGMT", "--skip-control", "GUARD-MGMT"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			never := filepath.Join(dir, "never")
			args := append(append([]string{"run", sc, "--out", never}, tc.args...), quiet...)
			if code, _ := runCLI(t, args...); code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if _, err := os.Stat(never); !os.IsNotExist(err) {
				t.Error("a refused selection still created the run folder")
			}
		})
	}
}

// TestVersionJSON: rig version keeps its one plain line; --json adds commit, build date and Go
// version.
func TestVersionJSON(t *testing.T) {
	code, plain := runCLI(t, "version")
	if code != exitOK || !strings.HasPrefix(plain, "rig dev (run schema rig.run/v1") || strings.Count(plain, "\n") != 1 {
		t.Errorf("rig version = %d %q", code, plain)
	}
	commit, buildDate = "0123abc", "2026-01-02T03:04:05Z"
	t.Cleanup(func() { commit, buildDate = "", "" })
	code, out := runCLI(t, "version", "--json")
	var got map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != exitOK {
		t.Fatalf("rig version --json = %d %q (%v)", code, out, err)
	}
	for k, want := range map[string]string{"version": "dev", "commit": "0123abc", "build_date": "2026-01-02T03:04:05Z", "run_schema": "rig.run/v1", "delta_schema": "rig.delta/v1"} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	if got["go"] != runtime.Version() || got["date"] == "" {
		t.Errorf("go = %q, date = %q: want %q and the commit's time (tools/dist makes the package version from version, commit and date)", got["go"], got["date"], runtime.Version())
	}
}

// resultSchema compiles the result definition of the run schema.
func resultSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(record.RunSchemaJSON))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("run.v1.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("run.v1.json#/$defs/result")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tempEntries(t *testing.T) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(os.TempDir(), "rig-stream-*"))
	return m
}

func errorsAs(err error, target **exitError) bool { return errors.As(err, target) }
