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
		paths    []string // the run's scope: a run of path bundles
	}{
		{"findings", []Result{r("A", StatusFail), r("B", StatusFail), r("C", StatusPass)}, 2, "Exposed posture · 2 findings", nil},
		{"one finding", []Result{r("A", StatusFail), r("B", StatusError)}, 1, "Exposed posture · 1 finding", nil},
		{"clean", []Result{r("A", StatusPass)}, 0, "Hardened path · 0 findings", nil},
		{"clean with a skip", []Result{r("A", StatusPass), r("B", StatusSkip)}, 0, "Hardened path · 0 findings, 1 control skipped", nil},
		{"errors are not clean", []Result{r("A", StatusPass), r("B", StatusError)}, 0, "Incomplete audit · 0 findings, 1 control could not be evaluated", nil},
		{"all skipped", []Result{r("A", StatusSkip)}, 0, "Nothing verified · 0 findings, every control skipped", nil},
		{"a finding and an accepted risk", []Result{r("A", StatusFail), w("B"), r("C", StatusPass)}, 1, "Exposed posture · 1 finding, 1 accepted risk", nil},
		{"only accepted risks", []Result{w("A"), w("B"), r("C", StatusPass), r("D", StatusSkip)}, 0, "Risks accepted · 0 findings, 1 control skipped, 2 accepted risks", nil},
		{"an accepted risk and an error", []Result{w("A"), r("B", StatusError)}, 0, "Incomplete audit · 0 findings, 1 control could not be evaluated, 1 accepted risk", nil},
		{"a waiver on a pass is no accepted risk", []Result{{Control: "A", Check: "k", Status: StatusPass, Waiver: &Waiver{Reason: "x"}}}, 0, "Hardened path · 0 findings", nil},
		{"a clean path bundle vouches for its path only", []Result{r("A", StatusPass)}, 0, "Hardened mqtt path · 0 findings", []string{"mqtt"}},
		{"two clean path bundles", []Result{r("A", StatusPass), r("B", StatusSkip)}, 0, "Hardened mqtt and identity paths · 0 findings, 1 control skipped", []string{"mqtt", "identity"}},
		{"a path bundle with a finding", []Result{r("A", StatusFail)}, 1, "Exposed posture · 1 finding", []string{"mqtt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := &Run{Results: tc.results}
			if tc.paths != nil {
				run.Scope = &Scope{Paths: tc.paths}
			}
			run.Summarize()
			if run.Summary.Findings != tc.findings || run.Summary.Headline != tc.headline || run.Summary.Findings+run.Summary.Waived != run.Summary.Fail {
				t.Errorf("summary = %+v, want findings %d and headline %q", run.Summary, tc.findings, tc.headline)
			}
		})
	}
}
