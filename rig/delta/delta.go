// Package delta compares two runs control by control: what improved, what regressed, what is
// unchanged, new or removed, with both sides' evidence referenced; and, where the verdict stayed
// the same, which configuration facts drifted (drift.go).
package delta

import (
	"fmt"
	"sort"

	"github.com/pathrig/rig/rig/record"
)

// SchemaDelta is the version tag of delta.json.
const SchemaDelta = "rig.delta/v1"

// File is the name of the delta record inside a delta folder.
const File = "delta.json"

// Class is how one control changed between two runs.
type Class string

const (
	Improved  Class = "improved"  // was fail or error, now pass
	Regressed Class = "regressed" // was pass, now fail, error or skip: a verified control is no longer verified
	Unchanged Class = "unchanged" // anything else, including fail → error and skip → pass
	New       Class = "new"       // only in the rerun
	Removed   Class = "removed"   // only in the baseline
)

// Classify returns the class of a control present in both runs.
func Classify(before, after record.Status) Class {
	switch {
	case after == record.StatusPass && (before == record.StatusFail || before == record.StatusError):
		return Improved
	case before == record.StatusPass && after != record.StatusPass:
		return Regressed
	}
	return Unchanged
}

// Side is one run's view of a control.
type Side struct {
	Status   record.Status   `json:"status"`
	Severity record.Severity `json:"severity"`
	Reason   string          `json:"reason"`
	Evidence []string        `json:"evidence"` // relative to that run's folder
}

// Row is one control in the delta.
type Row struct {
	Control string `json:"control"`
	Check   string `json:"check"`
	Title   string `json:"title"`
	Class   Class  `json:"class"`
	Before  *Side  `json:"before,omitempty"`
	After   *Side  `json:"after,omitempty"`
	// Drift lists the configuration facts that changed while the verdict stayed the same (both
	// sides pass, or both fail); Routine the churn of a renewal, which is not drift.
	Drift   []FactChange `json:"drift,omitempty"`
	Routine []FactChange `json:"routine,omitempty"`
}

// Summary counts rows by class.
type Summary struct {
	Improved  int    `json:"improved"`
	Regressed int    `json:"regressed"`
	Unchanged int    `json:"unchanged"`
	New       int    `json:"new"`
	Removed   int    `json:"removed"`
	Drifted   int    `json:"drifted"` // rows with drift: same verdict, configuration changed
	Headline  string `json:"headline"`
}

// Delta is the content of delta.json.
type Delta struct {
	Schema   string  `json:"schema"`
	Baseline RunRef  `json:"baseline"`
	Rerun    RunRef  `json:"rerun"`
	Rows     []Row   `json:"rows"`
	Summary  Summary `json:"summary"`
}

// RunRef names a compared run.
type RunRef struct {
	Path     string `json:"path"`
	Scenario string `json:"scenario"`
	Profile  string `json:"profile"`
	Findings int    `json:"findings"`
	Headline string `json:"headline"`
}

// Compare computes the delta from baseline a to rerun b. Paths are recorded as given.
func Compare(a, b *record.Run, pathA, pathB string) *Delta {
	d := &Delta{
		Schema:   SchemaDelta,
		Baseline: RunRef{Path: pathA, Scenario: a.Scenario, Profile: a.Profile, Findings: a.Summary.Findings, Headline: a.Summary.Headline},
		Rerun:    RunRef{Path: pathB, Scenario: b.Scenario, Profile: b.Profile, Findings: b.Summary.Findings, Headline: b.Summary.Headline},
	}
	before := index(a)
	after := index(b)
	ids := map[string]bool{}
	for id := range before {
		ids[id] = true
	}
	for id := range after {
		ids[id] = true
	}
	for id := range ids {
		ra, inA := before[id]
		rb, inB := after[id]
		row := Row{Control: id}
		switch {
		case inA && inB:
			row.Class = Classify(ra.Status, rb.Status)
			row.Drift, row.Routine = Drift(ra, rb)
		case inB:
			row.Class = New
		default:
			row.Class = Removed
		}
		if inA {
			row.Check, row.Title, row.Before = ra.Check, ra.Title, side(ra)
		}
		if inB {
			row.Check, row.Title, row.After = rb.Check, rb.Title, side(rb)
		}
		d.Rows = append(d.Rows, row)
	}
	sort.Slice(d.Rows, func(i, j int) bool {
		if ri, rj := rank(d.Rows[i].Class), rank(d.Rows[j].Class); ri != rj {
			return ri < rj
		}
		if di, dj := len(d.Rows[i].Drift) > 0, len(d.Rows[j].Drift) > 0; di != dj {
			return di // drift first among rows of one class
		}
		return d.Rows[i].Control < d.Rows[j].Control
	})
	s := &d.Summary
	for _, r := range d.Rows {
		if len(r.Drift) > 0 {
			s.Drifted++
		}
		switch r.Class {
		case Improved:
			s.Improved++
		case Regressed:
			s.Regressed++
		case Unchanged:
			s.Unchanged++
		case New:
			s.New++
		case Removed:
			s.Removed++
		}
	}
	s.Headline = fmt.Sprintf("%d %s improved · %d %s", s.Improved, plural(s.Improved, "control", "controls"), s.Regressed, plural(s.Regressed, "regression", "regressions"))
	if s.Drifted > 0 {
		s.Headline += fmt.Sprintf(" · %d %s", s.Drifted, plural(s.Drifted, "control drifted", "controls drifted"))
	}
	return d
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// rank orders rows so that what needs attention comes first.
func rank(c Class) int {
	switch c {
	case Regressed:
		return 0
	case Improved:
		return 1
	case New:
		return 2
	case Removed:
		return 3
	}
	return 4
}

func index(r *record.Run) map[string]record.Result {
	m := make(map[string]record.Result, len(r.Results))
	for _, res := range r.Results {
		m[res.Control] = res
	}
	return m
}

func side(r record.Result) *Side {
	return &Side{Status: r.Status, Severity: r.Severity, Reason: r.Reason, Evidence: r.Evidence}
}
