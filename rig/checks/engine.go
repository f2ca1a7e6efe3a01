// Package checks evaluates the control catalog against live endpoints: the registry of every
// check family, Evaluate, which runs the named checks and assembles one result per control, and
// the normalisation of the facts behind each verdict. The contract a family codes against is
// in check, the definitions in catalog, the probe library in probe; each family is a package of
// its own (transport, brokercert, ingestauth, guardrails, devicecerts, trustcheck, supplier).
package checks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pathrig/rig/rig/checks/brokercert"
	"github.com/pathrig/rig/rig/checks/catalog"
	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/devicecerts"
	"github.com/pathrig/rig/rig/checks/guardrails"
	"github.com/pathrig/rig/rig/checks/identity"
	"github.com/pathrig/rig/rig/checks/ingestauth"
	"github.com/pathrig/rig/rig/checks/observability"
	"github.com/pathrig/rig/rig/checks/supplier"
	"github.com/pathrig/rig/rig/checks/transport"
	"github.com/pathrig/rig/rig/checks/trustcheck"
	"github.com/pathrig/rig/rig/record"
)

// registry lists the checks in the order a bundle naming all of them runs them: one line per
// family.
func registry() []check.Check {
	return slices.Concat(
		transport.Checks(),
		brokercert.Checks(),
		ingestauth.Checks(),
		guardrails.Checks(),
		devicecerts.Checks(),
		trustcheck.Checks(),
		supplier.Checks(),
		identity.Checks(),
		observability.Checks(),
	)
}

// loadCatalog parses the embedded catalog once, validated against every registered check.
var loadCatalog = sync.OnceValues(func() ([]catalog.Control, error) {
	return catalog.Parse(catalog.Name, catalog.YAML(), declared(registry()))
})

// declared is what the checks declare to the catalog.
func declared(checks []check.Check) []catalog.Declared {
	out := make([]catalog.Declared, len(checks))
	for i, c := range checks {
		out[i] = catalog.Declared{ID: c.ID, Controls: c.Controls, Thresholds: c.Thresholds}
	}
	return out
}

// Catalog returns the control definitions of the embedded catalog in file order. The catalog is
// validated completely on first use, against the registered checks; an invalid catalog is a
// build defect, reported here with the file, line and field.
func Catalog() ([]catalog.Control, error) {
	controls, err := loadCatalog()
	if err != nil {
		return nil, err
	}
	out := make([]catalog.Control, len(controls))
	for i, c := range controls {
		out[i] = c.Clone()
	}
	return out, nil
}

func checkIDs(checks []check.Check) []string {
	ids := make([]string, len(checks))
	for i, c := range checks {
		ids[i] = c.ID
	}
	return ids
}

// validSeverity reports whether s is a severity the record knows.
func validSeverity(s record.Severity) bool { return s.Rank() >= 0 }

// All returns every registered check, in registry order. Each call returns fresh values.
func All() []check.Check { return registry() }

// Evaluate runs the named checks one after the other against env and returns one result per
// control, in check order then catalog order. It refuses an unknown or repeated check ID, an
// empty list, or an env without an evidence store before anything runs. A control the check did
// not report, or a check that panicked, becomes status error with the reason. When ctx ends, the
// checks not yet run report error and Evaluate returns the results with ctx's error.
func Evaluate(ctx context.Context, env *check.Env, checkIDs []string) ([]record.Result, error) {
	defs, err := Catalog()
	if err != nil {
		return nil, err
	}
	return evaluate(ctx, env, checkIDs, registry(), defs)
}

func evaluate(ctx context.Context, env *check.Env, ids []string, checks []check.Check, defs []catalog.Control) ([]record.Result, error) {
	if env == nil || env.Evidence == nil {
		return nil, errors.New("checks: no evidence store in env (create one with evidence.NewStore(runDir))")
	}
	if len(ids) == 0 {
		return nil, errors.New("checks: no check named (name at least one of: " + strings.Join(checkIDs(checks), ", ") + ")")
	}
	byID := map[string]check.Check{}
	for _, c := range checks {
		byID[c.ID] = c
	}
	controls := map[string]catalog.Control{}
	for _, c := range defs {
		controls[c.ID] = c
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if _, ok := byID[id]; !ok {
			return nil, fmt.Errorf("checks: unknown check %q (known: %s)", id, strings.Join(checkIDs(checks), ", "))
		}
		if seen[id] {
			return nil, fmt.Errorf("checks: check %q named twice (name each check once)", id)
		}
		seen[id] = true
		for _, cid := range byID[id].Controls {
			if _, ok := controls[cid]; !ok {
				return nil, fmt.Errorf("checks: check %q evaluates control %q that the catalog does not define (add it to %s)", id, cid, catalog.Name)
			}
		}
	}

	// The env a check sees: defaults applied, a logger always present, probe secrets registered
	// with the evidence store so nothing a probe echoes back can leak them into a file.
	e := *env
	e.Defs = controls
	e.Limits = env.Limits.WithDefaults()
	if e.Log == nil {
		e.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	registerSecrets(&e)

	var results []record.Result
	for _, id := range ids {
		ch := byID[id]
		log := e.Log.With("check", id)
		var outs map[string]check.Outcome
		if err := ctx.Err(); err != nil {
			outs = allError(ch, fmt.Sprintf("not run: %v", err))
		} else if allSkipped(&e, ch) {
			outs = map[string]check.Outcome{}
			log.Info("check not run: every control skipped on the command line or outside the selection")
		} else {
			start := time.Now()
			log.Info("check started")
			ce := e
			ce.Log = log
			outs = runCheck(ctx, &ce, ch, log)
			end := time.Now()
			log.Debug("check finished", "elapsed", end.Sub(start))
			if e.OnCheck != nil {
				e.OnCheck(id, start, end)
			}
		}
		if outs == nil {
			outs = map[string]check.Outcome{}
		}
		for _, cid := range ch.Controls {
			if e.OutOfScope(cid) {
				continue // not selected: not run, no result
			}
			if e.Skipped(cid) {
				// Whatever the check observed for it (a shared probe), the control was not asked for.
				outs[cid] = check.Outcome{Status: record.StatusSkip, Reason: check.SkippedReason}
			}
			r := result(controls[cid], ch, outs)
			log.Info("control evaluated", "control", cid, "status", r.Status, "reason", r.Reason)
			results = append(results, r)
		}
		for cid := range outs {
			if !slices.Contains(ch.Controls, cid) {
				log.Warn("check reported a control it does not own; ignored", "control", cid)
			}
		}
	}
	return results, ctx.Err()
}

// runCheck runs one check and turns a panic into an error outcome for each of its controls: one
// broken probe must not take the run (and the other checks' evidence) down with it.
func runCheck(ctx context.Context, env *check.Env, ch check.Check, log *slog.Logger) (outs map[string]check.Outcome) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("check panicked", "panic", v, "stack", string(debug.Stack()))
			outs = allError(ch, fmt.Sprintf("check %s panicked: %v (a rig defect; see the operator log)", ch.ID, v))
		}
	}()
	if ch.Run == nil {
		return allError(ch, fmt.Sprintf("check %s has no Run function (a rig defect)", ch.ID))
	}
	return ch.Run(ctx, env)
}

// allSkipped reports whether every control of ch was skipped on the command line.
func allSkipped(env *check.Env, ch check.Check) bool {
	for _, cid := range ch.Controls {
		if !env.Skipped(cid) {
			return false
		}
	}
	return len(ch.Controls) > 0
}

func allError(ch check.Check, reason string) map[string]check.Outcome {
	outs := map[string]check.Outcome{}
	for _, cid := range ch.Controls {
		outs[cid] = check.Outcome{Status: record.StatusError, Reason: reason}
	}
	return outs
}

// result turns an outcome into the record of one control, with Title and Severity from the
// definition.
func result(def catalog.Control, ch check.Check, outs map[string]check.Outcome) record.Result {
	r := record.Result{Control: def.ID, Check: ch.ID, Title: def.Title, Severity: def.Severity, Evidence: []string{}}
	o, ok := outs[def.ID]
	switch {
	case !ok:
		r.Status = record.StatusError
		r.Reason = fmt.Sprintf("check %s reported no outcome for control %s (a rig defect)", ch.ID, def.ID)
		return r
	case o.Status != record.StatusPass && o.Status != record.StatusFail && o.Status != record.StatusError && o.Status != record.StatusSkip:
		r.Status = record.StatusError
		r.Reason = fmt.Sprintf("check %s reported unknown status %q for control %s (a rig defect)", ch.ID, o.Status, def.ID)
		return r
	}
	r.Status, r.Reason = o.Status, o.Reason
	if len(o.Observed) > 0 {
		r.Observed = maps.Clone(o.Observed)
	}
	r.Facts = normalizeFacts(o.Facts)
	if o.Evidence != nil {
		r.Evidence = append(r.Evidence, o.Evidence...)
	}
	if o.Status == record.StatusFail && o.Severity != "" {
		if !validSeverity(o.Severity) {
			r.Status = record.StatusError
			r.Reason = fmt.Sprintf("check %s reported unknown severity %q for control %s (a rig defect); observed: %s", ch.ID, o.Severity, def.ID, o.Reason)
			return r
		}
		r.Severity = o.Severity
	}
	return r
}

// registerSecrets hands every credential in the targets to the evidence store for redaction.
// Private keys need no registration: the store removes every PEM private key block, and checks
// never serialise a tls.Certificate.
func registerSecrets(env *check.Env) {
	env.Evidence.AddSecret(env.Targets.Ingest.Token)
	env.Evidence.AddSecret(env.Targets.Ingest.OtherTenantToken)
	env.Evidence.AddSecret(env.Targets.Ingest.ExpiredToken)
	for _, id := range env.Targets.Probes {
		env.Evidence.AddSecret(id.Password)
	}
	env.Evidence.AddSecret(env.Targets.Observability.MetricsPassword)
	env.Evidence.AddSecret(env.Targets.Observability.MetricsToken)
}
