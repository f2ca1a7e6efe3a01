// Package report renders run and delta records for people and for the tools they live in: the
// leadership summary, a self-contained HTML report, SARIF for code scanning, JUnit for CI test
// reports, a backlog CSV for issue trackers, and the delta in JSON, Markdown and HTML. Writers
// are chosen by name from a registry and read a rendering input (Input, DeltaInput) built from
// the record and the catalog; they never change the record.
package report

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/pathrig/rig/rig/delta"
	"github.com/pathrig/rig/rig/record"
)

// Findings returns the failed results without an accepted risk, most severe first, then by
// control ID.
func Findings(r *record.Run) []record.Result {
	var out []record.Result
	for _, res := range r.Results {
		if res.Status == record.StatusFail && !res.Waived() {
			out = append(out, res)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if a, b := out[i].Severity.Rank(), out[j].Severity.Rank(); a != b {
			return a > b
		}
		return out[i].Control < out[j].Control
	})
	return out
}

// Delta writes a delta as Markdown.
func Delta(w io.Writer, d *delta.Delta) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", d.Summary.Headline)
	fmt.Fprintf(&b, "Baseline `%s` (%s, profile `%s`): %s  \n", d.Baseline.Path, d.Baseline.Scenario, d.Baseline.Profile, d.Baseline.Headline)
	fmt.Fprintf(&b, "Rerun `%s` (%s, profile `%s`): %s\n\n", d.Rerun.Path, d.Rerun.Scenario, d.Rerun.Profile, d.Rerun.Headline)
	s := d.Summary
	drifted := ""
	if s.Drifted > 0 {
		drifted = fmt.Sprintf(" (%d drifted)", s.Drifted)
	}
	fmt.Fprintf(&b, "%d improved · %d regressed · %d unchanged%s · %d new · %d removed\n\n", s.Improved, s.Regressed, s.Unchanged, drifted, s.New, s.Removed)
	b.WriteString("| Change | Control | Title | Before | After |\n|---|---|---|---|---|\n")
	for _, r := range d.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", classCell(r), r.Control, cell(r.Title), sideCell(r.Before), sideCell(r.After))
	}
	driftMarkdown(&b, d)
	_, err := io.WriteString(w, b.String())
	return err
}

func sideCell(s *delta.Side) string {
	if s == nil {
		return "—"
	}
	out := string(s.Status)
	if s.Status == record.StatusFail {
		out += " (" + string(s.Severity) + ")"
	}
	if s.Reason != "" {
		out += ": " + cell(s.Reason)
	}
	return out
}

func evidenceLinks(ev []string) string {
	if len(ev) == 0 {
		return "—"
	}
	var parts []string
	for _, e := range ev {
		parts = append(parts, fmt.Sprintf("[%s](%s)", e[strings.LastIndex(e, "/")+1:], e))
	}
	return strings.Join(parts, ", ")
}

// cell makes text safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
