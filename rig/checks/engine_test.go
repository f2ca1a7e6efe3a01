package checks

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pathrig/rig/rig/checks/catalog"
	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/checktest"
	"github.com/pathrig/rig/rig/record"
)

func sameJSON(t *testing.T, a, b any) bool { return checktest.JSONOf(t, a) == checktest.JSONOf(t, b) }

// TestEvaluateRefuses: bad check lists are refused before any probe runs or any file is written.
func TestEvaluateRefuses(t *testing.T) {
	tests := []struct {
		name string
		ids  []string
		want string
	}{
		{"unknown check", []string{"transport", "no-such-check"}, `unknown check "no-such-check"`},
		{"named twice", []string{"transport", "transport"}, `named twice`},
		{"nothing named", nil, "no check named"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, dir := checktest.NewEnv(t, check.Targets{Broker: check.Broker{Plain: checktest.ClosedPort(t)}}, nil)
			results, err := Evaluate(context.Background(), env, tc.ids)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if results != nil {
				t.Errorf("got %d results, want none", len(results))
			}
			entries, _ := os.ReadDir(filepath.Join(dir, "evidence"))
			if len(entries) != 0 {
				t.Errorf("evidence written before the refusal: %v", entries)
			}
		})
	}
	if _, err := Evaluate(context.Background(), &check.Env{}, []string{"transport"}); err == nil {
		t.Error("Evaluate without an evidence store: want an error")
	}
}

// TestEvaluateDefects: what a broken check does becomes an error result, not a crash or a pass.
func TestEvaluateDefects(t *testing.T) {
	catalog := []catalog.Control{
		{ID: "T-ONE", Check: "t", Title: "one", Severity: record.SeverityMedium},
		{ID: "T-TWO", Check: "t", Title: "two", Severity: record.SeverityMedium},
	}
	tests := []struct {
		name string
		run  func(context.Context, *check.Env) map[string]check.Outcome
		want map[string]record.Result // Status, Severity and a Reason fragment
	}{
		{
			name: "missing outcome",
			run: func(context.Context, *check.Env) map[string]check.Outcome {
				return map[string]check.Outcome{"T-ONE": {Status: record.StatusPass, Reason: "fine"}}
			},
			want: map[string]record.Result{
				"T-ONE": {Status: record.StatusPass, Severity: record.SeverityMedium, Reason: "fine"},
				"T-TWO": {Status: record.StatusError, Severity: record.SeverityMedium, Reason: "no outcome"},
			},
		},
		{
			name: "panic",
			run:  func(context.Context, *check.Env) map[string]check.Outcome { panic("probe exploded") },
			want: map[string]record.Result{
				"T-ONE": {Status: record.StatusError, Severity: record.SeverityMedium, Reason: "panicked: probe exploded"},
				"T-TWO": {Status: record.StatusError, Severity: record.SeverityMedium, Reason: "panicked: probe exploded"},
			},
		},
		{
			name: "severity override on fail only, unknown status and severity refused",
			run: func(context.Context, *check.Env) map[string]check.Outcome {
				return map[string]check.Outcome{
					"T-ONE": {Status: record.StatusFail, Reason: "bad", Severity: record.SeverityCritical},
					"T-TWO": {Status: "maybe", Reason: "?"},
				}
			},
			want: map[string]record.Result{
				"T-ONE": {Status: record.StatusFail, Severity: record.SeverityCritical, Reason: "bad"},
				"T-TWO": {Status: record.StatusError, Severity: record.SeverityMedium, Reason: `unknown status "maybe"`},
			},
		},
		{
			name: "bad severity override",
			run: func(context.Context, *check.Env) map[string]check.Outcome {
				return map[string]check.Outcome{
					"T-ONE": {Status: record.StatusFail, Reason: "bad", Severity: "dire"},
					"T-TWO": {Status: record.StatusPass, Reason: "ok", Severity: record.SeverityLow},
				}
			},
			want: map[string]record.Result{
				"T-ONE": {Status: record.StatusError, Severity: record.SeverityMedium, Reason: `unknown severity "dire"`},
				"T-TWO": {Status: record.StatusPass, Severity: record.SeverityMedium, Reason: "ok"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := checktest.NewEnv(t, check.Targets{}, nil)
			checks := []check.Check{{ID: "t", Title: "test", Controls: []string{"T-ONE", "T-TWO"}, Run: tc.run}}
			results, err := evaluate(context.Background(), env, []string{"t"}, checks, catalog)
			if err != nil {
				t.Fatal(err)
			}
			got := checktest.ByControl(t, results)
			for id, w := range tc.want {
				g := got[id]
				if g.Status != w.Status || g.Severity != w.Severity || !strings.Contains(g.Reason, w.Reason) {
					t.Errorf("%s: got %s/%s %q, want %s/%s containing %q", id, g.Status, g.Severity, g.Reason, w.Status, w.Severity, w.Reason)
				}
				if g.Title == "" || g.Check != "t" || g.Evidence == nil {
					t.Errorf("%s: title %q check %q evidence %v: want title and check from the definition, evidence a list", id, g.Title, g.Check, g.Evidence)
				}
			}
		})
	}
}

// TestEvaluateCancelled: checks not yet run when the run stops report error, and Evaluate says why.
func TestEvaluateCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	env, _ := checktest.NewEnv(t, check.Targets{}, nil)
	results, err := Evaluate(ctx, env, []string{"transport"})
	if err == nil {
		t.Error("want the context's error")
	}
	for _, r := range results {
		if r.Status != record.StatusError {
			t.Errorf("%s: %s, want error", r.Control, r.Status)
		}
	}
}

func TestAllMatchesCatalog(t *testing.T) {
	cat, err := Catalog()
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]catalog.Control{}
	for _, c := range cat {
		defined[c.ID] = c
	}
	n := 0
	for _, ch := range All() {
		if ch.Run == nil || ch.Title == "" {
			t.Errorf("check %s: want Run and Title", ch.ID)
		}
		for _, id := range ch.Controls {
			n++
			if defined[id].Check != ch.ID {
				t.Errorf("control %s: catalog says check %q, registry says %q", id, defined[id].Check, ch.ID)
			}
		}
	}
	if n != len(cat) {
		t.Errorf("registry evaluates %d controls, catalog defines %d", n, len(cat))
	}
}
