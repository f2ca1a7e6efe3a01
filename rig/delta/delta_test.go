package delta

import (
	"testing"

	"github.com/pathrig/rig/rig/record"
)

func TestClassify(t *testing.T) {
	const (
		P = record.StatusPass
		F = record.StatusFail
		E = record.StatusError
		S = record.StatusSkip
	)
	for _, tc := range []struct {
		name          string
		before, after record.Status
		want          Class
	}{
		{"fail fixed", F, P, Improved},
		{"error now verified", E, P, Improved},
		{"pass broken", P, F, Regressed},
		{"pass unverifiable", P, E, Regressed},
		{"pass no longer checked", P, S, Regressed},
		{"still pass", P, P, Unchanged},
		{"still fail", F, F, Unchanged},
		{"fail now error", F, E, Unchanged},
		{"error now fail", E, F, Unchanged},
		{"skip now pass", S, P, Unchanged},
		{"skip now fail", S, F, Unchanged},
		{"fail now skip", F, S, Unchanged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.before, tc.after); got != tc.want {
				t.Errorf("Classify(%s, %s) = %s, want %s", tc.before, tc.after, got, tc.want)
			}
		})
	}
}

func res(control string, s record.Status) record.Result {
	return record.Result{Control: control, Check: "c", Status: s, Severity: record.SeverityHigh, Evidence: []string{"evidence/" + control + "/x"}}
}

func TestCompare(t *testing.T) {
	a := &record.Run{Results: []record.Result{
		res("A", record.StatusFail), res("B", record.StatusFail), res("C", record.StatusPass),
		res("D", record.StatusPass), res("GONE", record.StatusFail),
	}}
	b := &record.Run{Results: []record.Result{
		res("A", record.StatusPass), res("B", record.StatusPass), res("C", record.StatusFail),
		res("D", record.StatusPass), res("NEW", record.StatusPass),
	}}
	a.Summarize()
	b.Summarize()
	d := Compare(a, b, "a", "b")
	want := Summary{Improved: 2, Regressed: 1, Unchanged: 1, New: 1, Removed: 1, Headline: "2 controls improved · 1 regression"}
	if d.Summary != want {
		t.Errorf("summary = %+v, want %+v", d.Summary, want)
	}
	if d.Rows[0].Control != "C" || d.Rows[0].Class != Regressed {
		t.Errorf("first row = %+v, want the regression C first", d.Rows[0])
	}
	for _, r := range d.Rows {
		if r.Control == "A" && (r.Before == nil || r.After == nil || r.Before.Evidence[0] != "evidence/A/x") {
			t.Errorf("row A lacks both sides' evidence: %+v", r)
		}
		if r.Control == "GONE" && (r.Class != Removed || r.After != nil) {
			t.Errorf("row GONE = %+v", r)
		}
	}
}
