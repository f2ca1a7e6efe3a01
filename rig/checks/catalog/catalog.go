// Package catalog owns the control definitions as data: the embedded catalog.yaml, its strict
// loading and validation against the checks that declare the controls and thresholds they
// evaluate, and the generated controls reference (docs/controls-reference.md).
package catalog

import (
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/pathrig/rig/rig/record"
)

// Control is the definition of one control, loaded from the embedded catalog.
type Control struct {
	ID           string          `yaml:"id" json:"id"`
	Check        string          `yaml:"check" json:"check"`
	Title        string          `yaml:"title" json:"title"`
	Verifies     string          `yaml:"verifies" json:"verifies"`
	Pass         string          `yaml:"pass" json:"pass"`
	Severity     record.Severity `yaml:"severity" json:"severity"`
	Remediation  string          `yaml:"remediation" json:"remediation"`
	Verification string          `yaml:"verification" json:"verification"`
	References   []string        `yaml:"references" json:"references"`
	// Hop is where a failure is fixed: device, gateway, broker, ingest, or path when the fix
	// truly spans hops. Effort is its usual size: S (a configuration change, hours), M
	// (reissued credentials or a change in one service, days) or L (across hops or the fleet,
	// a sprint). The backlog reads both from here.
	Hop    string `yaml:"hop" json:"hop"`
	Effort string `yaml:"effort" json:"effort"`
	// Thresholds are the numbers the control's verdict depends on (e.g. expiry_warn_days: 60),
	// read by its check through Env; the catalog's texts quote them as {name}.
	Thresholds map[string]int `yaml:"thresholds" json:"thresholds,omitempty"`
}

// Declared is what a check declares to the catalog: the controls it evaluates, in catalog order,
// and per control the thresholds it reads. The catalog must define exactly these.
type Declared struct {
	ID         string
	Controls   []string
	Thresholds map[string][]string
}

//go:embed catalog.yaml
var catalogYAML []byte

// Name names the embedded file in errors, so a bad edit points at file and line.
const Name = "rig/checks/catalog/catalog.yaml"

// YAML returns the embedded catalog file.
func YAML() []byte { return slices.Clone(catalogYAML) }

type catalogFile struct {
	Controls []Control `yaml:"controls"`
}

// knownReferences are the standard provisions controls may cite. A reference outside this list
// is a typo or an unverified citation, both of which must not reach a report.
var knownReferences = func() map[string]bool {
	m := map[string]bool{}
	add := func(prefix string, ids ...string) {
		for _, id := range ids {
			m[prefix+id] = true
		}
	}
	add("ETSI EN 303 645 ", "5.1-5", "5.2-1", "5.2-3", "5.3-13", "5.4-2", "5.4-4", "5.5-1", "5.5-4", "5.5-5", "5.5-8", "5.6-1", "5.6-2", "5.9", "5.10-1", "5.13-1")
	add("EU CRA Annex I Part I ", "(2)(b)", "(2)(d)", "(2)(e)", "(2)(h)", "(2)(i)", "(2)(j)", "(2)(l)")
	// Part II: vulnerability handling (1) components and SBOM, (2) remediation, (5) coordinated
	// disclosure policy, (6) a contact address for reports; Article 13(8): the support period.
	add("EU CRA Annex I Part II ", "(1)", "(2)", "(5)", "(6)")
	add("EU CRA ", "Article 13(8)")
	add("IEC 62443-4-2 CR ", "1.1", "1.2", "1.5", "1.8", "1.9", "1.11", "2.1", "3.1", "3.5", "4.1", "4.3", "6.2", "7.1", "7.2", "7.7", "2.8", "2.9", "2.10", "2.11")
	// IEC 62443-4-1 practices: SM-9 externally provided components, DM-1 receiving, DM-4
	// addressing and DM-5 disclosing security-related issues.
	add("IEC 62443-4-1 ", "SM-9", "DM-1", "DM-4", "DM-5")
	add("OWASP IoT Top 10 2018 ", "I1", "I2", "I3", "I7", "I8", "I9")
	add("OWASP ", "Logging Cheat Sheet")
	// AWS IoT Device Defender audit checks, by their check names.
	add("AWS IoT Device Defender audit ", "CONFLICTING_CLIENT_IDS_CHECK")
	return m
}()

var controlID = regexp.MustCompile(`^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$`)

// Hops are where a control's failure is fixed (Control.Hop): the four hops of the path, and path
// itself when the fix truly spans hops.
var Hops = []string{"device", "gateway", "broker", "ingest", "path"}

// Efforts are the sizes of a fix (Control.Effort): S a configuration change (hours), M reissued
// credentials or a change in one service (days), L a change across hops or the fleet (a sprint).
var Efforts = []string{"S", "M", "L"}

var thresholdName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// placeholder is a threshold quoted in a catalog text: {expiry_warn_days}.
var placeholder = regexp.MustCompile(`\{([a-z][a-z0-9_]*)\}`)

// embedded is the embedded catalog, parsed and its fields validated once, without the checks'
// declarations: Lookup serves an Env made by hand (a test calling a probe directly). The
// evaluator validates the catalog against every registered check with Parse.
var embedded = sync.OnceValues(func() ([]Control, error) {
	return parse(Name, catalogYAML, nil, false)
})

// Clone copies a definition with its slices and map, so a caller cannot edit the catalog.
func (c Control) Clone() Control {
	c.References = slices.Clone(c.References)
	c.Thresholds = maps.Clone(c.Thresholds)
	return c
}

// Lookup returns one definition of the embedded catalog.
func Lookup(id string) (Control, bool) {
	controls, err := embedded()
	if err != nil {
		return Control{}, false
	}
	for _, c := range controls {
		if c.ID == id {
			return c.Clone(), true
		}
	}
	return Control{}, false
}

// Parse decodes data strictly and validates every control against the checks that must
// evaluate them: each control names a declared check, and each declared check's Controls are
// exactly the catalog's controls for it.
func Parse(name string, data []byte, checks []Declared) ([]Control, error) {
	return parse(name, data, checks, true)
}

// parse is Parse; with cross false the controls are not compared with any check's declaration.
func parse(name string, data []byte, checks []Declared, cross bool) ([]Control, error) {
	var f catalogFile
	if err := yaml.UnmarshalWithOptions(data, &f, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("catalog: %s: %s (fix the file; positions are [line:column]; unknown and duplicate keys are refused)", name, yaml.FormatError(err, false, false))
	}
	if len(f.Controls) == 0 {
		return nil, fmt.Errorf("catalog: %s: no controls (want a top-level `controls:` list)", name)
	}
	lines := controlLines(data)
	byCheck := map[string]Declared{}
	for _, c := range checks {
		byCheck[c.ID] = c
	}
	seen := map[string]bool{}
	perCheck := map[string][]string{}
	var errs []error
	for i, c := range f.Controls {
		where := fmt.Sprintf("%s: controls[%d]", name, i)
		if i < len(lines) && lines[i] > 0 {
			where = fmt.Sprintf("%s:%d: controls[%d]", name, lines[i], i)
		}
		bad := func(field, format string, args ...any) {
			errs = append(errs, fmt.Errorf("catalog: %s (id %q) field %s: %s", where, c.ID, field, fmt.Sprintf(format, args...)))
		}
		switch {
		case !controlID.MatchString(c.ID):
			bad("id", "want upper-case words joined by '-', like TRANSPORT-PLAINTEXT")
		case seen[c.ID]:
			bad("id", "duplicate control ID (IDs are stable keys of results and deltas)")
		}
		seen[c.ID] = true
		if _, ok := byCheck[c.Check]; cross && !ok {
			bad("check", "unknown check %q (registered: %s)", c.Check, strings.Join(checkIDs(checks), ", "))
		}
		for _, f := range [][2]string{{"title", c.Title}, {"verifies", c.Verifies}, {"pass", c.Pass}, {"remediation", c.Remediation}, {"verification", c.Verification}} {
			if strings.TrimSpace(f[1]) == "" {
				bad(f[0], "missing")
			}
		}
		if c.Severity.Rank() < 0 {
			bad("severity", "%q is not one of critical, high, medium, low, info", c.Severity)
		}
		switch {
		case c.Hop == "":
			bad("hop", "missing: where a failure is fixed, one of %s", strings.Join(Hops, ", "))
		case !slices.Contains(Hops, c.Hop):
			bad("hop", "%q is not one of %s", c.Hop, strings.Join(Hops, ", "))
		}
		switch {
		case c.Effort == "":
			bad("effort", "missing: the usual size of the fix, one of %s", strings.Join(Efforts, ", "))
		case !slices.Contains(Efforts, c.Effort):
			bad("effort", "%q is not one of %s", c.Effort, strings.Join(Efforts, ", "))
		}
		for _, k := range slices.Sorted(maps.Keys(c.Thresholds)) {
			if !thresholdName.MatchString(k) {
				bad("thresholds."+k, "want a snake_case name such as expiry_warn_days")
			}
			if c.Thresholds[k] <= 0 {
				bad("thresholds."+k, "%d: a threshold is a positive number", c.Thresholds[k])
			}
		}
		if ch, ok := byCheck[c.Check]; ok {
			want := ch.Thresholds[c.ID]
			for _, k := range want {
				if _, ok := c.Thresholds[k]; !ok {
					bad("thresholds", "missing %s: check %s reads it", k, c.Check)
				}
			}
			for k := range c.Thresholds {
				if !slices.Contains(want, k) {
					bad("thresholds."+k, "check %s does not read it (a number in the catalog that no code uses would mislead the reader)", c.Check)
				}
			}
		}
		// Texts quote thresholds as {name}: the number is written once, in thresholds.
		def := &f.Controls[i]
		for _, t := range []struct {
			field string
			text  *string
		}{{"title", &def.Title}, {"verifies", &def.Verifies}, {"pass", &def.Pass}, {"remediation", &def.Remediation}, {"verification", &def.Verification}} {
			*t.text = placeholder.ReplaceAllStringFunc(*t.text, func(m string) string {
				k := m[1 : len(m)-1]
				v, ok := c.Thresholds[k]
				if !ok {
					bad(t.field, "quotes {%s}, which is not one of the control's thresholds", k)
					return m
				}
				return strconv.Itoa(v)
			})
		}
		if len(c.References) == 0 {
			bad("references", "missing (cite at least one provision)")
		}
		for _, r := range c.References {
			if !knownReferences[r] {
				bad("references", "unknown reference %q (use an identifier listed at the top of the catalog, e.g. %q)", r, "ETSI EN 303 645 5.5-1")
			}
		}
		perCheck[c.Check] = append(perCheck[c.Check], c.ID)
	}
	for _, ch := range checks {
		got, want := perCheck[ch.ID], ch.Controls
		if !slices.Equal(got, want) {
			errs = append(errs, fmt.Errorf("catalog: %s: check %q evaluates %v but the catalog lists %v for it (keep both in the same order)", name, ch.ID, want, got))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return f.Controls, nil
}

// controlLines returns the line of each entry of the controls list, best effort, so that a
// validation error (as opposed to a syntax error, which goccy locates itself) names a line too.
func controlLines(data []byte) []int {
	file, err := parser.ParseBytes(data, 0)
	if err != nil || len(file.Docs) == 0 {
		return nil
	}
	m, ok := file.Docs[0].Body.(*ast.MappingNode)
	if !ok {
		return nil
	}
	for _, kv := range m.Values {
		if kv.Key.String() != "controls" {
			continue
		}
		seq, ok := kv.Value.(*ast.SequenceNode)
		if !ok {
			return nil
		}
		lines := make([]int, len(seq.Values))
		for i, v := range seq.Values {
			if tk := v.GetToken(); tk != nil && tk.Position != nil {
				lines[i] = tk.Position.Line
			}
		}
		return lines
	}
	return nil
}

func checkIDs(checks []Declared) []string {
	ids := make([]string, len(checks))
	for i, c := range checks {
		ids[i] = c.ID
	}
	return ids
}
