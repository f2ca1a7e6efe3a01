package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pathrig/rig/rig/infile"
)

// RunFile is the name of the run record inside a run folder.
const RunFile = "run.json"

// Summarize fills r.Summary from r.Results and sorts results by check then control, so that two
// runs of the same path produce the same order.
func (r *Run) Summarize() {
	sort.SliceStable(r.Results, func(i, j int) bool {
		if r.Results[i].Check != r.Results[j].Check {
			return checkOrder(r.Checks, r.Results[i].Check) < checkOrder(r.Checks, r.Results[j].Check)
		}
		return r.Results[i].Control < r.Results[j].Control
	})
	s := Summary{}
	for _, res := range r.Results {
		switch res.Status {
		case StatusPass:
			s.Pass++
		case StatusFail:
			s.Fail++
			if res.Waived() {
				s.Waived++
			}
		case StatusError:
			s.Error++
		case StatusSkip:
			s.Skip++
		}
	}
	s.Findings = s.Fail - s.Waived
	switch {
	case s.Findings > 0:
		s.Headline = fmt.Sprintf("Exposed posture · %d %s", s.Findings, plural(s.Findings, "finding", "findings"))
	case s.Error > 0:
		s.Headline = fmt.Sprintf("Incomplete audit · 0 findings, %d %s could not be evaluated", s.Error, plural(s.Error, "control", "controls"))
	case s.Waived > 0:
		// Every failure is an accepted risk: not a hardened path, and the headline says so.
		s.Headline = "Risks accepted · 0 findings"
	case s.Pass == 0:
		s.Headline = "Nothing verified · 0 findings, every control skipped"
	case r.Scope != nil && len(r.Scope.Paths) > 0:
		// A run of path bundles vouches for its paths, not for the whole path of the deployment.
		s.Headline = fmt.Sprintf("Hardened %s %s · 0 findings", joinAnd(r.Scope.Paths), plural(len(r.Scope.Paths), "path", "paths"))
	default:
		s.Headline = "Hardened path · 0 findings"
	}
	if s.Findings == 0 && s.Error == 0 && s.Pass+s.Waived > 0 && s.Skip > 0 {
		s.Headline += fmt.Sprintf(", %d %s skipped", s.Skip, plural(s.Skip, "control", "controls"))
	}
	if s.Waived > 0 {
		s.Headline += fmt.Sprintf(", %d %s", s.Waived, plural(s.Waived, "accepted risk", "accepted risks"))
	}
	r.Summary = s
}

func checkOrder(order []string, id string) int {
	for i, c := range order {
		if c == id {
			return i
		}
	}
	return len(order)
}

// joinAnd joins names as prose: "a", "a and b", "a, b and c".
func joinAnd(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// WriteJSON writes v as indented JSON to path atomically (temp file + rename).
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("record: encode %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("record: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("record: write %s: %w", path, err)
	}
	return nil
}

// ReadRun reads run.json from a run folder (or the file itself), bounded (infile.MaxRunRecord)
// and only if it is a regular file.
func ReadRun(path string) (*Run, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, RunFile)
	}
	b, err := infile.Read(path, "run record", infile.MaxRunRecord)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("record: %s does not exist (pass a run folder written by `rig run`)", path)
		}
		return nil, fmt.Errorf("record: %w", err) // names the file (and the limit)
	}
	return ParseRun(path, b)
}

// ParseRun decodes a run record; name (the file) is used in errors.
func ParseRun(name string, b []byte) (*Run, error) {
	var r Run
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("record: %s is not a run record: %w", name, err)
	}
	if r.Schema != SchemaRun {
		return nil, fmt.Errorf("record: %s has schema %q, this rig reads %q", name, r.Schema, SchemaRun)
	}
	return &r, nil
}
