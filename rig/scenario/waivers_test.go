package scenario

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/checks/catalog"
	"github.com/pathrig/rig/scenarios"
)

// lib knows the catalog's names, as the CLI's library does.
var lib = func() Library {
	cat, err := checks.Catalog()
	if err != nil {
		panic(err)
	}
	l := Library{Embedded: scenarios.FS, Hops: catalog.Hops}
	for _, c := range cat {
		l.Controls = append(l.Controls, c.ID)
	}
	for _, c := range checks.All() {
		l.Checks = append(l.Checks, c.ID)
	}
	return l
}()

const goodWaivers = `waivers:
  - control: TRANSPORT-PLAINTEXT
    reason: the legacy gateways speak plaintext until the fleet update
    owner: ops@example.com
    expires: 2026-09-30
  - control: GUARD-RATE
    reason: the broker has no rate plugin yet
    expires: 2026-06-30
    target: broker.example:8883
`

func TestLoadWaivers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.yaml")
	os.WriteFile(path, []byte(goodWaivers), 0o644)
	ws, err := lib.LoadWaivers(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 || ws[0].Expires.String() != "2026-09-30" || ws[1].Target != "broker.example:8883" || ws[0].Source != path+":2" || ws[1].Source != path+":6" {
		t.Errorf("waivers = %+v", ws)
	}
}

// TestBadWaiverFiles: a malformed waiver file names file, line and field, and wraps ErrInvalid.
func TestBadWaiverFiles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(string) string
		line  int
		field string
		msg   string
	}{
		{"missing reason", cut("    reason: the broker has no rate plugin yet\n"), 6, "waivers[1].reason", "missing"},
		{"empty reason", swap("reason: the broker has no rate plugin yet", "reason: '  '"), 6, "waivers[1].reason", "missing"},
		{"bad date", swap("expires: 2026-06-30", "expires: 30/06/2026"), 8, "waivers[1].expires", "not a date"},
		{"impossible date", swap("expires: 2026-06-30", "expires: 2026-02-30"), 8, "waivers[1].expires", "not a date"},
		{"a number for a date", swap("expires: 2026-06-30", "expires: 20260630"), 8, "waivers[1].expires", "not a date"},
		{"missing expiry", cut("    expires: 2026-09-30\n"), 2, "waivers[0].expires", "every accepted risk expires"},
		{"missing control", swap("  - control: GUARD-RATE\n    reason", "  - reason"), 6, "waivers[1].control", "missing"},
		{"unknown control", swap("control: GUARD-RATE", "control: GUARD-SPEED"), 6, "waivers[1].control", `unknown control "GUARD-SPEED"`},
		{"unknown key", swap("    owner: ops@example.com\n", "    owner: ops@example.com\n    approved: yes\n"), 5, "waivers[0].approved", "unknown field"},
		{"empty target", swap("target: broker.example:8883", "target: ''"), 9, "waivers[1].target", "empty"},
		{"a second waiver for the same control", swap("control: GUARD-RATE", "control: TRANSPORT-PLAINTEXT").then(cut("    target: broker.example:8883\n")), 6, "waivers[1]", "a second waiver"},
		{"no waivers", func(string) string { return "waivers: []\n" }, 1, "waivers", "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "w.yaml")
			os.WriteFile(path, []byte(tc.edit(goodWaivers)), 0o644)
			_, err := lib.LoadWaivers(path)
			var fe *FileError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want a *FileError wrapping ErrInvalid", err)
			}
			if fe.File != path || fe.Line != tc.line || fe.Field != tc.field || !strings.Contains(fe.Msg, tc.msg) {
				t.Errorf("err = %v (line %d, field %q), want %s:%d field %s: …%s…", err, fe.Line, fe.Field, path, tc.line, tc.field, tc.msg)
			}
			if want := fmt.Sprintf("%s:%d: field %s", path, tc.line, tc.field); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("err = %q, want it to start %q", err, want)
			}
		})
	}
	// A file that is not one: too large is refused without reading it whole.
	big := filepath.Join(t.TempDir(), "big.yaml")
	os.WriteFile(big, []byte(goodWaivers+"#"+strings.Repeat("x", MaxDefinitionBytes)+"\n"), 0o644)
	if _, err := lib.LoadWaivers(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a %d-byte waiver file: err = %v", MaxDefinitionBytes, err)
	}
}

// TestScenarioWaiversAndDecision: a scenario's waivers: file resolves beside the scenario, its
// decision: rules come before the defaults, and errors in either name the scenario's line.
func TestScenarioWaiversAndDecision(t *testing.T) {
	rules := "decision:\n  - id: rate-is-fine\n    decision: fix internally\n    why: the rate limit is planned\n    match: {controls: [GUARD-RATE]}\n"
	path := writeTree(t, goodScenario+"waivers: w.yaml\n"+rules, goodProfile)
	os.WriteFile(filepath.Join(filepath.Dir(path), "w.yaml"), []byte(goodWaivers), 0o644)
	plan, err := lib.Load(path, "", known)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Waivers) != 2 || plan.Waivers[0].Control != "TRANSPORT-PLAINTEXT" {
		t.Errorf("waivers = %+v", plan.Waivers)
	}
	if len(plan.Decision) < 2 || plan.Decision[0].ID != "rate-is-fine" || plan.Decision[0].Source != path+":6" || !strings.HasPrefix(plan.Decision[1].Source, "embedded:"+DefaultDecisionFile) {
		t.Errorf("decision rules = %+v", plan.Decision)
	}
	for _, tc := range []struct {
		name, extra, want string
	}{
		{"a waiver file that is not there", "waivers: nope.yaml\n", path + ":4: field waivers: cannot read the waiver file"},
		{"a bad waiver file names its own line", "waivers: bad.yaml\n", "bad.yaml:2: field waivers[0].expires: missing"},
		{"a rule without a decision", "decision:\n  - {id: x, why: w}\n", path + ":5: field decision[0].decision: missing"},
		{"an unknown decision", "decision:\n  - {id: x, decision: panic, why: w}\n", path + `:5: field decision[0].decision: "panic" is not one of hold, focused sprint, fix internally, ship`},
		{"an unknown hop", "decision:\n  - {id: x, decision: hold, why: w, match: {hops: [cloud]}}\n", `field decision[0].match.hops[0]: unknown hop "cloud"`},
		{"an unknown control", "decision:\n  - {id: x, decision: hold, why: w, match: {controls: [NOPE-X]}}\n", `field decision[0].match.controls[0]: unknown control "NOPE-X"`},
		{"a rule on passing controls", "decision:\n  - {id: x, decision: hold, why: w, match: {status: [pass]}}\n", `field decision[0].match.status[0]: "pass"`},
		{"two rules with one id", "decision:\n  - {id: x, decision: hold, why: w}\n  - {id: x, decision: ship, why: w}\n", `field decision[1].id: "x" is already the id`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeTree(t, goodScenario+tc.extra, goodProfile)
			os.WriteFile(filepath.Join(filepath.Dir(p), "bad.yaml"), []byte("waivers:\n  - {control: GUARD-RATE, reason: r}\n"), 0o644)
			_, err := lib.Load(p, "", known)
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), strings.ReplaceAll(tc.want, path, p)) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestDefaultDecisionLoads: the embedded default rules are valid against the catalog's names.
func TestDefaultDecisionLoads(t *testing.T) {
	rules, err := lib.DefaultDecision()
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) == 0 || rules[len(rules)-1].Decision != "fix internally" {
		t.Errorf("default rules = %+v", rules)
	}
}

type edit func(string) string

func (e edit) then(f edit) edit { return func(s string) string { return f(e(s)) } }

func cut(s string) edit     { return func(in string) string { return strings.Replace(in, s, "", 1) } }
func swap(a, b string) edit { return func(in string) string { return strings.Replace(in, a, b, 1) } }
