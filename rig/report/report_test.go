package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/record"
)

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

func TestSummaryOrdersFindingsBySeverity(t *testing.T) {
	r := &record.Run{Scenario: "s", Profile: "p", Results: []record.Result{
		{Control: "LOW-ONE", Status: record.StatusFail, Severity: record.SeverityLow, Reason: "a|b"},
		{Control: "HIGH-ONE", Status: record.StatusFail, Severity: record.SeverityHigh},
		{Control: "OK-ONE", Status: record.StatusPass},
	}}
	r.Summarize()
	var b bytes.Buffer
	lookup := func(id string) (checks.Control, bool) { return checks.Control{Remediation: "fix " + id}, true }
	if err := Summary(&b, r, lookup); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Index(out, "HIGH-ONE") > strings.Index(out, "LOW-ONE") {
		t.Error("the high finding is not listed before the low one")
	}
	for _, want := range []string{"# Exposed posture · 2 findings", "## Decision: focused sprint", "fix HIGH-ONE", `a\|b`, "**OK-ONE**"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}
