package scenario

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/checks/catalog"
	"github.com/pathrig/rig/scenarios"
)

// catalogLibrary is the library as rig run makes it: the embedded files and the catalog's names.
func catalogLibrary(t *testing.T) (Library, []string) {
	t.Helper()
	cat, err := checks.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	l := Library{Embedded: scenarios.FS, Owners: map[string]string{}, Hops: catalog.Hops}
	for _, c := range cat {
		l.Controls = append(l.Controls, c.ID)
		l.Owners[c.ID] = c.Check
	}
	var ids []string
	for _, c := range checks.All() {
		ids = append(ids, c.ID)
	}
	l.Checks = ids
	return l, ids
}

// TestEveryControlInAPath: the five path bundles are embedded, load, and together cover the
// whole catalog: every control belongs to at least one path.
func TestEveryControlInAPath(t *testing.T) {
	l, ids := catalogLibrary(t)
	bundles, err := l.PathBundles()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range bundles {
		got = append(got, b.Path)
		if b.Name != PathBundle(b.Path) {
			t.Errorf("bundle %s selects path %s: name it %s", b.Name, b.Path, PathBundle(b.Path))
		}
		if _, err := l.LoadBundle(b.Name, "", ids); err != nil {
			t.Errorf("%s: %v", b.Name, err)
		}
	}
	if !slices.Equal(got, Paths) {
		t.Fatalf("path bundles %v, want one per path in order %v", got, Paths)
	}
	index, err := l.pathIndex()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range l.Controls {
		if len(index[id]) == 0 {
			t.Errorf("control %s (check %s) belongs to no path bundle", id, l.Owners[id])
		}
	}
}

// TestPathPlan: a path bundle runs the checks owning its controls, evaluates only those, and
// names what it leaves out with the paths that cover it.
func TestPathPlan(t *testing.T) {
	l, ids := catalogLibrary(t)
	plan, err := l.Load("audit-baseline", "", ids)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Controls != nil || plan.Scope != nil {
		t.Fatalf("audit-baseline (whole checks) has controls %v scope %+v", plan.Controls, plan.Scope)
	}
	if err := l.ReplaceBundles(plan, []string{"path-ingest"}, ids); err != nil {
		t.Fatal(err)
	}
	if want := []string{"ingest-auth", "ingest-matrix", "telemetry-trust"}; !slices.Equal(plan.Checks, want) {
		t.Errorf("checks %v, want %v", plan.Checks, want)
	}
	if want := []string{"INGEST-UNAUTH", "INGEST-WRONGCRED", "INGEST-OVERSIZE", "INGEST-OTHER-TENANT", "INGEST-EXPIRED", "INGEST-PLAINTEXT", "TRUST-DUPLICATES"}; !slices.Equal(plan.Controls, want) {
		t.Errorf("controls %v, want %v", plan.Controls, want)
	}
	if !plan.Evaluates("TRUST-DUPLICATES", "telemetry-trust") || plan.Evaluates("TRUST-LOSS", "telemetry-trust") || plan.Evaluates("GUARD-ANON", "guardrails") {
		t.Error("Evaluates disagrees with the selection")
	}
	if plan.Scope == nil || !slices.Equal(plan.Scope.Paths, []string{"ingest"}) {
		t.Fatalf("scope %+v", plan.Scope)
	}
	gaps := map[string][]ScopeGap{}
	n := 0
	for _, g := range plan.Scope.OutOfScope {
		gaps[g.Check] = append(gaps[g.Check], g)
		n += len(g.Controls)
	}
	if n+len(plan.Controls) != len(l.Controls) {
		t.Errorf("%d out of scope + %d in scope != %d controls of the catalog", n, len(plan.Controls), len(l.Controls))
	}
	for check, want := range map[string][]ScopeGap{
		"telemetry-trust": {{"telemetry-trust", []string{"TRUST-LOSS", "TRUST-LATENCY"}, []string{"gateway", "observability"}}, {"telemetry-trust", []string{"TRUST-VALUES", "TRUST-RECOVERY"}, []string{"gateway"}}},
		"guardrails": {{"guardrails", []string{"GUARD-ANON", "GUARD-SUB-WILDCARD"}, []string{"mqtt", "identity"}}, {"guardrails", []string{"GUARD-MAX-PACKET"}, []string{"mqtt"}},
			{"guardrails", []string{"GUARD-HEALTH"}, []string{"gateway", "observability"}}},
	} {
		got := gaps[check]
		if len(got) != len(want) {
			t.Errorf("%s out of scope: %+v, want %+v", check, got, want)
			continue
		}
		for i := range want {
			if !slices.Equal(got[i].Controls, want[i].Controls) || !slices.Equal(got[i].Paths, want[i].Paths) {
				t.Errorf("%s out of scope: %+v, want %+v", check, got, want)
			}
		}
	}
	if _, ok := gaps["ingest-auth"]; ok {
		t.Error("ingest-auth listed out of scope of the ingest path")
	}

	// A bundle naming the check whole next to the path: every control of it runs.
	if err := l.ReplaceBundles(plan, []string{"path-ingest", "telemetry-trust"}, ids); err != nil {
		t.Fatal(err)
	}
	if !plan.Evaluates("TRUST-LOSS", "telemetry-trust") || plan.Scope == nil || slices.ContainsFunc(plan.Scope.OutOfScope, func(g ScopeGap) bool { return g.Check == "telemetry-trust" }) {
		t.Errorf("telemetry-trust named whole: controls %v scope %+v", plan.Controls, plan.Scope)
	}
	// Two paths: both named, the union evaluated.
	if err := l.ReplaceBundles(plan, []string{"path-mqtt", "path-identity"}, ids); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(plan.Paths, []string{"mqtt", "identity"}) || !plan.Evaluates("DEVCERT-CHAIN", "device-certs") || !plan.Evaluates("CERT-SAN", "broker-cert") {
		t.Errorf("two paths: paths %v controls %v", plan.Paths, plan.Controls)
	}
}

// TestBundleControlsRefused: a bundle's controls: and path: are checked like its checks:, on
// their lines.
func TestBundleControlsRefused(t *testing.T) {
	l, ids := catalogLibrary(t)
	for _, tc := range []struct {
		name, bundle string
		line         int
		field, msg   string
	}{
		{"unknown control", "name: b\ncontrols: [GUARD-ANON, GUARD-ANONN]\n", 2, "controls[1]", `unknown control "GUARD-ANONN"`},
		{"control twice", "name: b\ncontrols:\n  - GUARD-ANON\n  - GUARD-ANON\n", 4, "controls[1]", "named twice"},
		{"control of a check named whole", "name: b\nchecks: [guardrails]\ncontrols: [GUARD-ANON]\n", 3, "controls[0]", "which checks: already runs whole"},
		{"unknown path", "name: b\npath: cloud\ncontrols: [GUARD-ANON]\n", 2, "path", `"cloud" is not one of gateway, mqtt, ingest, identity, observability`},
		{"neither checks nor controls", "name: b\npath: mqtt\n", 0, "checks", "names at least one check (checks:) or control (controls:)"},
		{"check twice", "name: b\nchecks: [transport, transport]\n", 2, "checks[1]", "named twice"},
		{"controls not a list", "name: b\ncontrols: GUARD-ANON\n", 2, "controls", "sequence is expected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTreeBundle(t, goodScenario, goodProfile, tc.bundle)
			_, err := l.Load(path, "", ids)
			var fe *FileError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want a FileError", err)
			}
			if filepath.Base(fe.File) != "b.yaml" || fe.Line != tc.line || fe.Field != tc.field || !strings.Contains(fe.Msg, tc.msg) {
				t.Errorf("got %s:%d field %q: %s; want b.yaml:%d field %q containing %q", filepath.Base(fe.File), fe.Line, fe.Field, fe.Msg, tc.line, tc.field, tc.msg)
			}
		})
	}
	// A library without the catalog cannot check control names: it says so rather than pass them.
	path := writeTreeBundle(t, goodScenario, goodProfile, "name: b\ncontrols: [GUARD-ANON]\n")
	if _, err := (Library{}).Load(path, "", ids); err == nil || !strings.Contains(err.Error(), "catalog was not given") {
		t.Errorf("no owners: err = %v", err)
	}
	// --bundle with a bad bundle names the flag and the file.
	plan, err := l.Load(path, "", ids)
	if err != nil {
		t.Fatal(err)
	}
	bad := writeTreeBundle(t, goodScenario, goodProfile, "name: b\ncontrols: [NOPE-X]\n")
	err = l.ReplaceBundles(plan, []string{filepath.Join(filepath.Dir(bad), "bundles", "b.yaml")}, ids)
	if err == nil || !strings.HasPrefix(err.Error(), "--bundle ") || !strings.Contains(err.Error(), `b.yaml:2: field controls[0]: unknown control "NOPE-X"`) {
		t.Errorf("--bundle with an unknown control: err = %v", err)
	}
}
