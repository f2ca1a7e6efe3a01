package report

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/pathrig/rig/rig/checks/catalog"
	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/scenarios"
)

// Decision is the recommendation of a leadership summary and the rule that made it.
type Decision = record.Decision

// DefaultRules returns the default decision rules (scenarios/decisions/default.yaml, embedded).
var DefaultRules = sync.OnceValues(func() ([]scenario.DecisionRule, error) {
	return scenario.Library{Embedded: scenarios.FS}.DefaultDecision()
})

// Decide recommends what to do with a run: the first of rules that a result matches decides
// (a failure, unless the rule asks for errors; an accepted risk matches nothing). With no rule
// matching, a run with a failure or an error is held (no rule covers it), a run that evaluated
// nothing is held, and a run whose evaluated controls all passed ships. controls (the catalog) give each
// control's hop for the rules' hops.
func Decide(r *record.Run, controls []catalog.Control, rules []scenario.DecisionRule) Decision {
	hops := map[string]string{}
	for _, c := range controls {
		hops[c.ID] = c.Hop
	}
	for _, rule := range rules {
		if res, ok := firstMatch(r, rule.Match, hops); ok {
			return Decision{Verdict: rule.Decision, Why: rule.Why, Rule: rule.ID, Source: rule.Source, Matched: res.Control}
		}
	}
	var open []string
	for _, res := range r.Results {
		if (res.Status == record.StatusFail && !res.Waived()) || res.Status == record.StatusError {
			open = append(open, res.Control)
		}
	}
	switch {
	case len(open) > 0:
		return Decision{Verdict: "hold", Why: fmt.Sprintf("no decision rule covers %s (%s): add a rule for it, or fix and rerun", plural(len(open), "this result", "these results"), joinIDs(open)), Matched: open[0]}
	case r.Summary.Pass == 0 && r.Summary.Waived == 0:
		return Decision{Verdict: "hold", Why: "no control was evaluated: name the path's targets in the scenario and rerun"}
	case r.Summary.Waived > 0:
		return Decision{Verdict: "ship", Why: fmt.Sprintf("every evaluated control passed or is an accepted risk (%d, each until its expiry date); revisit them before they expire", r.Summary.Waived)}
	case r.Summary.Skip > 0:
		return Decision{Verdict: "ship", Why: fmt.Sprintf("every evaluated control passed on the live path; %d skipped %s not covered - name their targets to cover them", r.Summary.Skip, plural(r.Summary.Skip, "control is", "controls are"))}
	}
	return Decision{Verdict: "ship", Why: "every control passed on the live path"}
}

// firstMatch returns the first result (in run order) that m matches.
func firstMatch(r *record.Run, m scenario.DecisionMatch, hops map[string]string) (record.Result, bool) {
	statuses := m.Status
	if len(statuses) == 0 {
		statuses = []string{string(record.StatusFail)}
	}
	for _, res := range r.Results {
		switch {
		case res.Waived(),
			!slices.Contains(statuses, string(res.Status)),
			len(m.Severity) > 0 && (res.Status != record.StatusFail || !slices.Contains(m.Severity, string(res.Severity))),
			len(m.Controls) > 0 && !slices.Contains(m.Controls, res.Control),
			len(m.Checks) > 0 && !slices.Contains(m.Checks, res.Check),
			len(m.Hops) > 0 && !slices.Contains(m.Hops, hops[res.Control]):
			continue
		}
		return res, true
	}
	return record.Result{}, false
}

func joinIDs(ids []string) string {
	if len(ids) > 5 {
		return fmt.Sprintf("%s and %d more", strings.Join(ids[:5], ", "), len(ids)-5)
	}
	return strings.Join(ids, ", ")
}
