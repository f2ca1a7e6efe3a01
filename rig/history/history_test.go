package history

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/pathrig/rig/rig/record"
)

// compileSchema compiles schema/history.v1.json; ValidateJSON uses it on real output too.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(SchemaJSON))
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
	return s
}

var t0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

func run(day int, profile string, results ...record.Result) *record.Run {
	r := &record.Run{Schema: record.SchemaRun, Tool: record.Tool{Name: "rig", Version: "test"}, Scenario: "s", Profile: profile,
		Checks: []string{"transport", "broker-cert"}, Results: results}
	r.Volatile.Started = t0.AddDate(0, 0, day)
	r.Summarize()
	return r
}

func res(control, check string, s record.Status, sev record.Severity, facts map[string]any) record.Result {
	return record.Result{Control: control, Check: check, Title: control, Status: s, Severity: sev, Facts: facts, Evidence: []string{}}
}

// TestBuild: five runs given out of order come out oldest first; the plaintext listener that
// comes and goes flaps, the controls fixed once do not; a weaker key under the same verdict is
// drift, a renewal is not; findings are counted by severity and hop.
func TestBuild(t *testing.T) {
	const P, F = record.StatusPass, record.StatusFail
	ec := map[string]any{"cert.key": "ECDSA P-256", "cert.fingerprint": "sha256:aa"}
	renewed := map[string]any{"cert.key": "ECDSA P-256", "cert.fingerprint": "sha256:bb"}
	rsa := map[string]any{"cert.key": "RSA 2048", "cert.fingerprint": "sha256:cc"}
	plain := func(s record.Status) record.Result {
		return res("TRANSPORT-PLAINTEXT", "transport", s, record.SeverityHigh, nil)
	}
	key := func(s record.Status, f map[string]any) record.Result {
		return res("CERT-KEY", "broker-cert", s, record.SeverityHigh, f)
	}
	runs := map[string]*record.Run{
		"exposed":   run(0, "exposed", plain(F), key(F, map[string]any{"cert.key": "RSA 1024"}), res("CERT-SAN", "broker-cert", F, record.SeverityMedium, nil)),
		"hardened":  run(1, "hardened", plain(P), key(P, ec), res("CERT-SAN", "broker-cert", P, record.SeverityMedium, nil)),
		"regressed": run(2, "regressed-plaintext", plain(F), key(P, renewed)),
		"again":     run(3, "hardened", plain(P), key(P, ec), res("CERT-SAN", "broker-cert", P, record.SeverityMedium, nil)),
		"weak":      run(4, "hardened-rsa", plain(P), key(P, rsa), res("CERT-SAN", "broker-cert", P, record.SeverityMedium, nil)),
	}
	var entries []Entry
	for _, p := range []string{"weak", "again", "exposed", "regressed", "hardened"} {
		entries = append(entries, Entry{Path: p, Run: runs[p], Hops: map[string]string{"TRANSPORT-PLAINTEXT": "broker", "CERT-KEY": "broker"}})
	}
	h, err := Build(entries)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	var findings []int
	for _, r := range h.Runs {
		paths = append(paths, r.Path)
		findings = append(findings, r.Findings)
	}
	if want := []string{"exposed", "hardened", "regressed", "again", "weak"}; !reflect.DeepEqual(paths, want) {
		t.Errorf("runs in order %v, want %v", paths, want)
	}
	if want := []int{3, 0, 1, 0, 0}; !reflect.DeepEqual(findings, want) {
		t.Errorf("findings %v, want %v", findings, want)
	}
	if got := h.Runs[0].BySeverity; got != (Severities{High: 2, Medium: 1}) {
		t.Errorf("R1 by severity %+v", got)
	}
	if got, want := h.Runs[0].ByHop, []HopCount{{"broker", record.SeverityHigh, 2}, {"unassigned", record.SeverityMedium, 1}}; !reflect.DeepEqual(got, want) {
		t.Errorf("R1 by hop %+v, want %+v", got, want)
	}
	rows := map[string]Control{}
	for _, c := range h.Controls {
		rows[c.Control] = c
	}
	tp := rows["TRANSPORT-PLAINTEXT"]
	if want := []string{"fail", "pass", "fail", "pass", "pass"}; !reflect.DeepEqual(tp.Statuses, want) || tp.Changes != 3 || !tp.Flapping {
		t.Errorf("TRANSPORT-PLAINTEXT %+v: want statuses %v, 3 changes, flapping", tp, want)
	}
	if want := []string{"", "improved", "regressed", "improved", "unchanged"}; !reflect.DeepEqual(tp.Classes, want) {
		t.Errorf("TRANSPORT-PLAINTEXT classes %v, want %v", tp.Classes, want)
	}
	san := rows["CERT-SAN"]
	if want := []string{"fail", "pass", Absent, "pass", "pass"}; !reflect.DeepEqual(san.Statuses, want) || san.Flapping || san.Changes != 1 {
		t.Errorf("CERT-SAN %+v: absent in R3 is not a change", san)
	}
	ck := rows["CERT-KEY"]
	if ck.Flapping || len(ck.Drift) != 1 || ck.Drift[0].From != "R4" || ck.Drift[0].To != "R5" ||
		ck.Drift[0].Facts[0].Fact != "cert.key" || ck.Drift[0].Facts[0].Change != "weaker" {
		t.Errorf("CERT-KEY drift %+v: want exactly R4 → R5 cert.key weaker (the R2 → R3 → R4 renewals are routine)", ck.Drift)
	}
	if h.Summary.Flapping != 1 || h.Summary.Drifted != 1 || h.Summary.Regressions != 1 {
		t.Errorf("summary %+v", h.Summary)
	}
	if want := "5 runs · findings 3 → 0 · 1 regression · 1 flapping control · 1 control drifted"; h.Summary.Headline != want {
		t.Errorf("headline %q, want %q", h.Summary.Headline, want)
	}

	s := compileSchema(t)
	b, _ := json.Marshal(h)
	var doc any
	json.Unmarshal(b, &doc)
	if err := s.Validate(doc); err != nil {
		t.Errorf("history.json does not validate against its schema: %v", err)
	}
	bad := map[string]any{}
	json.Unmarshal(b, &bad)
	bad["controls"].([]any)[0].(map[string]any)["statuses"] = []any{"ok"}
	if s.Validate(bad) == nil {
		t.Error("the schema accepts a status that does not exist")
	}
}

func TestBuildNoRun(t *testing.T) {
	if _, err := Build(nil); err == nil {
		t.Error("a history of no run built")
	}
}
