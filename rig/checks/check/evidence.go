package check

import (
	"errors"
	"fmt"

	"github.com/pathrig/rig/rig/record"
)

// EvidenceSet collects the evidence files written for one control, and the facts behind its
// verdict. A write that fails turns the control's verdict into an error: a finding or a pass
// nobody can back up is worth nothing.
type EvidenceSet struct {
	env     *Env
	control string
	paths   []string
	err     error
	facts   map[string]any
}

// NewEvidence starts the evidence of control, written to env's evidence store under
// evidence/<control>/.
func NewEvidence(env *Env, control string) *EvidenceSet {
	return &EvidenceSet{env: env, control: control}
}

// Env is the env the set writes for.
func (s *EvidenceSet) Env() *Env { return s.env }

// Control is the control the set backs.
func (s *EvidenceSet) Control() string { return s.control }

// Paths are the files written (or referenced) so far.
func (s *EvidenceSet) Paths() []string { return s.paths }

// Err is the joined error of the writes that failed, nil when none did.
func (s *EvidenceSet) Err() error { return s.err }

// Inherit makes the files of shared back this control too, and its write failures count here:
// one copy of a shared file backs several controls.
func (s *EvidenceSet) Inherit(shared *EvidenceSet) {
	s.Ref(shared.paths...)
	s.err = shared.err
}

// JSON writes v as evidence/<control>/<name>.
func (s *EvidenceSet) JSON(name string, v any) {
	p, err := s.env.Evidence.WriteJSON(s.control, name, v)
	s.add(p, err)
}

// Raw writes data as evidence/<control>/<name>.
func (s *EvidenceSet) Raw(name string, data []byte) {
	p, err := s.env.Evidence.Write(s.control, name, data)
	s.add(p, err)
}

// Fact records one configuration fact behind the control's verdict (the names are listed in
// rig/checks/facts.go).
func (s *EvidenceSet) Fact(name string, v any) {
	if s.facts == nil {
		s.facts = map[string]any{}
	}
	s.facts[name] = v
}

// Ref adds files written for another control that back this one too.
func (s *EvidenceSet) Ref(paths ...string) { s.paths = append(s.paths, paths...) }

func (s *EvidenceSet) add(p string, err error) {
	if err != nil {
		s.err = errors.Join(s.err, err)
		return
	}
	s.paths = append(s.paths, p)
}

// Outcome builds the control's outcome from a verdict and the evidence written for it.
func (s *EvidenceSet) Outcome(status record.Status, obs map[string]any, format string, args ...any) Outcome {
	reason := fmt.Sprintf(format, args...)
	if s.err != nil && (status == record.StatusPass || status == record.StatusFail) {
		return Outcome{
			Status:   record.StatusError,
			Reason:   fmt.Sprintf("evidence could not be written (%v; check the run folder's disk and permissions); the probe said %s: %s", s.err, status, reason),
			Observed: obs,
			Facts:    s.facts,
			Evidence: s.paths,
		}
	}
	return Outcome{Status: status, Reason: reason, Observed: obs, Facts: s.facts, Evidence: s.paths}
}

// Skip is the outcome of a control whose input is not named: skipped with the reason, never
// passed.
func Skip(format string, args ...any) Outcome {
	return Outcome{Status: record.StatusSkip, Reason: fmt.Sprintf(format, args...)}
}

// StrSlice keeps an empty list an empty JSON array rather than null.
func StrSlice(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Worse returns the graver of two severities ("" counts as none).
func Worse(a, b record.Severity) record.Severity {
	if a == "" || b.Rank() > a.Rank() {
		return b
	}
	return a
}
