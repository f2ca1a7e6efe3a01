package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/record"
)

// mgmtScenario writes a scenario whose only failing control is GUARD-MGMT (high): a management
// endpoint that answers anyone. No stack starts, so the run takes a moment.
func mgmtScenario(t *testing.T, extra string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "debug vars") }))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	sc := filepath.Join(dir, "mgmt.yaml")
	body := fmt.Sprintf("name: mgmt\nchecks: [guardrails-depth]\ntargets:\n  management: [%q]\n%s", srv.URL+"/", extra)
	if err := os.WriteFile(sc, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return sc
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// TestWaivers: an accepted risk turns a run that fails --fail-on into exit 0, stays fail in
// run.json with the waiver attached, counts in summary.waived and carries a SARIF suppression;
// an expired waiver does not (exit 1, and summary.md says it expired); the scenario's waivers:
// key and --waivers both work; a malformed waiver file is exit 2 naming its line and field.
func TestWaivers(t *testing.T) {
	dir := t.TempDir()
	future := time.Now().AddDate(0, 3, 0).Format(time.DateOnly)
	past := time.Now().AddDate(0, 0, -2).Format(time.DateOnly)
	valid := writeFile(t, dir, "valid.yaml", "waivers:\n  - control: GUARD-MGMT\n    reason: the debug port is firewalled until the next firmware\n    owner: ops@example.com\n    expires: "+future+"\n")
	expired := writeFile(t, dir, "expired.yaml", "waivers:\n  - control: GUARD-MGMT\n    reason: the debug port is firewalled\n    expires: "+past+"\n")
	noReason := writeFile(t, dir, "noreason.yaml", "waivers:\n  - control: GUARD-MGMT\n    reason: firewalled\n    expires: "+future+"\n  - control: GUARD-RATE\n    owner: ops\n    expires: "+future+"\n")
	badDate := writeFile(t, dir, "baddate.yaml", "waivers:\n  - control: GUARD-MGMT\n    reason: firewalled\n    expires: "+future+"\n  - control: GUARD-RATE\n    reason: no plugin\n    expires: next spring\n")
	unknown := writeFile(t, dir, "unknown.yaml", "waivers:\n  - control: GUARD-DEBUG\n    reason: r\n    expires: "+future+"\n")
	quiet := []string{"-q", "--log-level", "error", "--fail-on", "high"}

	sc := mgmtScenario(t, "")
	if got := execute(context.Background(), append([]string{"run", sc, "--out", filepath.Join(dir, "plain")}, quiet...)); got != exitFindings {
		t.Fatalf("without a waiver: exit %d, want %d (GUARD-MGMT must fail high)", got, exitFindings)
	}

	t.Run("accepted", func(t *testing.T) {
		out := filepath.Join(dir, "accepted")
		if got := execute(context.Background(), append([]string{"run", sc, "--waivers", valid, "--out", out}, quiet...)); got != exitOK {
			t.Fatalf("exit %d, want 0: the only finding is an accepted risk", got)
		}
		var run record.Run
		readJSON(t, filepath.Join(out, "run.json"), &run)
		var mgmt *record.Result
		for i := range run.Results {
			if run.Results[i].Control == "GUARD-MGMT" {
				mgmt = &run.Results[i]
			}
		}
		if mgmt == nil || mgmt.Status != record.StatusFail || mgmt.Waiver == nil || mgmt.Waiver.Expires != future || mgmt.Waiver.Owner != "ops@example.com" {
			t.Fatalf("GUARD-MGMT = %+v, want fail with the waiver attached", mgmt)
		}
		if run.Summary.Waived != 1 || run.Summary.Findings != 0 || run.Summary.Fail != 1 || len(run.Waivers) != 1 || run.Waivers[0].State != record.WaiverApplied {
			t.Errorf("summary %+v, waivers %+v", run.Summary, run.Waivers)
		}
		var sarif struct {
			Runs []struct {
				Results []struct {
					RuleID       string `json:"ruleId"`
					Suppressions []struct{ Kind, Status, Justification string }
				}
			}
		}
		readJSON(t, filepath.Join(out, "findings.sarif"), &sarif)
		found := false
		for _, r := range sarif.Runs[0].Results {
			if r.RuleID == "GUARD-MGMT" {
				found = len(r.Suppressions) == 1 && r.Suppressions[0].Kind == "external" && r.Suppressions[0].Status == "accepted" &&
					r.Suppressions[0].Justification == "the debug port is firewalled until the next firmware"
			}
		}
		if !found {
			t.Errorf("findings.sarif has no accepted suppression on GUARD-MGMT: %+v", sarif.Runs[0].Results)
		}
		summary, _ := os.ReadFile(filepath.Join(out, "summary.md"))
		for _, want := range []string{"## Accepted risks", "| GUARD-MGMT | high | the debug port is firewalled until the next firmware | ops@example.com | " + future,
			"Nothing open: every failure is an accepted risk", "# Risks accepted · 0 findings"} {
			if !strings.Contains(string(summary), want) {
				t.Errorf("summary.md lacks %q", want)
			}
		}
		page, _ := os.ReadFile(filepath.Join(out, "report.html"))
		if !strings.Contains(string(page), `<section id="accepted-risks">`) {
			t.Error("report.html has no accepted-risks section")
		}
	})

	t.Run("the scenario's waivers key, beside the scenario", func(t *testing.T) {
		sc := mgmtScenario(t, "waivers: accepted.yaml\n")
		b, _ := os.ReadFile(valid)
		writeFile(t, filepath.Dir(sc), "accepted.yaml", string(b))
		t.Chdir(dir) // not where the waiver file is
		if got := execute(context.Background(), append([]string{"run", sc, "--out", filepath.Join(dir, "bykey")}, quiet...)); got != exitOK {
			t.Errorf("exit %d, want 0", got)
		}
	})

	t.Run("expired", func(t *testing.T) {
		out := filepath.Join(dir, "expired")
		if got := execute(context.Background(), append([]string{"run", sc, "--waivers", expired, "--out", out}, quiet...)); got != exitFindings {
			t.Fatalf("exit %d, want %d: an expired waiver accepts nothing", got, exitFindings)
		}
		var run record.Run
		readJSON(t, filepath.Join(out, "run.json"), &run)
		if run.Summary.Waived != 0 || run.Summary.Findings != 1 || len(run.Waivers) != 1 || run.Waivers[0].State != record.WaiverExpired {
			t.Errorf("summary %+v, waivers %+v", run.Summary, run.Waivers)
		}
		summary, _ := os.ReadFile(filepath.Join(out, "summary.md"))
		if !strings.Contains(string(summary), "**Expired:** GUARD-MGMT — the waiver expired on "+past) {
			t.Errorf("summary.md does not say the waiver expired:\n%s", summary)
		}
		sarif, _ := os.ReadFile(filepath.Join(out, "findings.sarif"))
		if strings.Contains(string(sarif), "suppressions") {
			t.Error("an expired waiver still suppresses the SARIF result")
		}
	})

	for _, tc := range []struct{ name, file, want string }{
		{"missing reason", noReason, noReason + ":5: field waivers[1].reason: missing"},
		{"bad date", badDate, badDate + `:7: field waivers[1].expires: "next spring" is not a date`},
		{"unknown control", unknown, unknown + `:2: field waivers[0].control: unknown control "GUARD-DEBUG"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, "never-"+strings.ReplaceAll(tc.name, " ", "-"))
			code, stderr := executeStderr(t, append([]string{"run", sc, "--waivers", tc.file, "--out", out}, quiet...))
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, exitUsage, tc.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Error("a bad waiver file still created the run folder")
			}
		})
	}
}

// executeStderr runs the CLI and returns its exit code and what it wrote on stderr.
func executeStderr(t *testing.T, args []string) (int, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	old := os.Stderr
	os.Stderr = w
	code := execute(context.Background(), args)
	os.Stderr = old
	w.Close()
	return code, <-done
}
