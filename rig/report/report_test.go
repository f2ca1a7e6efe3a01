package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	junit "github.com/joshdk/go-junit"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/checks/catalog"
	"github.com/pathrig/rig/rig/delta"
	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/rig/waiver"
	"github.com/pathrig/rig/scenarios"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// TestDecide runs the default decision rules (scenarios/decisions/default.yaml) over small runs:
// a high finding on transport, anonymous access or cross-device access holds the path; another
// high finding is a focused sprint; medium or low is fixed internally; an error holds; an
// accepted risk decides nothing; a clean run ships. Each decision names its rule.
func TestDecide(t *testing.T) {
	cat, err := checks.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	defs := map[string]catalog.Control{}
	for _, c := range cat {
		defs[c.ID] = c
	}
	fail := func(id string, s record.Severity) record.Result {
		return record.Result{Control: id, Check: defs[id].Check, Status: record.StatusFail, Severity: s}
	}
	res := func(id string, st record.Status) record.Result {
		return record.Result{Control: id, Check: defs[id].Check, Status: st, Severity: defs[id].Severity}
	}
	waived := func(r record.Result) record.Result {
		r.Waiver = &record.Waiver{Reason: "accepted", Expires: "2099-01-01", Source: "w.yaml:2"}
		return r
	}
	rules, err := DefaultRules()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		results []record.Result
		want    string
		rule    string
	}{
		{"plaintext broker", []record.Result{fail("TRANSPORT-PLAINTEXT", record.SeverityHigh), fail("CERT-SAN", record.SeverityHigh)}, "hold", "transport-exposed"},
		{"weak ciphers", []record.Result{fail("TRANSPORT-CIPHERS", record.SeverityHigh)}, "hold", "transport-exposed"},
		{"TLS 1.1 is medium: not a transport hold", []record.Result{fail("TRANSPORT-TLS-LEGACY", record.SeverityMedium)}, "fix internally", "medium-or-low"},
		{"anonymous broker", []record.Result{fail("GUARD-ANON", record.SeverityHigh)}, "hold", "anonymous-access"},
		{"unauthenticated ingest", []record.Result{fail("INGEST-UNAUTH", record.SeverityHigh)}, "hold", "anonymous-access"},
		{"one device reads every device", []record.Result{fail("GUARD-SUB-WILDCARD", record.SeverityHigh)}, "hold", "cross-device-access"},
		{"critical elsewhere", []record.Result{fail("CERT-EXPIRY", record.SeverityCritical), fail("CERT-LIFETIME", record.SeverityMedium)}, "hold", "critical"},
		{"high elsewhere", []record.Result{fail("CERT-SAN", record.SeverityHigh), fail("GUARD-MAX-PACKET", record.SeverityLow)}, "focused sprint", "high"},
		{"medium", []record.Result{fail("GUARD-MAX-PACKET", record.SeverityMedium)}, "fix internally", "medium-or-low"},
		{"unevaluated", []record.Result{res("GUARD-ANON", record.StatusError)}, "hold", "not-evaluated"},
		{"low finding and an error", []record.Result{fail("GUARD-MAX-PACKET", record.SeverityLow), res("GUARD-ANON", record.StatusError)}, "hold", "not-evaluated"},
		{"a high finding beats an error", []record.Result{fail("CERT-SAN", record.SeverityHigh), res("GUARD-ANON", record.StatusError)}, "focused sprint", "high"},
		{"an accepted plaintext listener decides nothing", []record.Result{waived(fail("TRANSPORT-PLAINTEXT", record.SeverityHigh)), fail("GUARD-MAX-PACKET", record.SeverityMedium)}, "fix internally", "medium-or-low"},
		{"only accepted risks ship", []record.Result{waived(fail("TRANSPORT-PLAINTEXT", record.SeverityHigh)), res("GUARD-ANON", record.StatusPass)}, "ship", ""},
		{"clean", []record.Result{res("GUARD-ANON", record.StatusPass)}, "ship", ""},
		{"everything skipped", []record.Result{res("GUARD-ANON", record.StatusSkip)}, "hold", ""},
		{"clean with a skip", []record.Result{res("GUARD-ANON", record.StatusPass), res("GUARD-RATE", record.StatusSkip)}, "ship", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &record.Run{Results: tc.results}
			r.Summarize()
			d := Decide(r, cat, rules)
			if d.Verdict != tc.want || d.Rule != tc.rule {
				t.Errorf("Decide = %q by rule %q, want %q by %q (%+v)", d.Verdict, d.Rule, tc.want, tc.rule, d)
			}
			if tc.rule != "" && (!strings.HasPrefix(d.Source, "embedded:decisions/default.yaml:") || d.Matched == "" || d.Why == "") {
				t.Errorf("decision %+v does not say which rule and result decided", d)
			}
		})
	}
}

// TestDecideOverride: a scenario's decision rules come first; the defaults still decide what
// they do not match. The summary says which rule decided.
func TestDecideOverride(t *testing.T) {
	cat, _ := checks.Catalog()
	defaults, _ := DefaultRules()
	lib := scenario.Library{Embedded: scenarios.FS, Controls: []string{"TRANSPORT-PLAINTEXT", "GUARD-RATE"}, Checks: []string{"transport"}, Hops: catalog.Hops}
	own, err := lib.ParseDecision("s.yaml", []byte(`rules:
  - id: lab-broker
    decision: focused sprint
    why: the plaintext listener is on the lab network only
    match: {controls: [TRANSPORT-PLAINTEXT]}
  - id: broker-medium
    decision: ship
    why: broker findings below high do not block delivery
    match: {severity: [medium, low], hops: [broker]}
`))
	if err != nil {
		t.Fatal(err)
	}
	rules := append(own, defaults...)
	for _, tc := range []struct {
		name    string
		results []record.Result
		want    string
		rule    string
	}{
		{"the scenario's rule wins", []record.Result{{Control: "TRANSPORT-PLAINTEXT", Check: "transport", Status: record.StatusFail, Severity: record.SeverityHigh}}, "focused sprint", "lab-broker"},
		{"by hop", []record.Result{{Control: "GUARD-RATE", Check: "guardrails-depth", Status: record.StatusFail, Severity: record.SeverityMedium}}, "ship", "broker-medium"},
		{"another hop falls to the defaults", []record.Result{{Control: "INGEST-OVERSIZE", Check: "ingest-matrix", Status: record.StatusFail, Severity: record.SeverityMedium}}, "fix internally", "medium-or-low"},
		{"the defaults still hold anonymous access", []record.Result{{Control: "GUARD-ANON", Check: "guardrails", Status: record.StatusFail, Severity: record.SeverityHigh}}, "hold", "anonymous-access"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &record.Run{Results: tc.results}
			r.Summarize()
			d := Decide(r, cat, rules)
			if d.Verdict != tc.want || d.Rule != tc.rule {
				t.Fatalf("Decide = %+v, want %q by rule %q", d, tc.want, tc.rule)
			}
			r.Decision = &d
			in, err := Build(r, cat, BuildOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			SummaryMarkdown(&b, in)
			if want := "Decided by rule `" + tc.rule + "`"; !strings.Contains(b.String(), want) {
				t.Errorf("summary.md lacks %q:\n%s", want, b.String())
			}
		})
	}
}

// fixture loads a fixed run folder and the catalog it was made with (testdata, so that catalog
// edits do not churn the golden files).
func fixture(t *testing.T, name string) (*record.Run, []catalog.Control, string) {
	t.Helper()
	dir := filepath.Join("testdata", name)
	run, err := record.ReadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cat []catalog.Control
	if err := json.Unmarshal(b, &cat); err != nil {
		t.Fatal(err)
	}
	return run, cat, dir
}

func build(t *testing.T, name, baseline string) *Input {
	t.Helper()
	run, cat, dir := fixture(t, name)
	opts := BuildOptions{RunDir: dir}
	if baseline != "" {
		base, _, bdir := fixture(t, baseline)
		opts.Baseline, opts.BaselinePath = base, bdir
	}
	in, err := Build(run, cat, opts)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// waivedFixture is the exposed run with a waiver file applied on its start day: TRANSPORT-TLS-LEGACY
// and GUARD-MAX-PACKET accepted (one narrowed to the run's TLS endpoint), CERT-KEY's waiver
// expired, GUARD-HEALTH's no longer needed (it passes), GUARD-RATE's for a control not run.
func waivedFixture(t *testing.T) *Input {
	t.Helper()
	run, cat, dir := fixture(t, "exposed")
	day := func(s string) scenario.Date { d, _ := time.Parse(time.DateOnly, s); return scenario.Date{Time: d} }
	ws := []scenario.Waiver{
		{Control: "TRANSPORT-TLS-LEGACY", Reason: "two legacy gateways speak TLS 1.1 until the fleet update in Q2", Owner: "ops@example.com", Expires: day("2026-06-30"), Target: "127.0.0.1:8883", Source: "waivers.yaml:2"},
		{Control: "GUARD-MAX-PACKET", Reason: "the broker vendor ships the limit in the next release", Expires: day("2026-01-02"), Source: "waivers.yaml:8"},
		{Control: "CERT-KEY", Reason: "renewal scheduled", Owner: "pki team", Expires: day("2025-12-31"), Source: "waivers.yaml:12"},
		{Control: "GUARD-HEALTH", Reason: "flaky under load", Expires: day("2026-03-01"), Source: "waivers.yaml:17"},
		{Control: "GUARD-RATE", Reason: "no rate plugin", Expires: day("2026-03-01"), Source: "waivers.yaml:21"},
	}
	hops := map[string]string{}
	for _, c := range cat {
		hops[c.ID] = c.Hop
	}
	run.Waivers = waiver.Apply(run, ws, hops, run.Volatile.Started)
	run.Summarize()
	in, err := Build(run, cat, BuildOptions{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./rig/report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from its golden file (go test ./rig/report -update rewrites it after review):\n%s", name, firstDiff(string(want), string(got)))
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + itoa(i+1) + ":\n  want " + w + "\n  got  " + g
		}
	}
	return ""
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func render(t *testing.T, w Writer, in *Input) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := w.Render(&b, in); err != nil {
		t.Fatalf("%s: %v", w.Name, err)
	}
	// Two renderings of the same input are identical (no map order, no clock).
	var again bytes.Buffer
	if err := w.Render(&again, in); err != nil || !bytes.Equal(b.Bytes(), again.Bytes()) {
		t.Errorf("%s: two renderings of the same input differ", w.Name)
	}
	return b.Bytes()
}

// TestGolden renders every writer on the fixed exposed, hardened and telemetry-trust runs, and
// the SARIF and delta writers against a baseline in both directions.
func TestGolden(t *testing.T) {
	for _, name := range []string{"exposed", "hardened", "trust"} {
		in := build(t, name, "")
		for _, w := range Writers() {
			golden(t, name+"/"+w.File, render(t, w, in))
		}
	}
	in := waivedFixture(t)
	if in.Counts.Waived != 2 || in.Counts.Findings != 9 || in.Headline != "Exposed posture · 9 findings, 2 accepted risks" {
		t.Errorf("waived fixture: counts %+v, headline %q", in.Counts, in.Headline)
	}
	for _, w := range Writers() {
		golden(t, "exposed-waived/"+w.File, render(t, w, in))
	}
	for _, tc := range []struct{ run, baseline string }{{"hardened", "exposed"}, {"exposed", "hardened"}, {"weakkey", "hardened"}} {
		in := build(t, tc.run, tc.baseline)
		sarif, _ := Select([]string{"sarif"})
		golden(t, tc.run+"-vs-"+tc.baseline+"/findings.sarif", render(t, sarif[0], in))
		summary, _ := Select([]string{"summary"})
		golden(t, tc.run+"-vs-"+tc.baseline+"/summary.md", render(t, summary[0], in))
		a, _, adir := fixture(t, tc.baseline)
		b, _, bdir := fixture(t, tc.run)
		d := delta.Compare(a, b, "testdata/"+tc.baseline, "testdata/"+tc.run)
		din := NewDeltaInput(d, filepath.Join("testdata", "golden", tc.run+"-vs-"+tc.baseline), adir, bdir)
		for _, w := range DeltaWriters() {
			var buf bytes.Buffer
			if err := w.Render(&buf, din); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.run+"-vs-"+tc.baseline+"/"+w.File, buf.Bytes())
		}
	}
}

func TestBuildDoesNotChangeTheRecord(t *testing.T) {
	run, cat, dir := fixture(t, "exposed")
	base, _, _ := fixture(t, "hardened")
	before, _ := json.Marshal(run)
	catBefore, _ := json.Marshal(cat)
	in, err := Build(run, cat, BuildOptions{RunDir: dir, Baseline: base, BaselinePath: "b"})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range Writers() {
		render(t, w, in)
	}
	after, _ := json.Marshal(run)
	catAfter, _ := json.Marshal(cat)
	if !bytes.Equal(before, after) || !bytes.Equal(catBefore, catAfter) {
		t.Error("building or rendering changed the record or the catalog")
	}
	// The input holds copies: changing it leaves the record alone.
	in.Controls[0].Def.References[0] = "changed"
	in.Bundles[0] = "changed"
	if after2, _ := json.Marshal(run); !bytes.Equal(before, after2) {
		t.Error("the input shares memory with the record")
	}
	if c2, _ := json.Marshal(cat); !bytes.Equal(catBefore, c2) {
		t.Error("the input shares memory with the catalog")
	}
}

func TestSelect(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    []string
		want  []string
		error bool
	}{
		{"default", nil, FormatNames(), false},
		{"all", []string{"all"}, FormatNames(), false},
		{"two, registry order", []string{"junit,summary"}, []string{"summary", "junit"}, false},
		{"repeated flag", []string{"sarif", "html"}, []string{"html", "sarif"}, false},
		{"unknown", []string{"summary,pdf"}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, err := Select(tc.in)
			if tc.error {
				if err == nil || !strings.Contains(err.Error(), `"pdf"`) {
					t.Fatalf("err = %v, want one naming the unknown format", err)
				}
				return
			}
			var got []string
			for _, w := range ws {
				got = append(got, w.Name)
			}
			if !reflect.DeepEqual(got, tc.want) || err != nil {
				t.Errorf("Select(%v) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestSARIFValidates validates the SARIF of every fixture, with and without a baseline, against
// the SARIF 2.1.0 JSON Schema, and checks what GitHub code scanning reads.
func TestSARIFValidates(t *testing.T) {
	c := jsonschema.NewCompiler()
	schema, err := c.Compile(filepath.Join("testdata", "sarif-schema-2.1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ run, baseline string }{{"exposed", ""}, {"hardened", ""}, {"hardened", "exposed"}, {"exposed", "hardened"}} {
		t.Run(tc.run+"-vs-"+tc.baseline, func(t *testing.T) {
			in := build(t, tc.run, tc.baseline)
			var b bytes.Buffer
			if err := SARIF(&b, in); err != nil {
				t.Fatal(err)
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(doc); err != nil {
				t.Fatalf("findings.sarif does not validate: %v", err)
			}
			var log sarifLog
			if err := json.Unmarshal(b.Bytes(), &log); err != nil {
				t.Fatal(err)
			}
			results := log.Runs[0].Results
			fails := 0
			for _, r := range results {
				if r.Kind == "fail" {
					fails++
					if r.Level == "none" || r.Properties["security-severity"] == nil || r.PartialFingerprints[FingerprintKey] != Fingerprint(r.RuleID) {
						t.Errorf("%s: level %q, properties %v, fingerprints %v", r.RuleID, r.Level, r.Properties, r.PartialFingerprints)
					}
				}
				if (tc.baseline != "") != (r.BaselineState != "") {
					t.Errorf("%s: baselineState %q with baseline %q", r.RuleID, r.BaselineState, tc.baseline)
				}
				if tc.baseline == "hardened" && r.BaselineState != "new" {
					t.Errorf("%s: regressed control has baselineState %q, want new", r.RuleID, r.BaselineState)
				}
				if tc.baseline == "exposed" && r.BaselineState != "absent" {
					t.Errorf("%s: fixed control has baselineState %q, want absent", r.RuleID, r.BaselineState)
				}
			}
			if fails != in.Counts.Fail {
				t.Errorf("%d fail results, want %d", fails, in.Counts.Fail)
			}
			for _, r := range log.Runs[0].Tool.Driver.Rules {
				if want := ControlsReference + "#control-" + strings.ToLower(r.ID); r.HelpURI != want {
					t.Errorf("rule %s: helpUri %q, want %q", r.ID, r.HelpURI, want)
				}
			}
			if len(log.Runs[0].Tool.Driver.Rules) != len(in.Controls) {
				t.Errorf("%d rules, want one per control (%d)", len(log.Runs[0].Tool.Driver.Rules), len(in.Controls))
			}
		})
	}
	// Accepted risks carry a SARIF suppression (kind external, status accepted, the waiver's reason
	// as justification), and the document still validates.
	t.Run("accepted-risks", func(t *testing.T) {
		in := waivedFixture(t)
		var b bytes.Buffer
		if err := SARIF(&b, in); err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.Validate(doc); err != nil {
			t.Fatalf("findings.sarif with suppressions does not validate: %v", err)
		}
		var log sarifLog
		json.Unmarshal(b.Bytes(), &log)
		suppressed := map[string]sarifSuppression{}
		for _, r := range log.Runs[0].Results {
			if len(r.Suppressions) > 0 {
				suppressed[r.RuleID] = r.Suppressions[0]
			}
		}
		for _, c := range in.Accepted() {
			sup, ok := suppressed[c.ID]
			if !ok || sup.Kind != "external" || sup.Status != "accepted" || sup.Justification != c.Waiver.Reason || sup.Properties["expires"] != c.Waiver.Expires {
				t.Errorf("%s: suppression %+v, want external/accepted with the reason %q", c.ID, sup, c.Waiver.Reason)
			}
			delete(suppressed, c.ID)
		}
		if len(suppressed) != 0 || len(in.Accepted()) != 2 {
			t.Errorf("suppressions on controls without an applied waiver: %v (accepted %d)", suppressed, len(in.Accepted()))
		}
		// A suppression the schema does not allow is refused: the check has teeth.
		bad, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"rig"}},"results":[{"message":{"text":"x"},"suppressions":[{"kind":"waived"}]}]}]}`))
		if err := schema.Validate(bad); err == nil {
			t.Error(`a suppression of kind "waived" validated`)
		}
	})
	// A document that breaks the schema is refused: the validation can fail.
	bad, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"rig"}},"results":[{"level":"loud","message":{"text":"x"}}]}]}`))
	if err := schema.Validate(bad); err == nil {
		t.Error("a result with level \"loud\" validated")
	}
}

// TestJUnitParsesBack reads junit.xml with an independent JUnit parser (the one CI report tools
// use the same rules as): one testcase per control, fail → failed with the remediation, error →
// error, skip → skipped.
func TestJUnitParsesBack(t *testing.T) {
	run, cat, dir := fixture(t, "exposed")
	// Add an error and a skip so every branch is parsed back.
	run.Results = append(run.Results,
		record.Result{Control: "CERT-LIFETIME", Check: "broker-cert", Title: "t", Status: record.StatusError, Severity: "medium", Reason: "handshake timed out"},
		record.Result{Control: "GUARD-RATE", Check: "guardrails", Title: "t", Status: record.StatusSkip, Severity: "medium", Reason: "not opted in"},
	)
	// And an accepted risk, which CI must not count as a failure.
	run.Results[1].Waiver = &record.Waiver{Reason: "legacy gateways until Q2", Expires: "2026-06-30", Source: "w.yaml:2"}
	run.Summarize()
	in, err := Build(run, cat, BuildOptions{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := JUnit(&b, in); err != nil {
		t.Fatal(err)
	}
	suites, err := junit.Ingest(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	// Times: each suite takes its check's time from volatile.checks, shared by its testcases.
	for _, s := range suites {
		span := run.Volatile.Checks[s.Name]
		var sum time.Duration
		for _, tc := range s.Tests {
			sum += tc.Duration
		}
		if span.Seconds() <= 0 || s.Totals.Duration.Seconds() < span.Seconds()-0.002 || sum.Seconds() < span.Seconds()-0.005 {
			t.Errorf("suite %s: time %s, testcases %s; want the check's %.3f s", s.Name, s.Totals.Duration, sum, span.Seconds())
		}
	}
	defs := map[string]catalog.Control{}
	for _, c := range cat {
		defs[c.ID] = c
	}
	got := map[string]junit.Test{}
	for _, s := range suites {
		for _, tc := range s.Tests {
			got[strings.SplitN(tc.Name, ":", 2)[0]] = tc
		}
	}
	if len(got) != len(run.Results) {
		t.Fatalf("%d testcases, want %d", len(got), len(run.Results))
	}
	for _, r := range run.Results {
		tc := got[r.Control]
		want := map[record.Status]junit.Status{record.StatusPass: junit.StatusPassed, record.StatusFail: junit.StatusFailed, record.StatusError: junit.StatusError, record.StatusSkip: junit.StatusSkipped}[r.Status]
		if r.Waived() {
			want = junit.StatusSkipped
		}
		if tc.Status != want {
			t.Errorf("%s: status %s, want %s", r.Control, tc.Status, want)
		}
		if r.Waived() {
			if !strings.Contains(tc.Message, r.Waiver.Reason) || !strings.Contains(tc.Message, r.Waiver.Expires) {
				t.Errorf("%s: skipped message %q lacks the waiver's reason and expiry", r.Control, tc.Message)
			}
			continue
		}
		// go-junit keeps the message attribute in Message and the element's text in Error.
		if r.Status == record.StatusFail && tc.Message != r.Reason {
			t.Errorf("%s: failure message %q, want the reason %q", r.Control, tc.Message, r.Reason)
		}
		if r.Status == record.StatusFail && (tc.Error == nil || !strings.Contains(tc.Error.Error(), defs[r.Control].Remediation)) {
			t.Errorf("%s: failure body %v lacks the remediation", r.Control, tc.Error)
		}
	}
}

// TestBacklogCSV checks the documented header and that the file reads back with one row per
// finding, in priority order.
func TestBacklogCSV(t *testing.T) {
	in := build(t, "exposed", "")
	var b bytes.Buffer
	if err := BacklogCSV(&b, in); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := []string{"Key", "Title", "Description", "Priority", "Rank", "Control", "Severity", "Hop", "Effort", "Remediation", "Verification", "Labels", "Labels", "Labels"}
	if !reflect.DeepEqual(rows[0], wantHeader) {
		t.Errorf("header = %v, want %v (the documented one: README.md)", rows[0], wantHeader)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "`"+strings.Join(wantHeader, ",")+"`") {
		t.Error("README.md does not document the backlog.csv header")
	}
	if len(rows)-1 != in.Counts.Fail {
		t.Fatalf("%d rows, want one per finding (%d)", len(rows)-1, in.Counts.Fail)
	}
	prevSev := 5
	keys := map[string]bool{}
	for i, r := range rows[1:] {
		sev := record.Severity(r[6]).Rank()
		if sev > prevSev || r[4] != itoa(i+1) || r[1] == "" || r[2] == "" {
			t.Errorf("row %d out of order or incomplete: %v", i+1, r)
		}
		prevSev = sev
		// The key depends on the control alone: a re-import of another run of the path (another
		// profile, another scenario) names the same row.
		if r[0] != "RIG-"+r[5] || keys[r[0]] {
			t.Errorf("row %d: key %q, want a unique RIG-%s", i+1, r[0], r[5])
		}
		keys[r[0]] = true
		// One label per Labels column, none with a space (Jira splits a cell on spaces).
		if labels := r[11:]; labels[0] != "rig" || labels[1] != "severity-"+r[6] || labels[2] != "hop-"+r[7] {
			t.Errorf("row %d: labels %v", i+1, labels)
		}
		switch r[3] {
		case "Highest", "High", "Medium", "Low", "Lowest":
		default:
			t.Errorf("row %d: priority %q is not a Jira default priority", i+1, r[2])
		}
	}
}

func TestHTMLIsSelfContained(t *testing.T) {
	in := build(t, "exposed", "")
	var b bytes.Buffer
	if err := HTML(&b, in); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, bad := range []string{"<script src", "<link ", "src=\"http", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("report.html loads an external asset (%q)", bad)
		}
	}
	for _, want := range []string{`<h1 id="headline">Exposed posture · 11 findings</h1>`, "<svg", "TRANSPORT-PLAINTEXT", "Decision: hold", "ETSI EN 303 645 5.5-1"} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}

func deltaCompare(a, b *record.Run) *delta.Delta {
	return delta.Compare(a, b, "testdata/exposed", "testdata/hardened")
}

// TestTrustTimeline: the timeline of a telemetry-trust run is the trust path's, drawn with its
// fault window, the frames sent (dashed) and the frames lost (red bars); the audit runs' timeline
// keeps none of those.
func TestTrustTimeline(t *testing.T) {
	for _, tc := range []struct {
		name      string
		windows   int
		sentLines bool
		lost      bool
	}{
		{"trust", 1, true, true},
		{"exposed", 0, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := build(t, tc.name, "")
			if in.Timeline == nil {
				t.Fatal("no timeline")
			}
			tl := in.Timeline
			if len(tl.Windows) != tc.windows {
				t.Errorf("%d fault windows, want %d", len(tl.Windows), tc.windows)
			}
			if got := tl.SentTotal() > 0; got != tc.sentLines {
				t.Errorf("sent %d frames, want sent counts: %v", tl.SentTotal(), tc.sentLines)
			}
			if got := tl.LostTotal() > 0; got != tc.lost {
				t.Errorf("lost %d frames, want lost counts: %v", tl.LostTotal(), tc.lost)
			}
			svg := timelineSVG(tl)
			for _, w := range tl.Windows {
				if !strings.Contains(svg, `fill-opacity="0.13"><title>`+w.Label+`</title>`) || !strings.Contains(svg, `>`+w.Label+`</text>`) {
					t.Errorf("fault window %q is not drawn and named", w.Label)
				}
			}
			if got := strings.Contains(svg, `stroke-dasharray="5 4"`); got != tc.sentLines {
				t.Errorf("dashed sent line drawn: %v, want %v", got, tc.sentLines)
			}
			if got := strings.Count(svg, ` lost</title></rect>`) > 0; got != tc.lost {
				t.Errorf("lost bars drawn: %v, want %v", got, tc.lost)
			}
		})
	}
	// The trust fixture is the telemetry-trust-exposed run: 150 of 252 frames lost to the broker
	// outage. Every lost frame falls in or after the fault window, none before it.
	tl := build(t, "trust", "").Timeline
	if tl.Source != "telemetry-trust path" || tl.SentTotal() != 252 || tl.LostTotal() != 150 || tl.Total() != 102 {
		t.Fatalf("trust timeline: source %q, sent %d, lost %d, stored %d; want the trust path, 252, 150, 102", tl.Source, tl.SentTotal(), tl.LostTotal(), tl.Total())
	}
	w := tl.Windows[0]
	for i, l := range tl.Series[0].Lost {
		if end := int64(i+1) * tl.BucketMs; l > 0 && end <= w.FromMs {
			t.Errorf("bucket %d (%d ms): %d frames lost before the fault window %+v", i, end, l, w)
		}
	}
}

// TestBacklogOverCatalog fails every control of the embedded catalog and wants each backlog row
// to carry the catalog's own hop (device, gateway, broker, ingest, or path where the fix spans
// hops) and effort (S, M, L): no control falls back to a default.
func TestBacklogOverCatalog(t *testing.T) {
	cat, err := checks.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	run := &record.Run{Schema: record.SchemaRun, Scenario: "all", Profile: "p"}
	for _, c := range cat {
		run.Checks = append(run.Checks, c.Check)
		run.Results = append(run.Results, record.Result{Control: c.ID, Check: c.Check, Title: c.Title, Status: record.StatusFail, Severity: c.Severity, Reason: "failed", Evidence: []string{}})
	}
	run.Summarize()
	in, err := Build(run, cat, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Backlog) != len(cat) {
		t.Fatalf("%d backlog rows, want one per control (%d)", len(in.Backlog), len(cat))
	}
	defs := map[string]catalog.Control{}
	for _, c := range cat {
		defs[c.ID] = c
	}
	hops := map[string]int{}
	for _, r := range in.Backlog {
		d := defs[r.Control]
		if !slices.Contains(catalog.Hops, r.Hop) || !slices.Contains(catalog.Efforts, r.Effort) {
			t.Errorf("%s: hop %q effort %q, want one of %v and %v", r.Control, r.Hop, r.Effort, catalog.Hops, catalog.Efforts)
		}
		if r.Hop != d.Hop || r.Effort != d.Effort {
			t.Errorf("%s: backlog says %s/%s, the catalog %s/%s", r.Control, r.Hop, r.Effort, d.Hop, d.Effort)
		}
		hops[r.Hop]++
	}
	// "path" is for fixes that truly span hops: most controls have one owner.
	if hops["path"]*4 > len(cat) {
		t.Errorf("%d of %d controls are owned by the whole path: %v", hops["path"], len(cat), hops)
	}
}
