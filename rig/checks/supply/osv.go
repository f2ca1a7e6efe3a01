package supply

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// EcosystemGo is OSV's ecosystem of Go modules (and of the standard library, as module StdLib).
const EcosystemGo = "Go"

// StdLib is the module name OSV's Go ecosystem gives the standard library.
const StdLib = "stdlib"

// ErrNotOSV marks a JSON document that is not an OSV entry (no "id"): an index file of a
// database snapshot, for instance. It is not an error of the database.
var ErrNotOSV = errors.New("not an OSV entry")

// Advisory is one OSV entry (ossf.github.io/osv-schema): what the supplier check needs of it.
type Advisory struct {
	ID        string     `json:"id"`
	Modified  time.Time  `json:"modified"`
	Published *time.Time `json:"published"`
	Withdrawn *time.Time `json:"withdrawn"`
	Aliases   []string   `json:"aliases"`
	Summary   string     `json:"summary"`
	Affected  []Affected `json:"affected"`
}

// Affected is one package an advisory affects.
type Affected struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
	} `json:"package"`
	Ranges   []Range  `json:"ranges"`
	Versions []string `json:"versions"`
}

// Range is a version range of an affected package, as events.
type Range struct {
	Type   string  `json:"type"` // SEMVER, ECOSYSTEM or GIT
	Events []Event `json:"events"`
}

// Event is one event of a range: exactly one of its fields is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// ParseAdvisory reads one OSV entry. A JSON document that is not an object with an "id" is
// ErrNotOSV; malformed JSON, or an entry whose fields have the wrong types, is an error.
func ParseAdvisory(b []byte) (*Advisory, error) {
	if !json.Valid(b) {
		return nil, errors.New("not valid JSON")
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, ErrNotOSV
	}
	var probe struct {
		ID json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("OSV entry: %w", err)
	}
	if len(probe.ID) == 0 || string(probe.ID) == "null" {
		return nil, ErrNotOSV
	}
	var a Advisory
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("OSV entry: %w", err)
	}
	if strings.TrimSpace(a.ID) == "" {
		return nil, errors.New("OSV entry: empty id")
	}
	for i, af := range a.Affected {
		for j, r := range af.Ranges {
			for k, e := range r.Events {
				n := 0
				for _, v := range []string{e.Introduced, e.Fixed, e.LastAffected, e.Limit} {
					if v != "" {
						n++
					}
				}
				if n != 1 {
					return nil, fmt.Errorf("OSV entry %s: affected[%d].ranges[%d].events[%d] sets %d of introduced, fixed, last_affected, limit (want exactly one)", a.ID, i, j, k, n)
				}
			}
		}
	}
	return &a, nil
}

// Match is what an advisory says about one module version.
type Match struct {
	Affected bool
	// Fixed are the versions that fix it, from the ranges that hold the version, lowest first;
	// empty when no fixed version is known.
	Fixed []string
}

// Match reports whether the advisory affects version of the package name in ecosystem, by its
// explicit versions and by its SEMVER and ECOSYSTEM ranges (the ecosystem's versions read as
// semantic versions, as OSV's Go ecosystem writes them); GIT ranges are not evaluated. A
// version or event that does not read as a semantic version is an error: the advisory cannot
// be judged, so the caller must not count it as "not affected".
func (a *Advisory) Match(ecosystem, name, version string) (Match, error) {
	var m Match
	v, ok := ParseVersion(version)
	if !ok {
		return m, fmt.Errorf("%s@%s: %q is not a semantic version", name, version, version)
	}
	for _, af := range a.Affected {
		if af.Package.Ecosystem != ecosystem || af.Package.Name != name {
			continue
		}
		for _, listed := range af.Versions {
			if lv, ok := ParseVersion(listed); ok && lv.Compare(v) == 0 {
				m.Affected = true
			}
		}
		for i, r := range af.Ranges {
			if r.Type != "SEMVER" && r.Type != "ECOSYSTEM" {
				continue
			}
			hit, fixed, err := inRange(v, r.Events)
			if err != nil {
				return Match{}, fmt.Errorf("advisory %s, %s ranges[%d]: %w", a.ID, name, i, err)
			}
			if hit {
				m.Affected = true
				m.Fixed = append(m.Fixed, fixed...)
			}
		}
	}
	slices.SortFunc(m.Fixed, func(x, y string) int {
		a, _ := ParseVersion(x)
		b, _ := ParseVersion(y)
		return a.Compare(b)
	})
	m.Fixed = slices.Compact(m.Fixed)
	return m, nil
}

// inRange evaluates one range's events for v as OSV specifies: events sorted by version
// ("introduced: 0" first); an introduced at or below v opens the range, a fixed at or below v or
// a last_affected below v closes it; v at or above a limit is outside it. fixed is the first
// fixed event above v: the version that closes the span v is in.
func inRange(v Version, events []Event) (hit bool, fixed []string, err error) {
	type ev struct {
		kind string
		at   Version
		zero bool
		raw  string
	}
	evs := make([]ev, 0, len(events))
	for _, e := range events {
		var x ev
		switch {
		case e.Introduced != "":
			x = ev{kind: "introduced", raw: e.Introduced}
		case e.Fixed != "":
			x = ev{kind: "fixed", raw: e.Fixed}
		case e.LastAffected != "":
			x = ev{kind: "last_affected", raw: e.LastAffected}
		default:
			x = ev{kind: "limit", raw: e.Limit}
		}
		if x.kind == "introduced" && x.raw == "0" {
			x.zero = true
		} else if x.kind == "limit" && x.raw == "*" {
			continue // no limit
		} else {
			var ok bool
			if x.at, ok = ParseVersion(x.raw); !ok {
				return false, nil, fmt.Errorf("%s %q is not a semantic version", x.kind, x.raw)
			}
		}
		evs = append(evs, x)
	}
	slices.SortStableFunc(evs, func(a, b ev) int {
		switch {
		case a.zero && b.zero:
			return 0
		case a.zero:
			return -1
		case b.zero:
			return 1
		}
		return a.at.Compare(b.at)
	})
	for _, e := range evs {
		switch e.kind {
		case "introduced":
			if e.zero || v.Compare(e.at) >= 0 {
				hit = true
			}
		case "fixed":
			if v.Compare(e.at) >= 0 {
				hit = false
			}
		case "last_affected":
			if v.Compare(e.at) > 0 {
				hit = false
			}
		}
	}
	for _, e := range evs {
		switch {
		case e.kind == "limit" && v.Compare(e.at) >= 0:
			hit = false
		case e.kind == "fixed" && v.Compare(e.at) < 0 && fixed == nil:
			fixed = []string{e.raw} // the first fix above v closes the span v is in
		}
	}
	if !hit {
		fixed = nil
	}
	return hit, fixed, nil
}
