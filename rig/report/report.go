// Package report renders run and delta records for people: the leadership summary (summary.md)
// and the delta (delta.md). Writers read records; they never change them.
package report

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/delta"
	"github.com/pathrig/rig/rig/record"
)

// Lookup returns the catalog definition of a control.
type Lookup func(id string) (checks.Control, bool)

// Decision is the recommendation of a leadership summary.
type Decision struct {
	Verdict string // ship | fix internally | focused sprint | hold
	Why     string
}

// Decide recommends what to do with a run's findings: any critical finding → hold; any high →
// focused sprint; only medium/low → fix internally; no findings and nothing unevaluated → ship.
func Decide(r *record.Run) Decision {
	worst := -1
	for _, res := range r.Results {
		if res.Status == record.StatusFail && res.Severity.Rank() > worst {
			worst = res.Severity.Rank()
		}
	}
	switch {
	case worst >= record.SeverityCritical.Rank():
		return Decision{"hold", "a critical finding leaves the path open to compromise; do not ship until it is fixed and rerun"}
	case worst >= record.SeverityHigh.Rank():
		return Decision{"focused sprint", "high-severity findings need a planned hardening sprint before delivery, then a rerun against this baseline"}
	case r.Summary.Error > 0:
		return Decision{"hold", "some controls could not be evaluated; an unverified control is not a pass - fix the run and rerun"}
	case worst >= 0:
		return Decision{"fix internally", "only medium or low findings: the owning team can fix them in normal work and rerun"}
	case r.Summary.Pass == 0:
		return Decision{"hold", "no control was evaluated: name the path's targets in the scenario and rerun"}
	case r.Summary.Skip > 0:
		return Decision{"ship", fmt.Sprintf("every evaluated control passed on the live path; %d skipped %s not covered - name their targets to cover them", r.Summary.Skip, plural(r.Summary.Skip, "control is", "controls are"))}
	}
	return Decision{"ship", "every control passed on the live path"}
}

// Findings returns the failed results, most severe first, then by control ID.
func Findings(r *record.Run) []record.Result {
	var out []record.Result
	for _, res := range r.Results {
		if res.Status == record.StatusFail {
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

// Summary writes the leadership summary of a run as Markdown.
func Summary(w io.Writer, r *record.Run, lookup Lookup) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", r.Summary.Headline)
	fmt.Fprintf(&b, "Scenario `%s` · profile `%s` · checks %s", r.Scenario, r.Profile, strings.Join(r.Checks, ", "))
	if r.Device != nil {
		fmt.Fprintf(&b, " · device `%s` firmware %s", r.Device.UID, r.Device.Firmware)
	}
	fmt.Fprintf(&b, "\n\n%d controls: %d pass, %d fail, %d error, %d skip.\n\n", len(r.Results), r.Summary.Pass, r.Summary.Fail, r.Summary.Error, r.Summary.Skip)

	d := Decide(r)
	fmt.Fprintf(&b, "## Decision: %s\n\n%s.\n\n", d.Verdict, upperFirst(d.Why))

	b.WriteString("## What is exposed\n\n")
	findings := Findings(r)
	if len(findings) == 0 {
		b.WriteString("Nothing: no control failed.\n\n")
	} else {
		b.WriteString("| Severity | Control | Finding | Evidence |\n|---|---|---|---|\n")
		for _, f := range findings {
			fmt.Fprintf(&b, "| %s | %s | %s: %s | %s |\n", f.Severity, f.Control, cell(f.Title), cell(f.Reason), evidenceLinks(f.Evidence))
		}
		b.WriteString("\n")
	}

	b.WriteString("## What is solid\n\n")
	solid := 0
	for _, res := range r.Results {
		if res.Status == record.StatusPass {
			fmt.Fprintf(&b, "- **%s** %s — %s\n", res.Control, res.Title, res.Reason)
			solid++
		}
	}
	if solid == 0 {
		b.WriteString("Nothing verified yet.\n")
	}
	b.WriteString("\n")

	var unk []record.Result
	for _, res := range r.Results {
		if res.Status == record.StatusError || res.Status == record.StatusSkip {
			unk = append(unk, res)
		}
	}
	if len(unk) > 0 {
		b.WriteString("## Not evaluated\n\n")
		for _, res := range unk {
			fmt.Fprintf(&b, "- **%s** (%s) %s — %s\n", res.Control, res.Status, res.Title, res.Reason)
		}
		b.WriteString("\n")
	}

	if len(findings) > 0 {
		b.WriteString("## Backlog (top items)\n\n| # | Severity | Control | Remediation | How the rerun verifies it |\n|---|---|---|---|---|\n")
		for i, f := range findings {
			if i == 10 {
				break
			}
			rem, ver := "", ""
			if c, ok := lookup(f.Control); ok {
				rem, ver = c.Remediation, c.Verification
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", i+1, f.Severity, f.Control, cell(rem), cell(ver))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Delta writes a delta as Markdown.
func Delta(w io.Writer, d *delta.Delta) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", d.Summary.Headline)
	fmt.Fprintf(&b, "Baseline `%s` (%s, profile `%s`): %s  \n", d.Baseline.Path, d.Baseline.Scenario, d.Baseline.Profile, d.Baseline.Headline)
	fmt.Fprintf(&b, "Rerun `%s` (%s, profile `%s`): %s\n\n", d.Rerun.Path, d.Rerun.Scenario, d.Rerun.Profile, d.Rerun.Headline)
	s := d.Summary
	fmt.Fprintf(&b, "%d improved · %d regressed · %d unchanged · %d new · %d removed\n\n", s.Improved, s.Regressed, s.Unchanged, s.New, s.Removed)
	b.WriteString("| Change | Control | Title | Before | After |\n|---|---|---|---|---|\n")
	for _, r := range d.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.Class, r.Control, cell(r.Title), sideCell(r.Before), sideCell(r.After))
	}
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
