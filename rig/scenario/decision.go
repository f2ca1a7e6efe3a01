package scenario

import (
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
)

// Decisions of a leadership summary, from the most to the least cautious.
var Decisions = []string{"hold", "focused sprint", "fix internally", "ship"}

// DecisionRule is one rule of the leadership decision: when a result of the run matches, the
// decision is Decision. Rules are tried in order and the first that matches decides: a
// scenario's own rules (its decision: key) first, then the defaults (DefaultDecisionFile).
type DecisionRule struct {
	ID       string        `yaml:"id"`       // names the rule in summary.md
	Decision string        `yaml:"decision"` // one of Decisions
	Why      string        `yaml:"why"`      // the sentence summary.md gives as the reason
	Match    DecisionMatch `yaml:"match"`

	Source string `yaml:"-"` // FILE:LINE of the rule
}

// DecisionMatch says which results a rule matches: every key given must hold (and), any value of
// a list may (or). No key at all matches any failed result.
type DecisionMatch struct {
	Status   []string `yaml:"status"`   // fail (the default) or error
	Severity []string `yaml:"severity"` // of a failure: critical, high, medium, low, info
	Controls []string `yaml:"controls"` // control IDs
	Checks   []string `yaml:"checks"`   // check IDs
	Hops     []string `yaml:"hops"`     // the catalog's hop of the control
}

// DefaultDecisionFile holds the default rules in the embedded tree (scenarios/decisions/).
const DefaultDecisionFile = "decisions/default.yaml"

type decisionFile struct {
	Rules []DecisionRule `yaml:"rules"`
}

var ruleID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// DefaultDecision reads and validates the default decision rules of the embedded tree.
func (l Library) DefaultDecision() ([]DecisionRule, error) {
	if l.Embedded == nil {
		return nil, fmt.Errorf("%w: no embedded tree to read %s from", ErrInvalid, DefaultDecisionFile)
	}
	data, err := fs.ReadFile(l.Embedded, DefaultDecisionFile)
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %v", ErrInvalid, DefaultDecisionFile, err)
	}
	return l.ParseDecision("embedded:"+DefaultDecisionFile, data)
}

// ParseDecision decodes and validates a decision file (a top-level rules: list).
func (l Library) ParseDecision(name string, data []byte) ([]DecisionRule, error) {
	var f decisionFile
	d, err := decode(name, data, &f)
	if err != nil {
		return nil, err
	}
	if len(f.Rules) == 0 {
		return nil, d.at("rules", "missing or empty: list the decision rules")
	}
	if err := l.validateRules(d, "rules", f.Rules); err != nil {
		return nil, err
	}
	return f.Rules, nil
}

// validateRules checks a rule list at the YAML path field of d, and records each rule's source.
func (l Library) validateRules(d *doc, field string, rules []DecisionRule) error {
	seen := map[string]string{}
	for i := range rules {
		r := &rules[i]
		entry := fmt.Sprintf("%s[%d]", field, i)
		line := d.line(entry)
		r.Source = fmt.Sprintf("%s:%d", d.name, line)
		missing := func(f, msg string) error {
			return &FileError{File: d.name, Line: line, Field: entry + "." + f, Msg: "missing: " + msg}
		}
		switch {
		case r.ID == "":
			return missing("id", "name the rule (summary.md says which rule decided), e.g. transport-exposed")
		case !ruleID.MatchString(r.ID):
			return d.at(entry+".id", "%q: want lower-case letters, digits and '-'", r.ID)
		}
		if src, dup := seen[r.ID]; dup {
			return d.at(entry+".id", "%q is already the id of the rule at %s", r.ID, src)
		}
		seen[r.ID] = r.Source
		switch {
		case r.Decision == "":
			return missing("decision", "one of "+strings.Join(Decisions, ", "))
		case !slices.Contains(Decisions, r.Decision):
			return d.at(entry+".decision", "%q is not one of %s", r.Decision, strings.Join(Decisions, ", "))
		}
		if strings.TrimSpace(r.Why) == "" {
			return missing("why", "the reason summary.md gives for the decision")
		}
		m := r.Match
		for j, s := range m.Status {
			if s != "fail" && s != "error" {
				return d.at(fmt.Sprintf("%s.match.status[%d]", entry, j), "%q: a rule matches fail or error results", s)
			}
		}
		for j, s := range m.Severity {
			if !slices.Contains([]string{"critical", "high", "medium", "low", "info"}, s) {
				return d.at(fmt.Sprintf("%s.match.severity[%d]", entry, j), "%q is not one of critical, high, medium, low, info", s)
			}
		}
		if err := l.known(d, entry+".match.controls", m.Controls, l.Controls, "control", "`rig checks` lists them"); err != nil {
			return err
		}
		if err := l.known(d, entry+".match.checks", m.Checks, l.Checks, "check", "`rig checks` lists them"); err != nil {
			return err
		}
		if err := l.known(d, entry+".match.hops", m.Hops, l.Hops, "hop", "one of "+strings.Join(l.Hops, ", ")); err != nil {
			return err
		}
	}
	return nil
}

// known refuses a value outside the catalog's names (when the library knows them).
func (l Library) known(d *doc, field string, got, names []string, what, hint string) error {
	if len(names) == 0 {
		return nil
	}
	for j, v := range got {
		if !slices.Contains(names, v) {
			return d.at(fmt.Sprintf("%s[%d]", field, j), "unknown %s %q (%s)", what, v, hint)
		}
	}
	return nil
}

// loadAccepted fills the plan's waivers (the scenario's waivers: file) and decision rules (the
// scenario's decision: rules, then the defaults when the library has an embedded tree).
func (l Library) loadAccepted(plan *Plan, d *doc, dir string) error {
	ws, err := l.loadScenarioWaivers(&plan.Scenario, d, dir)
	if err != nil {
		return err
	}
	plan.Waivers = ws
	if err := l.validateRules(d, "decision", plan.Scenario.Decision); err != nil {
		return err
	}
	plan.Decision = slices.Clone(plan.Scenario.Decision)
	if l.Embedded != nil {
		defaults, err := l.DefaultDecision()
		if err != nil {
			return err
		}
		plan.Decision = append(plan.Decision, defaults...)
	}
	return nil
}
