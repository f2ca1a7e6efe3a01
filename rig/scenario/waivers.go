package scenario

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// Waiver is an accepted risk: a control whose failure the run still reports as fail, with the
// waiver attached, but counts as accepted instead of as a finding until the waiver expires.
type Waiver struct {
	Control string `yaml:"control"` // a control ID of the catalog
	Reason  string `yaml:"reason"`  // why the risk is accepted; never empty
	Owner   string `yaml:"owner"`   // who accepted it
	Expires Date   `yaml:"expires"` // the last day it applies (UTC)
	// Target narrows the waiver to one endpoint of the control's hop (see waiver.Apply): a broker
	// address, the ingest URL, or the device UID. Empty: every target.
	Target string `yaml:"target"`

	Source string `yaml:"-"` // FILE:LINE of the entry, for messages and run.json
}

// WaiverFile is the content of a waiver file.
type WaiverFile struct {
	Waivers []Waiver `yaml:"waivers"`
}

// Date is a calendar day written YYYY-MM-DD in YAML.
type Date struct{ time.Time }

var dateForm = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// UnmarshalYAML decodes a YYYY-MM-DD date, reporting a bad one at its line.
func (d *Date) UnmarshalYAML(n ast.Node) error {
	s, ok := n.(*ast.StringNode)
	bad := func(got string) error {
		return &nodeError{tok: n.GetToken(), msg: fmt.Sprintf("%s is not a date: write YYYY-MM-DD, e.g. 2026-09-30", got)}
	}
	if !ok {
		return bad(n.String())
	}
	if !dateForm.MatchString(s.Value) {
		return bad(fmt.Sprintf("%q", s.Value))
	}
	t, err := time.Parse(time.DateOnly, s.Value)
	if err != nil {
		return bad(fmt.Sprintf("%q", s.Value))
	}
	d.Time = t
	return nil
}

// String is the date as written: YYYY-MM-DD.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return d.Format(time.DateOnly)
}

// MaxDefinitionBytes bounds what the rig reads of a waiver file: a waiver file is a few
// kilobytes; anything larger is not one, and is refused rather than read whole.
const MaxDefinitionBytes = 1 << 20

// readBounded reads at most MaxDefinitionBytes of path.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxDefinitionBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxDefinitionBytes {
		return nil, fmt.Errorf("larger than %d bytes: not a definition file", MaxDefinitionBytes)
	}
	return b, nil
}

// LoadWaivers reads and validates a waiver file (a path, relative to the working folder unless
// absolute). Every entry needs a control of the library's catalog (when Library.Controls is
// set), a non-empty reason and an expiry date; an error names file, line and field and wraps
// ErrInvalid.
func (l Library) LoadWaivers(path string) ([]Waiver, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, &FileError{File: path, Msg: fmt.Sprintf("cannot read the waiver file: %v", err)}
	}
	var f WaiverFile
	d, err := decode(path, data, &f)
	if err != nil {
		return nil, err
	}
	if len(f.Waivers) == 0 {
		return nil, d.at("waivers", "missing or empty: list the accepted risks (control, reason, owner, expires)")
	}
	first := map[string]string{} // control|target -> source of the first waiver for it
	for i := range f.Waivers {
		w := &f.Waivers[i]
		entry := fmt.Sprintf("waivers[%d]", i)
		line := d.line(entry)
		w.Source = fmt.Sprintf("%s:%d", path, line)
		missing := func(field, msg string) error {
			return &FileError{File: path, Line: line, Field: entry + "." + field, Msg: "missing: " + msg}
		}
		w.Control = strings.TrimSpace(w.Control)
		switch {
		case w.Control == "":
			return nil, missing("control", "name the control ID the risk is accepted for, e.g. GUARD-RATE")
		case len(l.Controls) > 0 && !slices.Contains(l.Controls, w.Control):
			return nil, d.at(entry+".control", "unknown control %q (`rig checks` lists the catalog)", w.Control)
		}
		if strings.TrimSpace(w.Reason) == "" {
			return nil, missing("reason", "say why the risk is accepted (it is quoted in the reports and in the SARIF suppression)")
		}
		if w.Expires.IsZero() {
			return nil, missing("expires", "every accepted risk expires: write the last day it applies, YYYY-MM-DD")
		}
		if _, present := d.node(entry + ".target"); present && strings.TrimSpace(w.Target) == "" {
			return nil, d.at(entry+".target", "empty: name the endpoint the waiver is narrowed to, or remove the key")
		}
		key := w.Control + "|" + w.Target
		if src, dup := first[key]; dup {
			return nil, d.at(entry, "a second waiver for %s%s (the first is at %s): keep one", w.Control, targetNote(w.Target), src)
		}
		first[key] = w.Source
	}
	return f.Waivers, nil
}

func targetNote(t string) string {
	if t == "" {
		return ""
	}
	return " on " + t
}

// loadScenarioWaivers loads the waiver file a scenario names (relative to the scenario's folder,
// or the working folder for an embedded scenario), placing a file it cannot read at the key.
func (l Library) loadScenarioWaivers(sc *Scenario, d *doc, dir string) ([]Waiver, error) {
	if sc.Waivers == "" {
		return nil, nil
	}
	path := sc.Waivers
	if dir != "" && !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	ws, err := l.LoadWaivers(path)
	var fe *FileError
	if errors.As(err, &fe) && fe.File == path && fe.Line == 0 && fe.Field == "" {
		return nil, d.at("waivers", "%s", fe.Msg)
	}
	return ws, err
}

// line returns the line of the YAML path in the file, 0 when it is absent.
func (d *doc) line(field string) int {
	n, ok := d.node(field)
	if !ok {
		return 0
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line
	}
	return 0
}

// node returns the node at the YAML path, if the file has it.
func (d *doc) node(field string) (ast.Node, bool) {
	p, err := yaml.PathString("$." + field)
	if err != nil {
		return nil, false
	}
	n, err := p.FilterFile(d.file)
	if err != nil || n == nil {
		return nil, false
	}
	return n, true
}
