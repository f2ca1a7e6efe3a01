package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/pathrig/rig/rig/delta"
	"github.com/pathrig/rig/rig/history"
	"github.com/pathrig/rig/rig/record"
)

// weakKeyProfile writes, into dir, the hardened profile as it would be after a renewal that
// moved the broker to an RSA-2048 key: still within policy (CERT-KEY passes), but weaker than
// the hardened ECDSA P-256.
func weakKeyProfile(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "scenarios", "profiles", "hardened.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "key: ecdsa-p256", "key: rsa-2048", 1)
	s = strings.Replace(s, "name: hardened\n", "name: hardened-renewed-rsa\n", 1)
	if !strings.Contains(s, "key: rsa-2048") || !strings.Contains(s, "name: hardened-renewed-rsa") {
		t.Fatal("the hardened profile no longer has the lines this test changes")
	}
	p := filepath.Join(dir, "hardened-renewed-rsa.yaml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHistoryOverRealRuns runs the reference stack five times (exposed, hardened, the regressed
// plaintext profile, hardened again, hardened renewed with a weaker key), hands the runs to rig
// history out of order, and reads what it wrote: the runs in time order, the trend, the regression
// and the flapping plaintext control, the weaker key as the one drift of CERT-KEY (the
// certificate renewed on every run is routine), history.json valid against its schema, and a
// folder rig verify accepts. rig delta shows the same drift. Refusals: a tampered run (exit 5), an
// --out that is not empty, one run, the same run twice (exit 2).
func TestHistoryOverRealRuns(t *testing.T) {
	dir := t.TempDir()
	quiet := []string{"-q", "--log-level", "error"}
	weak := weakKeyProfile(t, dir)
	runs := map[string]string{}
	for _, r := range []struct{ name, profile string }{
		{"r1-exposed", "exposed"}, {"r2-hardened", "hardened"}, {"r3-regressed", "regressed-plaintext"},
		{"r4-hardened", "hardened"}, {"r5-weak-key", weak},
	} {
		out := filepath.Join(dir, r.name)
		if got := execute(context.Background(), append([]string{"run", "audit-baseline", "--profile", r.profile, "--out", out}, quiet...)); got != exitOK {
			t.Fatalf("run %s exited %d", r.name, got)
		}
		runs[r.name] = out
	}
	hist := filepath.Join(dir, "history")
	args := []string{"history", "-q", "--out", hist, runs["r5-weak-key"], runs["r2-hardened"], runs["r4-hardened"], runs["r1-exposed"], filepath.Join(runs["r3-regressed"], record.RunFile)}
	if got := execute(context.Background(), args); got != exitOK {
		t.Fatalf("rig history exited %d", got)
	}
	raw, err := os.ReadFile(filepath.Join(hist, history.File))
	if err != nil {
		t.Fatal(err)
	}
	var h history.History
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	t.Logf("history headline: %s", h.Summary.Headline)
	var profiles []string
	var findings []int
	for _, r := range h.Runs {
		profiles = append(profiles, r.Profile)
		findings = append(findings, r.Findings)
	}
	if want := []string{"exposed", "hardened", "regressed-plaintext", "hardened", "hardened-renewed-rsa"}; !reflect.DeepEqual(profiles, want) {
		t.Errorf("runs in order %v, want %v", profiles, want)
	}
	// The exposed baseline: 11 transport, certificate, ingest and guardrail findings, 5 identity
	// findings and the 8 OBS controls.
	if want := []int{24, 0, 1, 0, 0}; !reflect.DeepEqual(findings, want) {
		t.Errorf("findings %v, want %v", findings, want)
		for _, name := range []string{"r1-exposed", "r2-hardened", "r3-regressed", "r4-hardened", "r5-weak-key"} {
			if run, err := record.ReadRun(runs[name]); err == nil {
				for _, r := range run.Results {
					if r.Status == record.StatusFail {
						t.Logf("%s: %s fail: %s", name, r.Control, r.Reason)
					}
				}
			}
		}
	}
	// 9 high and 2 medium from the first four checks; identity adds 4 high and 1 medium,
	// observability 1 high, 5 medium and 2 low.
	if bs := h.Runs[0].BySeverity; bs.High != 14 || bs.Medium != 8 || bs.Low != 2 {
		t.Errorf("R1 by severity %+v, want 14 high, 8 medium, 2 low", bs)
	}
	rows := map[string]history.Control{}
	for _, c := range h.Controls {
		rows[c.Control] = c
	}
	tp := rows["TRANSPORT-PLAINTEXT"]
	if !reflect.DeepEqual(tp.Statuses, []string{"fail", "pass", "fail", "pass", "pass"}) || tp.Classes[2] != string(delta.Regressed) || !tp.Flapping {
		t.Errorf("TRANSPORT-PLAINTEXT %+v: want fail pass fail pass pass, regressed in R3, flapping", tp)
	}
	var flapping []string
	for _, c := range h.Controls {
		if c.Flapping {
			flapping = append(flapping, c.Control)
		}
	}
	if !reflect.DeepEqual(flapping, []string{"TRANSPORT-PLAINTEXT"}) || h.Summary.Regressions != 1 {
		t.Errorf("flapping %v, regressions %d: want only TRANSPORT-PLAINTEXT, 1", flapping, h.Summary.Regressions)
	}
	ck := rows["CERT-KEY"]
	if len(ck.Drift) != 1 || ck.Drift[0].From != "R4" || ck.Drift[0].To != "R5" || len(ck.Drift[0].Facts) != 1 {
		t.Fatalf("CERT-KEY drift %+v: want exactly R4 → R5", ck.Drift)
	}
	if f := ck.Drift[0].Facts[0]; f.Fact != "cert.key" || f.Change != delta.Weaker || f.Before != "ECDSA P-256" || f.After != "RSA 2048" {
		t.Errorf("CERT-KEY drift %+v: want cert.key ECDSA P-256 → RSA 2048, weaker", f)
	}
	for _, c := range []string{"CERT-CHAIN", "CERT-EXPIRY", "CERT-SAN", "TRANSPORT-TLS-LEGACY"} {
		if len(rows[c].Drift) != 0 {
			t.Errorf("%s drifted %+v: a certificate renewed with the same key policy is routine", c, rows[c].Drift)
		}
	}
	validateHistory(t, raw)
	page, _ := os.ReadFile(filepath.Join(hist, "history.html"))
	for _, want := range []string{`aria-label="findings by severity over the runs"`, `class="badge flapping">flapping`, "<code>cert.key</code></td><td>ECDSA P-256</td><td>RSA 2048</td><td><strong>weaker</strong>"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("history.html lacks %q", want)
		}
	}
	if got := execute(context.Background(), []string{"verify", hist}); got != exitOK {
		t.Errorf("rig verify of the history folder exited %d", got)
	}

	// The same drift through rig delta; the renewal alone (R2 → R4) is routine, no drift.
	for _, tc := range []struct {
		from, to string
		drifted  int
	}{{"r4-hardened", "r5-weak-key", 1}, {"r2-hardened", "r4-hardened", 0}} {
		out := filepath.Join(dir, "delta-"+tc.to)
		if got := execute(context.Background(), []string{"delta", "-q", runs[tc.from], runs[tc.to], "--out", out}); got != exitOK {
			t.Fatalf("delta %s %s exited %d (drift is no regression)", tc.from, tc.to, got)
		}
		d, err := readDelta(out)
		if err != nil {
			t.Fatal(err)
		}
		routine := false
		for _, r := range d.Rows {
			if r.Control == "CERT-CHAIN" {
				for _, c := range r.Routine {
					routine = routine || c.Fact == "cert.fingerprint"
				}
			}
		}
		if d.Summary.Drifted != tc.drifted || !routine {
			t.Errorf("delta %s → %s: drifted %d (want %d), fingerprint change routine: %v", tc.from, tc.to, d.Summary.Drifted, tc.drifted, routine)
		}
	}

	// Refusals.
	step := func(name string, args []string, want int) {
		t.Helper()
		if got := execute(context.Background(), args); got != want {
			t.Errorf("%s: rig %v exited %d, want %d", name, args, got, want)
		}
	}
	step("out not empty", []string{"history", "-q", runs["r1-exposed"], runs["r2-hardened"], "--out", hist}, exitUsage)
	step("one run", []string{"history", "-q", runs["r1-exposed"], "--out", filepath.Join(dir, "h1")}, exitUsage)
	step("the same run twice", []string{"history", "-q", runs["r1-exposed"], filepath.Join(runs["r1-exposed"], record.RunFile), "--out", filepath.Join(dir, "h2")}, exitUsage)
	step("out inside a run", []string{"history", "-q", runs["r1-exposed"], runs["r2-hardened"], "--out", filepath.Join(runs["r2-hardened"], "h")}, exitUsage)
	p := filepath.Join(runs["r3-regressed"], "summary.md")
	b, _ := os.ReadFile(p)
	os.WriteFile(p, append(b, '\n'), 0o644)
	step("a tampered run", []string{"history", "-q", runs["r1-exposed"], runs["r3-regressed"], "--out", filepath.Join(dir, "h3")}, exitUnverified)
	if _, err := os.Stat(filepath.Join(dir, "h3")); !os.IsNotExist(err) {
		t.Errorf("a history folder was made for a refused series (stat: %v)", err)
	}
}

// validateHistory checks history.json against rig/history/schema/history.v1.json.
func validateHistory(t *testing.T, raw []byte) {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(history.SchemaJSON))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("history.v1.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("history.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(v); err != nil {
		t.Errorf("history.json does not validate against its schema: %v", err)
	}
}
