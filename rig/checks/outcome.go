package checks

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/pathrig/rig/rig/record"
)

// evidenceSet collects the evidence files written for one control. A write that fails turns the
// control's verdict into an error: a finding or a pass nobody can back up is worth nothing.
type evidenceSet struct {
	env     *Env
	control string
	paths   []string
	err     error
	facts   map[string]any
}

func newEvidence(env *Env, control string) *evidenceSet {
	return &evidenceSet{env: env, control: control}
}

// json writes v as evidence/<control>/<name>.
func (s *evidenceSet) json(name string, v any) {
	p, err := s.env.Evidence.WriteJSON(s.control, name, v)
	s.add(p, err)
}

// raw writes data as evidence/<control>/<name>.
func (s *evidenceSet) raw(name string, data []byte) {
	p, err := s.env.Evidence.Write(s.control, name, data)
	s.add(p, err)
}

// fact records one configuration fact behind the control's verdict (see facts.go).
func (s *evidenceSet) fact(name string, v any) {
	if s.facts == nil {
		s.facts = map[string]any{}
	}
	s.facts[name] = v
}

// ref adds files written for another control that back this one too.
func (s *evidenceSet) ref(paths ...string) { s.paths = append(s.paths, paths...) }

func (s *evidenceSet) add(p string, err error) {
	if err != nil {
		s.err = errors.Join(s.err, err)
		return
	}
	s.paths = append(s.paths, p)
}

// outcome builds the control's outcome from a verdict and the evidence written for it.
func (s *evidenceSet) outcome(status record.Status, obs map[string]any, format string, args ...any) Outcome {
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

func skip(format string, args ...any) Outcome {
	return Outcome{Status: record.StatusSkip, Reason: fmt.Sprintf(format, args...)}
}

// randomHex returns n random bytes as hex, for probe client ids and wrong tokens.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
