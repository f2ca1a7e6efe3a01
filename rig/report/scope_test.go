package report

import (
	"slices"
	"strings"
	"testing"

	"github.com/pathrig/rig/rig/record"
)

// TestScopeRendering: a run of a path bundle names its path in summary.md (golden) and
// report.html, and lists what was out of scope with the paths that run it; a run without a path
// bundle says nothing about scope.
func TestScopeRendering(t *testing.T) {
	run, cat, dir := fixture(t, "exposed")
	run.Scope = &record.Scope{Paths: []string{"mqtt"}, OutOfScope: []record.OutOfScope{
		{Check: "ingest-auth", Controls: []string{"INGEST-UNAUTH", "INGEST-WRONGCRED"}, Paths: []string{"ingest"}},
		{Check: "guardrails", Controls: []string{"GUARD-HEALTH"}, Paths: []string{"gateway", "observability"}},
	}}
	// The path's run: the out-of-scope controls have no result.
	run.Results = slices.DeleteFunc(run.Results, func(r record.Result) bool { return r.Check == "ingest-auth" || r.Control == "GUARD-HEALTH" })
	run.Checks = slices.DeleteFunc(run.Checks, func(c string) bool { return c == "ingest-auth" })
	run.Bundles = []string{"path-mqtt"}
	run.Summarize()
	in, err := Build(run, cat, BuildOptions{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	in.Scope.OutOfScope[0].Controls[0] = "edited"
	if run.Scope.OutOfScope[0].Controls[0] != "INGEST-UNAUTH" {
		t.Fatal("Build shares the record's scope")
	}
	in.Scope.OutOfScope[0].Controls[0] = "INGEST-UNAUTH"
	golden(t, "exposed-path/summary.md", render(t, summaryWriter(t), in))
	html := string(render(t, htmlWriter(t), in))
	for _, want := range []string{
		`<p id="scope">Path <strong>mqtt</strong>. Out of scope, not run: <code>ingest-auth</code> (INGEST-UNAUTH, INGEST-WRONGCRED: path ingest); <code>guardrails</code> (GUARD-HEALTH: path gateway, observability).</p>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %s", want)
		}
	}
	plain := build(t, "exposed", "")
	if s := string(render(t, summaryWriter(t), plain)); strings.Contains(s, "## Scope") || strings.Contains(s, "path **") {
		t.Error("a run without a path bundle renders a scope")
	}
}

func summaryWriter(t *testing.T) Writer { return writerNamed(t, "summary") }
func htmlWriter(t *testing.T) Writer    { return writerNamed(t, "html") }

func writerNamed(t *testing.T, name string) Writer {
	t.Helper()
	for _, w := range Writers() {
		if w.Name == name {
			return w
		}
	}
	t.Fatalf("no writer %s", name)
	return Writer{}
}
