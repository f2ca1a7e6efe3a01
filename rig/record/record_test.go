package record

import "testing"

func TestSummarize(t *testing.T) {
	r := func(c string, s Status) Result { return Result{Control: c, Check: "k", Status: s} }
	w := func(c string) Result {
		return Result{Control: c, Check: "k", Status: StatusFail, Waiver: &Waiver{Reason: "accepted", Expires: "2099-01-01"}}
	}
	for _, tc := range []struct {
		name     string
		results  []Result
		findings int
		headline string
	}{
		{"findings", []Result{r("A", StatusFail), r("B", StatusFail), r("C", StatusPass)}, 2, "Exposed posture · 2 findings"},
		{"one finding", []Result{r("A", StatusFail), r("B", StatusError)}, 1, "Exposed posture · 1 finding"},
		{"clean", []Result{r("A", StatusPass)}, 0, "Hardened path · 0 findings"},
		{"clean with a skip", []Result{r("A", StatusPass), r("B", StatusSkip)}, 0, "Hardened path · 0 findings, 1 control skipped"},
		{"errors are not clean", []Result{r("A", StatusPass), r("B", StatusError)}, 0, "Incomplete audit · 0 findings, 1 control could not be evaluated"},
		{"all skipped", []Result{r("A", StatusSkip)}, 0, "Nothing verified · 0 findings, every control skipped"},
		{"a finding and an accepted risk", []Result{r("A", StatusFail), w("B"), r("C", StatusPass)}, 1, "Exposed posture · 1 finding, 1 accepted risk"},
		{"only accepted risks", []Result{w("A"), w("B"), r("C", StatusPass), r("D", StatusSkip)}, 0, "Risks accepted · 0 findings, 1 control skipped, 2 accepted risks"},
		{"an accepted risk and an error", []Result{w("A"), r("B", StatusError)}, 0, "Incomplete audit · 0 findings, 1 control could not be evaluated, 1 accepted risk"},
		{"a waiver on a pass is no accepted risk", []Result{{Control: "A", Check: "k", Status: StatusPass, Waiver: &Waiver{Reason: "x"}}}, 0, "Hardened path · 0 findings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := &Run{Results: tc.results}
			run.Summarize()
			if run.Summary.Findings != tc.findings || run.Summary.Headline != tc.headline || run.Summary.Findings+run.Summary.Waived != run.Summary.Fail {
				t.Errorf("summary = %+v, want findings %d and headline %q", run.Summary, tc.findings, tc.headline)
			}
		})
	}
}
