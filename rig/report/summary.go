package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/pathrig/rig/rig/record"
)

// summaryBacklogRows is how many backlog rows the leadership summary shows; backlog.csv has all.
const summaryBacklogRows = 5

// SummaryMarkdown writes the leadership summary: headline, decision and why, what is exposed,
// what is solid, what could not be evaluated, the baseline comparison and the top backlog rows.
func SummaryMarkdown(w io.Writer, in *Input) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", in.Headline)
	fmt.Fprintf(&b, "Scenario `%s`", in.Scenario)
	if in.Scope != nil {
		fmt.Fprintf(&b, " · path **%s**", strings.Join(in.Scope.Paths, ", "))
	}
	fmt.Fprintf(&b, " · profile `%s` · checks %s", in.Profile, strings.Join(in.Checks, ", "))
	if in.Device != nil {
		fmt.Fprintf(&b, " · device `%s` firmware %s", in.Device.UID, in.Device.Firmware)
	}
	c := in.Counts
	accepted := ""
	if c.Waived > 0 {
		accepted = fmt.Sprintf(" (%d accepted %s)", c.Waived, plural(c.Waived, "risk", "risks"))
	}
	fmt.Fprintf(&b, "\n\n%d controls: %d pass, %d fail%s, %d error, %d skip.\n\n", len(in.Controls), c.Pass, c.Fail, accepted, c.Error, c.Skip)
	writeScope(&b, in)

	fmt.Fprintf(&b, "## Decision: %s\n\n%s.\n\n", in.Decision.Verdict, upperFirst(in.Decision.Why))
	if by := decidedBy(in.Decision); by != "" {
		fmt.Fprintf(&b, "%s\n\n", by)
	}

	b.WriteString("## What is exposed\n\n")
	findings := in.Findings()
	switch {
	case len(findings) == 0 && c.Waived > 0:
		b.WriteString("Nothing open: every failure is an accepted risk (below).\n\n")
	case len(findings) == 0:
		b.WriteString("Nothing: no control failed.\n\n")
	default:
		b.WriteString("| Severity | Control | Finding | Evidence |\n|---|---|---|---|\n")
		for _, f := range findings {
			fmt.Fprintf(&b, "| %s | %s | %s: %s | %s |\n", f.Severity, f.ID, cell(f.Title), cell(f.Reason), evidenceLinks(evidencePaths(f.Evidence)))
		}
		b.WriteString("\n")
	}

	writeAcceptedRisks(&b, in)

	b.WriteString("## What is solid\n\n")
	solid := in.ByStatus(record.StatusPass)
	for _, s := range solid {
		fmt.Fprintf(&b, "- **%s** %s — %s\n", s.ID, s.Title, s.Reason)
	}
	if len(solid) == 0 {
		b.WriteString("Nothing verified yet.\n")
	}
	b.WriteString("\n")

	if unk := in.ByStatus(record.StatusError, record.StatusSkip); len(unk) > 0 {
		b.WriteString("## Not evaluated\n\n")
		for _, u := range unk {
			fmt.Fprintf(&b, "- **%s** (%s) %s — %s\n", u.ID, u.Status, u.Title, u.Reason)
		}
		b.WriteString("\n")
	}

	if in.Baseline != nil {
		s := in.Baseline.Summary
		fmt.Fprintf(&b, "## Against the baseline\n\nBaseline `%s`: %s. %s (%d unchanged, %d new, %d removed); the rows are in `delta/delta.md`.\n\n",
			in.Baseline.Path, in.Baseline.Headline, s.Headline, s.Unchanged, s.New, s.Removed)
	}

	if len(in.Backlog) > 0 {
		fmt.Fprintf(&b, "## Backlog (top %d of %d, all in backlog.csv)\n\n| # | Priority | Control | Hop | Effort | Remediation | How the rerun verifies it |\n|---|---|---|---|---|---|---|\n",
			min(summaryBacklogRows, len(in.Backlog)), len(in.Backlog))
		for i, r := range in.Backlog {
			if i == summaryBacklogRows {
				break
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s |\n", r.Rank, r.Priority, r.Control, r.Hop, r.Effort, cell(r.Remediation), cell(r.Verification))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// decidedBy says which rule made the decision, for the reader who wants to check or change it.
func decidedBy(d Decision) string {
	switch {
	case d.Rule != "" && d.Matched != "":
		return fmt.Sprintf("Decided by rule `%s` (%s), which %s matches.", d.Rule, d.Source, d.Matched)
	case d.Rule != "":
		return fmt.Sprintf("Decided by rule `%s` (%s).", d.Rule, d.Source)
	case d.Verdict != "":
		return "No decision rule matched a result of this run."
	}
	return ""
}

// writeAcceptedRisks writes the accepted risks (failures with a waiver) and what became of the
// other waivers: expired ones (their controls count as findings again), waivers no longer
// needed (their controls pass) and those that did not apply.
func writeAcceptedRisks(b *strings.Builder, in *Input) {
	acc := in.Accepted()
	notes := in.WaiverNotes(record.WaiverExpired, record.WaiverNotNeeded, record.WaiverNotApplicable)
	if len(acc) == 0 && len(notes) == 0 {
		return
	}
	b.WriteString("## Accepted risks\n\n")
	if len(acc) == 0 {
		b.WriteString("None: no waiver applies to a failure of this run.\n\n")
	} else {
		b.WriteString("Failures whose risk is accepted until the date shown: they stay `fail` in run.json and count in `summary.waived`, not as findings.\n\n")
		b.WriteString("| Control | Severity | Reason | Owner | Expires | Target | Waiver |\n|---|---|---|---|---|---|---|\n")
		for _, c := range acc {
			w := c.Waiver
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", c.ID, c.Severity, cell(w.Reason), orDash(cell(w.Owner)), w.Expires, orDash(cell(w.Target)), cell(w.Source))
		}
		b.WriteString("\n")
	}
	for _, n := range notes {
		label := map[string]string{record.WaiverExpired: "Expired", record.WaiverNotNeeded: "No longer needed", record.WaiverNotApplicable: "Not applied"}[n.State]
		fmt.Fprintf(b, "- **%s:** %s — %s (%s)\n", label, n.Control, n.Note, n.Source)
	}
	if len(notes) > 0 {
		b.WriteString("\n")
	}
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// writeScope names the paths a path run selected and lists what it left out, by check, with the
// paths that cover it: a reader knows what was not audited and which bundle would audit it.
func writeScope(b *strings.Builder, in *Input) {
	sc := in.Scope
	if sc == nil {
		return
	}
	fmt.Fprintf(b, "## Scope: the %s %s\n\n", strings.Join(sc.Paths, " and "), plural(len(sc.Paths), "path", "paths"))
	if len(sc.OutOfScope) == 0 {
		b.WriteString("Every control of the catalog belongs to this run: nothing is out of scope.\n\n")
		return
	}
	n := 0
	for _, g := range sc.OutOfScope {
		n += len(g.Controls)
	}
	fmt.Fprintf(b, "The run evaluates the %d controls of the selected %s. Out of scope, not run (%d controls):\n\n| Check | Controls | Path that runs them |\n|---|---|---|\n",
		len(in.Controls), plural(len(sc.Paths), "path", "paths"), n)
	for _, g := range sc.OutOfScope {
		by := "—"
		if len(g.Paths) > 0 {
			var names []string
			for _, p := range g.Paths {
				names = append(names, "`path-"+p+"`")
			}
			by = strings.Join(names, ", ")
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", g.Check, strings.Join(g.Controls, ", "), by)
	}
	b.WriteString("\n")
}
