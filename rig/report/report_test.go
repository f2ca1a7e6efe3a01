package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	junit "github.com/joshdk/go-junit"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/delta"
	"github.com/pathrig/rig/rig/record"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

func TestDecide(t *testing.T) {
	fail := func(s record.Severity) record.Result {
		return record.Result{Control: "X", Status: record.StatusFail, Severity: s}
	}
	for _, tc := range []struct {
		name    string
		results []record.Result
		want    string
	}{
		{"critical", []record.Result{fail(record.SeverityMedium), fail(record.SeverityCritical)}, "hold"},
		{"high", []record.Result{fail(record.SeverityHigh), fail(record.SeverityLow)}, "focused sprint"},
		{"medium", []record.Result{fail(record.SeverityMedium)}, "fix internally"},
		{"unevaluated", []record.Result{{Control: "Y", Status: record.StatusError}}, "hold"},
		{"clean", []record.Result{{Control: "Y", Status: record.StatusPass}}, "ship"},
		{"low finding and an error", []record.Result{fail(record.SeverityLow), {Control: "Y", Status: record.StatusError}}, "hold"},
		{"everything skipped", []record.Result{{Control: "Y", Status: record.StatusSkip}}, "hold"},
		{"clean with a skip", []record.Result{{Control: "Y", Status: record.StatusPass}, {Control: "Z", Status: record.StatusSkip}}, "ship"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &record.Run{Results: tc.results}
			r.Summarize()
			if got := Decide(r).Verdict; got != tc.want {
				t.Errorf("Decide = %q, want %q", got, tc.want)
			}
		})
	}
}

// fixture loads a fixed run folder and the catalog it was made with (testdata, so that catalog
// edits do not churn the golden files).
func fixture(t *testing.T, name string) (*record.Run, []checks.Control, string) {
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
	var cat []checks.Control
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
			if len(log.Runs[0].Tool.Driver.Rules) != len(in.Controls) {
				t.Errorf("%d rules, want one per control (%d)", len(log.Runs[0].Tool.Driver.Rules), len(in.Controls))
			}
		})
	}
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
	defs := map[string]checks.Control{}
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
		if tc.Status != want {
			t.Errorf("%s: status %s, want %s", r.Control, tc.Status, want)
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
	wantHeader := []string{"Title", "Description", "Priority", "Rank", "Control", "Severity", "Hop", "Effort", "Remediation", "Verification", "Labels"}
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
	for i, r := range rows[1:] {
		sev := record.Severity(r[5]).Rank()
		if sev > prevSev || r[3] != itoa(i+1) || r[0] == "" || r[1] == "" {
			t.Errorf("row %d out of order or incomplete: %v", i+1, r)
		}
		prevSev = sev
		switch r[2] {
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
	for _, want := range []string{`<h1 id="headline">Exposed posture · 11 findings</h1>`, "<svg", "TRANSPORT-PLAINTEXT", "Decision: focused sprint", "ETSI EN 303 645 5.5-1"} {
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
