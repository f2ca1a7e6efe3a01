package scenario

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"
)

// Paths are the paths of an IoT deployment a client selects an audit by, in the order the rig
// lists them. A path bundle (Bundle.Path) names the controls that belong to one of them; a
// control may belong to several.
var Paths = []string{"gateway", "mqtt", "ingest", "identity", "observability"}

// PathBundle is the name of the embedded bundle of a path: path-<path>.
func PathBundle(path string) string { return "path-" + path }

// Scope says what a run of path bundles covers: the paths it selects and the controls of the
// catalog it leaves out, grouped by check and by the embedded paths that cover them.
type Scope struct {
	Paths      []string
	OutOfScope []ScopeGap
}

// ScopeGap is a part of one check a run leaves out: controls covered by the same paths.
type ScopeGap struct {
	Check    string
	Controls []string // catalog order
	Paths    []string // the embedded path bundles that run these controls, in Paths order
}

// Evaluates reports whether the plan evaluates control, owned by check.
func (p *Plan) Evaluates(control, check string) bool {
	if !slices.Contains(p.Checks, check) {
		return false
	}
	return p.Controls == nil || slices.Contains(p.Controls, control)
}

// selection gathers what the bundles (and a scenario's checks:) name, in run order.
type selection struct {
	plan  *Plan
	whole map[string]bool // checks named whole
	some  map[string]bool // controls named one by one
	paths []string
}

func newSelection(p *Plan) *selection {
	p.Checks, p.Controls, p.Paths, p.Scope = nil, nil, nil, nil
	return &selection{plan: p, whole: map[string]bool{}, some: map[string]bool{}}
}

func (s *selection) addCheck(id string) {
	if !slices.Contains(s.plan.Checks, id) {
		s.plan.Checks = append(s.plan.Checks, id)
	}
}

// addBundle validates what b names (checks against knownChecks, controls against the catalog's
// owners, on their lines in the bundle file) and adds it to the selection.
func (l Library) addBundle(s *selection, b *Bundle, d *doc, knownChecks []string) error {
	for j, id := range b.Checks {
		if !slices.Contains(knownChecks, id) {
			return unknownCheck(d, fmt.Sprintf("checks[%d]", j), id, knownChecks)
		}
	}
	if len(b.Controls) > 0 && len(l.Owners) == 0 {
		return d.at("controls", "cannot check control names: the rig's control catalog was not given to the library (a rig defect)")
	}
	for j, id := range b.Controls {
		f := fmt.Sprintf("controls[%d]", j)
		owner, ok := l.Owners[id]
		switch {
		case !ok:
			return d.at(f, "unknown control %q (`rig checks` lists the catalog)", id)
		case slices.Index(b.Controls, id) < j:
			return d.at(f, "control %s is named twice (name each control once)", id)
		case slices.Contains(b.Checks, owner):
			return d.at(f, "control %s belongs to check %s, which checks: already runs whole: remove one of the two", id, owner)
		case !slices.Contains(knownChecks, owner):
			return unknownCheck(d, f, owner, knownChecks)
		}
	}
	s.plan.Bundles = append(s.plan.Bundles, *b)
	for _, id := range b.Checks {
		s.addCheck(id)
		s.whole[id] = true
	}
	for _, id := range b.Controls {
		s.addCheck(l.Owners[id])
		s.some[id] = true
	}
	if b.Path != "" && !slices.Contains(s.paths, b.Path) {
		s.paths = append(s.paths, b.Path)
	}
	return nil
}

// finish sets the plan's controls, paths and scope from the selection.
func (l Library) finish(s *selection) error {
	p := s.plan
	narrowed := false
	for _, c := range p.Checks {
		if !s.whole[c] {
			narrowed = true
		}
	}
	if narrowed {
		p.Controls = []string{}
		for _, id := range l.catalogOrder() {
			if ch := l.Owners[id]; slices.Contains(p.Checks, ch) && (s.whole[ch] || s.some[id]) {
				p.Controls = append(p.Controls, id)
			}
		}
	}
	p.Paths = s.paths
	if len(p.Paths) == 0 {
		return nil
	}
	index, err := l.pathIndex()
	if err != nil {
		return err
	}
	p.Scope = &Scope{Paths: slices.Clone(p.Paths)}
	at := map[string]int{} // check and the paths that cover it → its gap
	for _, id := range l.catalogOrder() {
		ch := l.Owners[id]
		if p.Evaluates(id, ch) {
			continue
		}
		paths := slices.Clone(index[id])
		slices.SortFunc(paths, func(a, b string) int { return slices.Index(Paths, a) - slices.Index(Paths, b) })
		key := ch + "|" + strings.Join(paths, ",")
		i, ok := at[key]
		if !ok {
			i = len(p.Scope.OutOfScope)
			at[key] = i
			p.Scope.OutOfScope = append(p.Scope.OutOfScope, ScopeGap{Check: ch, Paths: paths})
		}
		p.Scope.OutOfScope[i].Controls = append(p.Scope.OutOfScope[i].Controls, id)
	}
	return nil
}

// catalogOrder lists the catalog's controls in catalog order (Controls), or sorted when the
// library was given only the owners.
func (l Library) catalogOrder() []string {
	if len(l.Controls) > 0 {
		return l.Controls
	}
	return slices.Sorted(maps.Keys(l.Owners))
}

// PathBundles returns the embedded path bundles, in the order of Paths: a path without an
// embedded bundle is left out. An embedded bundle that does not load is a rig defect.
func (l Library) PathBundles() ([]Bundle, error) {
	if l.Embedded == nil {
		return nil, nil
	}
	entries, err := fs.ReadDir(l.Embedded, "bundles")
	if err != nil {
		return nil, fmt.Errorf("%w: the embedded bundles: %v", ErrInvalid, err)
	}
	var out []Bundle
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".yaml")
		if e.IsDir() || !ok {
			continue
		}
		b, _, err := l.loadBundle(name, "")
		if err != nil {
			return nil, err
		}
		if b.Path != "" {
			out = append(out, *b)
		}
	}
	slices.SortStableFunc(out, func(a, b Bundle) int { return slices.Index(Paths, a.Path) - slices.Index(Paths, b.Path) })
	return out, nil
}

// pathIndex maps each control of the catalog to the embedded paths whose bundles run it.
func (l Library) pathIndex() (map[string][]string, error) {
	bundles, err := l.PathBundles()
	if err != nil {
		return nil, err
	}
	index := map[string][]string{}
	for _, b := range bundles {
		for _, id := range l.catalogOrder() {
			if slices.Contains(b.Controls, id) || slices.Contains(b.Checks, l.Owners[id]) {
				index[id] = append(index[id], b.Path)
			}
		}
	}
	return index, nil
}

// ReplaceBundles replaces the plan's bundles and checks (the scenario's bundles: and checks:)
// with the named bundles, as rig run --bundle does: a path typed on the command line resolves
// from the current folder, a name beside the scenario file first, then in the embedded defaults.
func (l Library) ReplaceBundles(plan *Plan, names, knownChecks []string) error {
	dir := ""
	if !strings.HasPrefix(plan.Scenario.Source, "embedded:") {
		dir = filepath.Dir(plan.Scenario.Source)
	}
	plan.Bundles = nil
	sel := newSelection(plan)
	for _, n := range names {
		bdir := dir
		if isPath(n) {
			bdir = "" // a path on the command line is relative to the working folder
		}
		b, bd, err := l.loadBundle(n, bdir)
		if err == nil {
			err = l.addBundle(sel, b, bd, knownChecks) // an unknown name is placed on its line
		}
		if err != nil {
			return fmt.Errorf("--bundle %s: %w", n, err)
		}
	}
	if len(plan.Checks) == 0 {
		return errors.New("--bundle: no check to run")
	}
	return l.finish(sel)
}
