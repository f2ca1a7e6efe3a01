// Package record owns the machine-readable record of a run (run.json) and of a delta (delta.json):
// the results a run observed, never the definitions that asked for them.
package record

import "time"

// SchemaRun is the version tag written into every run.json. Bump it on any incompatible change.
const SchemaRun = "rig.run/v1"

// Status is the outcome of one control. A control that could not be evaluated is StatusError,
// never StatusPass.
type Status string

const (
	StatusPass  Status = "pass"
	StatusFail  Status = "fail"
	StatusError Status = "error"
	StatusSkip  Status = "skip"
)

// Severity is how bad a failure of a control is. It comes from the control's definition.
type Severity string

const (
	SeverityCritical Severity = "critical"
	SeverityHigh     Severity = "high"
	SeverityMedium   Severity = "medium"
	SeverityLow      Severity = "low"
	SeverityInfo     Severity = "info"
)

// Rank orders severities: critical is 4, info 0, unknown -1.
func (s Severity) Rank() int {
	switch s {
	case SeverityCritical:
		return 4
	case SeverityHigh:
		return 3
	case SeverityMedium:
		return 2
	case SeverityLow:
		return 1
	case SeverityInfo:
		return 0
	}
	return -1
}

// Result is what a run observed for one control.
type Result struct {
	Control  string         `json:"control"`
	Check    string         `json:"check"`
	Title    string         `json:"title"`
	Status   Status         `json:"status"`
	Severity Severity       `json:"severity"`
	Reason   string         `json:"reason"`
	Observed map[string]any `json:"observed,omitempty"`
	// Facts are the configuration facts the control observed, normalised so that two runs
	// compare value by value: dotted names (cert.key, tls.versions), each a string, a number, a
	// boolean or a sorted list of strings. rig/delta reads them to find drift: the verdict stayed
	// the same while the configuration behind it changed.
	Facts map[string]any `json:"facts,omitempty"`
	// Evidence lists files of the run folder (slash-separated, relative to it) backing the verdict.
	Evidence []string `json:"evidence"`
	// Waiver is the accepted risk attached to a failed result: the status stays fail, and the
	// result counts in Summary.Waived instead of Summary.Findings.
	Waiver *Waiver `json:"waiver,omitempty"`
}

// Waived reports whether r is a failure whose risk is accepted.
func (r Result) Waived() bool { return r.Status == StatusFail && r.Waiver != nil }

// Waiver is an accepted risk as a run applied it.
type Waiver struct {
	Reason  string `json:"reason"`
	Owner   string `json:"owner,omitempty"`
	Expires string `json:"expires"`          // YYYY-MM-DD, the last day it applies
	Target  string `json:"target,omitempty"` // the endpoint it is narrowed to; "" for every one
	Source  string `json:"source"`           // FILE:LINE of the waiver
}

// Waiver states: what became of one waiver of a run (WaiverNote.State).
const (
	WaiverApplied       = "applied"        // attached to a failed result
	WaiverExpired       = "expired"        // its control failed, but the waiver expired: the finding counts
	WaiverNotNeeded     = "not-needed"     // its control passes: remove the waiver
	WaiverNotApplicable = "not-applicable" // its control was not run, skipped, in error, or on another target
)

// WaiverNote says what became of one waiver of the run's waiver file.
type WaiverNote struct {
	Control string `json:"control"`
	Waiver
	State string `json:"state"` // WaiverApplied, WaiverExpired, WaiverNotNeeded, WaiverNotApplicable
	Note  string `json:"note"`  // why, in a sentence
}

// Decision is the leadership decision of a run and the rule that made it.
type Decision struct {
	Verdict string `json:"verdict"` // hold | focused sprint | fix internally | ship
	Why     string `json:"why"`
	Rule    string `json:"rule,omitempty"`    // the id of the deciding rule; "" when no rule matched
	Source  string `json:"source,omitempty"`  // FILE:LINE of that rule
	Matched string `json:"matched,omitempty"` // the control whose result matched it
}

// Run is the content of run.json.
type Run struct {
	Schema   string   `json:"schema"`
	Tool     Tool     `json:"tool"`
	Scenario string   `json:"scenario"`
	Profile  string   `json:"profile"`
	Bundles  []string `json:"bundles"`
	Checks   []string `json:"checks"`
	Device   *Device  `json:"device,omitempty"`
	Results  []Result `json:"results"`
	Summary  Summary  `json:"summary"`
	// Waivers says what became of each accepted risk the run was given (absent without a
	// waiver file).
	Waivers []WaiverNote `json:"waivers,omitempty"`
	// Decision is the leadership decision, made from the run's decision rules.
	Decision *Decision `json:"decision,omitempty"`
	// Scope is set when the run's bundles select paths: the paths, and what the run left out.
	Scope *Scope `json:"scope,omitempty"`
	// Volatile holds what changes between two runs of the same path (times, ports, paths), kept
	// apart so that two run.json files diff cleanly.
	Volatile Volatile `json:"volatile"`
}

// Scope is what a run of path bundles covers: the paths selected and the controls of the catalog
// the run left out (not run, no result), grouped by check and by the paths that cover them.
type Scope struct {
	Paths      []string     `json:"paths"`
	OutOfScope []OutOfScope `json:"out_of_scope"`
}

// OutOfScope is a part of one check a path run left out: controls the same paths cover.
type OutOfScope struct {
	Check    string   `json:"check"`
	Controls []string `json:"controls"`
	Paths    []string `json:"paths"`
}

// Tool identifies the rig build that produced a record.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Device is the identity the device reported over its link.
type Device struct {
	UID      string `json:"uid"`
	Firmware string `json:"firmware"`
	Boot     uint32 `json:"boot"`
}

// Summary counts results. Findings is the number of failed controls without an accepted risk;
// Waived the number with one (Fail = Findings + Waived).
type Summary struct {
	Findings int    `json:"findings"`
	Waived   int    `json:"waived"`
	Pass     int    `json:"pass"`
	Fail     int    `json:"fail"`
	Error    int    `json:"error"`
	Skip     int    `json:"skip"`
	Headline string `json:"headline"`
}

// Volatile fields of a run.
type Volatile struct {
	Started  time.Time         `json:"started"`
	Finished time.Time         `json:"finished"`
	Targets  map[string]string `json:"targets,omitempty"`
	// Checks holds when each check that ran started and finished (junit.xml's times).
	Checks map[string]Span `json:"checks,omitempty"`
}

// Span is when something started and finished.
type Span struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
}

// Seconds is the span's length in seconds (0 when unknown).
func (s Span) Seconds() float64 {
	if s.Started.IsZero() || s.Finished.Before(s.Started) {
		return 0
	}
	return s.Finished.Sub(s.Started).Seconds()
}
