// Package history follows one path over a series of runs (history.json): the runs in time order
// with their findings by severity and hop, and per control its status in every run, how often
// that status changed (a control that changed more than once is flapping) and where its
// configuration drifted while the verdict stayed the same. It reads run records; rig/report
// renders it.
package history

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pathrig/rig/rig/delta"
	"github.com/pathrig/rig/rig/record"
)

// Schema is the version tag of history.json; File its name inside a history folder.
const (
	Schema = "rig.history/v1"
	File   = "history.json"
)

// SchemaJSON is the JSON Schema of history.json (schema/history.v1.json).
//
//go:embed schema/history.v1.json
var SchemaJSON []byte

// Absent is the status of a control in a run that did not evaluate it (another bundle).
const Absent = "absent"

// History is the content of history.json.
type History struct {
	Schema   string    `json:"schema"`
	Runs     []Run     `json:"runs"`     // oldest first
	Controls []Control `json:"controls"` // by check in the order first seen, then control ID
	Summary  Summary   `json:"summary"`
}

// Run is one run of the series.
type Run struct {
	ID         string     `json:"id"`   // R1 is the oldest
	Path       string     `json:"path"` // as given on the command line
	Scenario   string     `json:"scenario"`
	Profile    string     `json:"profile"`
	Started    time.Time  `json:"started"`
	Tool       string     `json:"tool"` // the rig version that made it
	Headline   string     `json:"headline"`
	Findings   int        `json:"findings"`
	Counts     Counts     `json:"counts"`
	BySeverity Severities `json:"findings_by_severity"`
	ByHop      []HopCount `json:"findings_by_hop"` // hop, then severity (most severe first)
}

// Counts are a run's results by status.
type Counts struct {
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Error int `json:"error"`
	Skip  int `json:"skip"`
}

// Severities count findings by severity.
type Severities struct {
	Critical int `json:"critical"`
	High     int `json:"high"`
	Medium   int `json:"medium"`
	Low      int `json:"low"`
	Info     int `json:"info"`
}

// Of returns the count of one severity.
func (s Severities) Of(sev record.Severity) int {
	switch sev {
	case record.SeverityCritical:
		return s.Critical
	case record.SeverityHigh:
		return s.High
	case record.SeverityMedium:
		return s.Medium
	case record.SeverityLow:
		return s.Low
	case record.SeverityInfo:
		return s.Info
	}
	return 0
}

func (s *Severities) add(sev record.Severity) {
	switch sev {
	case record.SeverityCritical:
		s.Critical++
	case record.SeverityHigh:
		s.High++
	case record.SeverityMedium:
		s.Medium++
	case record.SeverityLow:
		s.Low++
	default:
		s.Info++
	}
}

// HopCount is the number of findings of one severity fixed at one hop.
type HopCount struct {
	Hop      string          `json:"hop"`
	Severity record.Severity `json:"severity"`
	Count    int             `json:"count"`
}

// Control is one control over the series.
type Control struct {
	Control string `json:"control"`
	Check   string `json:"check"`
	Title   string `json:"title"`
	// Statuses has one entry per run: pass, fail, error, skip, or absent.
	Statuses []string `json:"statuses"`
	// Classes has one entry per run: the delta class against the previous run that evaluated
	// the control (improved, regressed, unchanged), "" for the first such run and where absent.
	Classes []string `json:"classes"`
	// Changes counts the status changes between consecutive runs that evaluated the control.
	Changes int `json:"changes"`
	// Flapping: the status changed more than once across the series.
	Flapping bool `json:"flapping"`
	// Drift lists, between consecutive runs with the same verdict, the configuration facts that
	// changed (routine renewal churn left out).
	Drift []Drift `json:"drift,omitempty"`
}

// Drift is the configuration drift of one control from one run to the next.
type Drift struct {
	From  string             `json:"from"` // run IDs
	To    string             `json:"to"`
	Facts []delta.FactChange `json:"facts"`
}

// Summary of the series.
type Summary struct {
	Runs        int    `json:"runs"`
	Controls    int    `json:"controls"`
	Flapping    int    `json:"flapping"`    // controls
	Drifted     int    `json:"drifted"`     // controls with drift somewhere in the series
	Regressions int    `json:"regressions"` // control transitions classed regressed, over all consecutive pairs
	Headline    string `json:"headline"`
}

// Entry is one run given to Build.
type Entry struct {
	Path string
	Run  *record.Run
	// Hops maps a failed control to the hop where its fix is made (device, gateway, broker,
	// ingest); a failed control not in it counts under "unassigned".
	Hops map[string]string
}

// Build orders the runs by start time (then path) and follows every control through them.
func Build(entries []Entry) (*History, error) {
	if len(entries) == 0 {
		return nil, fmt.Errorf("history: no run")
	}
	es := append([]Entry(nil), entries...)
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Run.Volatile.Started, es[j].Run.Volatile.Started
		if !a.Equal(b) {
			return a.Before(b)
		}
		return es[i].Path < es[j].Path
	})
	h := &History{Schema: Schema}
	type seen struct {
		idx     int
		results []*record.Result // one per run, nil when absent
	}
	byID := map[string]*seen{}
	var order []string
	checkRank := map[string]int{}
	for i, e := range es {
		r := e.Run
		run := Run{
			ID: fmt.Sprintf("R%d", i+1), Path: e.Path, Scenario: r.Scenario, Profile: r.Profile,
			Started: r.Volatile.Started.UTC(), Tool: r.Tool.Version, Headline: r.Summary.Headline, Findings: r.Summary.Findings,
			Counts: Counts{Pass: r.Summary.Pass, Fail: r.Summary.Fail, Error: r.Summary.Error, Skip: r.Summary.Skip},
			ByHop:  []HopCount{},
		}
		hops := map[string]map[record.Severity]int{}
		for k := range r.Results {
			res := &r.Results[k]
			if _, ok := checkRank[res.Check]; !ok {
				checkRank[res.Check] = len(checkRank)
			}
			s, ok := byID[res.Control]
			if !ok {
				s = &seen{idx: len(order), results: make([]*record.Result, len(es))}
				byID[res.Control] = s
				order = append(order, res.Control)
			}
			s.results[i] = res
			if res.Status == record.StatusFail {
				run.BySeverity.add(res.Severity)
				hop := e.Hops[res.Control]
				if hop == "" {
					hop = "unassigned"
				}
				if hops[hop] == nil {
					hops[hop] = map[record.Severity]int{}
				}
				hops[hop][res.Severity]++
			}
		}
		for hop, sevs := range hops {
			for sev, n := range sevs {
				run.ByHop = append(run.ByHop, HopCount{Hop: hop, Severity: sev, Count: n})
			}
		}
		sort.Slice(run.ByHop, func(a, b int) bool {
			if run.ByHop[a].Hop != run.ByHop[b].Hop {
				return run.ByHop[a].Hop < run.ByHop[b].Hop
			}
			return run.ByHop[a].Severity.Rank() > run.ByHop[b].Severity.Rank()
		})
		h.Runs = append(h.Runs, run)
	}
	for _, id := range order {
		s := byID[id]
		c := Control{Control: id, Statuses: make([]string, len(es)), Classes: make([]string, len(es))}
		var prev *record.Result
		prevIdx := -1
		for i, res := range s.results {
			if res == nil {
				c.Statuses[i] = Absent
				continue
			}
			c.Check, c.Title = res.Check, res.Title
			c.Statuses[i] = string(res.Status)
			if prev != nil {
				cl := delta.Classify(prev.Status, res.Status)
				c.Classes[i] = string(cl)
				if prev.Status != res.Status {
					c.Changes++
				}
				if cl == delta.Regressed {
					h.Summary.Regressions++
				}
				if d, _ := delta.Drift(*prev, *res); len(d) > 0 {
					c.Drift = append(c.Drift, Drift{From: h.Runs[prevIdx].ID, To: h.Runs[i].ID, Facts: d})
				}
			}
			prev, prevIdx = res, i
		}
		c.Flapping = c.Changes > 1
		h.Controls = append(h.Controls, c)
	}
	sort.SliceStable(h.Controls, func(i, j int) bool {
		a, b := h.Controls[i], h.Controls[j]
		if ra, rb := checkRank[a.Check], checkRank[b.Check]; ra != rb {
			return ra < rb
		}
		return a.Control < b.Control
	})
	s := &h.Summary
	s.Runs, s.Controls = len(h.Runs), len(h.Controls)
	for _, c := range h.Controls {
		if c.Flapping {
			s.Flapping++
		}
		if len(c.Drift) > 0 {
			s.Drifted++
		}
	}
	s.Headline = headline(h)
	return h, nil
}

func headline(h *History) string {
	first, last := h.Runs[0], h.Runs[len(h.Runs)-1]
	parts := []string{
		fmt.Sprintf("%d %s", len(h.Runs), plural(len(h.Runs), "run", "runs")),
		fmt.Sprintf("findings %d → %d", first.Findings, last.Findings),
	}
	s := h.Summary
	parts = append(parts, fmt.Sprintf("%d %s", s.Regressions, plural(s.Regressions, "regression", "regressions")))
	if s.Flapping > 0 {
		parts = append(parts, fmt.Sprintf("%d flapping %s", s.Flapping, plural(s.Flapping, "control", "controls")))
	}
	if s.Drifted > 0 {
		parts = append(parts, fmt.Sprintf("%d %s", s.Drifted, plural(s.Drifted, "control drifted", "controls drifted")))
	}
	return strings.Join(parts, " · ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
