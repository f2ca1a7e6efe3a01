// Package engine runs one scenario: it starts the stack the plan describes, evaluates the plan's
// checks against the live endpoints, and writes the run folder (run.json, summary.md, evidence/).
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/evidence"
	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/report"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/rig/stack"
)

// ErrUsage marks a problem with what the caller asked for (e.g. a non-empty output folder).
var ErrUsage = errors.New("usage")

// Options of one run.
type Options struct {
	Out     string       // run folder; must not exist or be empty
	Log     *slog.Logger // operator log; nil discards
	Version string       // tool version written into run.json
	Now     func() time.Time
}

// Run executes plan and writes the run folder. The returned record is also in Out/run.json.
func Run(ctx context.Context, plan *scenario.Plan, opts Options) (*record.Run, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if err := prepareOut(opts.Out); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, plan.Scenario.Timing.Timeout.D())
	defer cancel()
	log = log.With("scenario", plan.Scenario.Name, "profile", plan.Profile.Name)

	run := &record.Run{
		Schema:   record.SchemaRun,
		Tool:     record.Tool{Name: "rig", Version: opts.Version},
		Scenario: plan.Scenario.Name,
		Profile:  plan.Profile.Name,
		Checks:   plan.Checks,
	}
	for _, b := range plan.Bundles {
		run.Bundles = append(run.Bundles, b.Name)
	}
	run.Volatile.Started = now().UTC()

	ev, err := evidence.NewStore(opts.Out)
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "rig-run-")
	if err != nil {
		return nil, fmt.Errorf("engine: create work folder: %w", err)
	}
	defer os.RemoveAll(work)

	lim := plan.Scenario.Limits
	limits := checks.Limits{ProbeTimeout: lim.ProbeTimeout.D(), OversizeBytes: lim.OversizeBytes, DrainTimeout: lim.DrainTimeout.D()}
	var env *checks.Env
	var st *stack.Stack
	if plan.Scenario.Targets != nil {
		// External targets: probe what the scenario names, start nothing.
		targets, secrets, err := externalTargets(&plan.Scenario)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUsage, err) // a file the scenario names: configuration
		}
		for _, s := range secrets {
			ev.AddSecret(s)
		}
		run.Volatile.Targets = externalEndpoints(targets)
		env = &checks.Env{Targets: targets, Evidence: ev, Log: log, Limits: limits, Intrusive: plan.Scenario.Intrusive}
		log.Info("probing external targets", "targets", run.Volatile.Targets)
	} else {
		if st, err = startStack(ctx, plan, work, log, ev); err != nil {
			return nil, err
		}
		defer st.Close()
		run.Device = st.Device()
		run.Volatile.Targets = st.Endpoints()
		env = &checks.Env{Targets: st.Targets(), Evidence: ev, Log: log, Limits: limits, Telemetry: st, UART: st, Intrusive: plan.Scenario.Intrusive}
	}
	log.Info("evaluating checks", "checks", plan.Checks)
	results, err := checks.Evaluate(ctx, env, plan.Checks)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	run.Results = results
	if st != nil {
		if _, err := ev.WriteJSON("stack", "gateway-stats.json", st.GatewayStats()); err != nil {
			return nil, err
		}
	}
	run.Volatile.Finished = now().UTC()
	run.Summarize()

	if err := record.WriteJSON(filepath.Join(opts.Out, record.RunFile), run); err != nil {
		return nil, err
	}
	if err := writeSummary(filepath.Join(opts.Out, "summary.md"), run); err != nil {
		return nil, err
	}
	log.Info("run written", "out", opts.Out, "findings", run.Summary.Findings)
	return run, nil
}

// startStack starts the reference stack of plan's profile and waits until telemetry flows.
func startStack(ctx context.Context, plan *scenario.Plan, work string, log *slog.Logger, ev *evidence.Store) (*stack.Stack, error) {
	log.Info("starting stack")
	st, err := stack.Start(ctx, stack.Config{Plan: plan, WorkDir: work, Log: log})
	if err != nil {
		return nil, fmt.Errorf("engine: start the %s stack: %w", plan.Profile.Name, err)
	}
	for _, s := range st.Secrets() {
		ev.AddSecret(s)
	}
	if err := st.WaitReady(ctx, plan.Scenario.Timing.Warmup.D()); err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("engine: the %s stack did not become ready: %w", plan.Profile.Name, err)
	}
	return st, nil
}

func writeSummary(path string, run *record.Run) error {
	cat, err := checks.Catalog()
	if err != nil {
		return err
	}
	byID := map[string]checks.Control{}
	for _, c := range cat {
		byID[c.ID] = c
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("engine: write %s: %w", path, err)
	}
	defer f.Close()
	if err := report.Summary(f, run, func(id string) (checks.Control, bool) { c, ok := byID[id]; return c, ok }); err != nil {
		return fmt.Errorf("engine: write %s: %w", path, err)
	}
	return f.Close()
}

// prepareOut makes sure dir exists and is empty, so a run folder never mixes two runs.
func prepareOut(dir string) error {
	if dir == "" {
		return fmt.Errorf("%w: no run folder given", ErrUsage)
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("engine: create run folder %s: %w", dir, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("%w: run folder %s: %v", ErrUsage, dir, err)
	case len(entries) > 0:
		return fmt.Errorf("%w: run folder %s is not empty (remove it or pick another --out)", ErrUsage, dir)
	}
	return nil
}
