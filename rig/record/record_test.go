package record

import "testing"

func TestSummarize(t *testing.T) {
	r := func(c string, s Status) Result { return Result{Control: c, Check: "k", Status: s} }
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := &Run{Results: tc.results}
			run.Summarize()
			if run.Summary.Findings != tc.findings || run.Summary.Headline != tc.headline {
				t.Errorf("summary = %+v, want findings %d and headline %q", run.Summary, tc.findings, tc.headline)
			}
		})
	}
}
