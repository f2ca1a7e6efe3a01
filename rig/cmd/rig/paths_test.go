package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pathrig/rig/rig/record"
)

// TestScenariosListsPathsFirst: rig scenarios shows the five paths first, in the offer's order,
// each with its control count, and leaves them out of the other bundles' line.
func TestScenariosListsPathsFirst(t *testing.T) {
	code, out := runCLI(t, "scenarios")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], "paths") {
		t.Fatalf("first line %q, want the paths", lines[0])
	}
	for i, p := range []string{"gateway", "mqtt", "ingest", "identity", "observability"} {
		if f := strings.Fields(lines[1+i]); len(f) < 3 || f[0] != "path-"+p || f[2] != "controls:" {
			t.Errorf("line %d %q, want path-%s and its control count", 2+i, lines[1+i], p)
		}
	}
	for _, l := range lines[6:] {
		if strings.HasPrefix(l, "bundles:") && strings.Contains(l, "path-") {
			t.Errorf("the bundles line repeats the paths: %q", l)
		}
	}
}

// TestPathRunCLI: rig run --bundle path-NAME evaluates only the path's controls (here against a
// management endpoint the test serves), summary.md and report.html name the path, and a
// --control outside the path is a usage error.
func TestPathRunCLI(t *testing.T) {
	dir := t.TempDir()
	sc, requests := mgmtTarget(t, dir, "guardrails-depth")
	quiet := []string{"-q", "--log-level", "error"}
	out := filepath.Join(dir, "obs")
	if code, _ := runCLI(t, append([]string{"run", sc, "--bundle", "path-observability", "--out", out}, quiet...)...); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	var run record.Run
	readJSON(t, filepath.Join(out, "run.json"), &run)
	var got []string
	for _, r := range run.Results {
		got = append(got, r.Control)
	}
	slices.Sort(got)
	if want := []string{"GUARD-HEALTH", "GUARD-MGMT", "OBS-ACL-EVENTS", "OBS-AUTH-EVENTS", "OBS-CLOCK", "OBS-GAP-ALERT", "OBS-INGEST-EVENTS",
		"OBS-LOG-SECRETS", "OBS-METRICS-AUTH", "OBS-UART-EVENTS", "TRUST-LATENCY", "TRUST-LOSS"}; !slices.Equal(got, want) {
		t.Errorf("results %v, want the observability path's controls %v", got, want)
	}
	if run.Scope == nil || !slices.Equal(run.Scope.Paths, []string{"observability"}) || run.Bundles[0] != "path-observability" {
		t.Errorf("scope %+v bundles %v", run.Scope, run.Bundles)
	}
	if requests.Load() == 0 {
		t.Error("GUARD-MGMT sent no request")
	}
	summary, err := os.ReadFile(filepath.Join(out, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(summary), "path **observability**") || !strings.Contains(string(summary), "| transport | TRANSPORT-PLAINTEXT, TRANSPORT-TLS-LEGACY | `path-mqtt` |") {
		t.Errorf("summary.md does not name the path and what is out of scope:\n%s", summary)
	}
	for _, args := range [][]string{
		{"--bundle", "path-observability", "--control", "GUARD-SUB-SYS"}, // its check runs, the control is not in the path
		{"--bundle", "path-nowhere"},
	} {
		never := filepath.Join(dir, "never")
		if code, _ := runCLI(t, append(append([]string{"run", sc, "--out", never}, args...), quiet...)...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}
