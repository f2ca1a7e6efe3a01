// Package engine runs one scenario: it starts the stack the plan describes, evaluates the plan's
// checks against the live endpoints, and writes the run folder (run.json, summary.md, evidence/).
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/pathrig/rig/gateway"
	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/dut"
	"github.com/pathrig/rig/rig/evidence"
	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/rig/stack"
	"github.com/pathrig/rig/rig/trust"
)

// ErrUsage marks a problem with what the caller asked for (e.g. a non-empty output folder).
var ErrUsage = errors.New("usage")

// Options of one run.
type Options struct {
	Out     string       // run folder; must not exist or be empty
	Log     *slog.Logger // operator log; nil discards
	Version string       // tool version written into run.json
	Now     func() time.Time
	// Outputs select the writers, the baseline and the manifest signing key.
	Outputs Outputs
	// OnSecrets, when set, receives every secret of the stack (passwords, tokens, private keys)
	// once it is up, so a test can prove that no output holds any of them.
	OnSecrets func(secrets []string)
	// GatewayBin is the gateway binary a telemetry-trust scenario with trust.gateway: process
	// runs and crashes as a child process. On the reference path the supplier check also reads
	// it (its build information) and the SBOM beside it (GatewayBin + ".cdx.json").
	GatewayBin string
	// GatewayHook adjusts each in-process gateway's configuration (tests: a gateway that alters
	// readings).
	GatewayHook func(*gateway.Config)
	// Skip names controls skipped on the command line (rig run --control, --skip-control):
	// their result is skip, "skipped on the command line".
	Skip map[string]bool
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
	// External targets are read (files, environment, PEM) before the run folder is made, so a
	// configuration mistake leaves nothing behind, like every other bad definition.
	var extTargets check.Targets
	var extSecrets []string
	if plan.Scenario.Targets != nil {
		var err error
		if extTargets, extSecrets, err = externalTargets(&plan.Scenario); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUsage, err) // a file the scenario names: configuration
		}
	}
	if err := CheckDeviceFaults(plan); err != nil {
		return nil, err
	}
	if err := PrepareOut(opts.Out); err != nil {
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
	run.Scope = runScope(plan.Scope)
	run.Volatile.Started = now().UTC()

	ev, err := evidence.NewStore(opts.Out)
	if err != nil {
		return nil, err
	}
	work, err := makeWorkDir(log)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	lim := plan.Scenario.Limits
	limits := check.Limits{ProbeTimeout: lim.ProbeTimeout.D(), OversizeBytes: lim.OversizeBytes, DrainTimeout: lim.DrainTimeout.D(),
		LockoutAttempts: plan.Scenario.Identity.LockoutAttempts, LockoutWindow: plan.Scenario.Identity.LockoutWindow.D(), WillWait: plan.Scenario.Identity.WillWait.D(),
		AlertWithin: lim.AlertWithin.D()}
	var env *check.Env
	var st *stack.Stack
	var tr *trustRecorder
	if plan.Scenario.Targets != nil {
		// External targets: probe what the scenario names, start nothing.
		targets, secrets := extTargets, extSecrets
		for _, s := range secrets {
			ev.AddSecret(s)
		}
		if opts.OnSecrets != nil {
			opts.OnSecrets(append([]string(nil), secrets...))
		}
		run.Volatile.Targets = externalEndpoints(targets)
		env = &check.Env{Targets: targets, Evidence: ev, Log: log, Limits: limits, Intrusive: plan.Scenario.Intrusive}
		log.Info("probing external targets", "targets", run.Volatile.Targets)
	} else {
		// One path for every check of the plan: a plan with telemetry-trust gets the path
		// assembled for faults, and its audit checks (if any) probe the same path.
		faults := slices.Contains(plan.Checks, "telemetry-trust")
		if st, err = startStack(ctx, stack.Config{Plan: plan, WorkDir: work, Log: log, Faults: faults, GatewayBin: opts.GatewayBin, GatewayHook: opts.GatewayHook,
			Secret: func(s string) {
				ev.AddSecret(s)
				if opts.OnSecrets != nil {
					opts.OnSecrets([]string{s})
				}
			}}); err != nil {
			return nil, err
		}
		defer st.Close()
		run.Device = st.Device()
		run.Volatile.Targets = st.Endpoints()
		if faults {
			tr = &trustRecorder{TrustRunner: trust.New(st, plan, log)}
		}
		targets := st.Targets()
		targets.Supplier = ownSupplier(opts.GatewayBin, log)
		env = &check.Env{
			Targets: targets, Evidence: ev, Log: log, Limits: limits,
			Telemetry: st, UART: st, Device: st, Clock: st, Intrusive: plan.Scenario.Intrusive,
		}
		if tr != nil {
			env.Trust = tr
		}
	}
	env.Skip = opts.Skip
	if plan.Controls != nil {
		env.Only = map[string]bool{}
		for _, id := range plan.Controls {
			env.Only[id] = true
		}
	}
	env.OnCheck = func(id string, started, finished time.Time) {
		if run.Volatile.Checks == nil {
			run.Volatile.Checks = map[string]record.Span{}
		}
		run.Volatile.Checks[id] = record.Span{Started: started.UTC(), Finished: finished.UTC()}
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
		// What the rig did to the devices: every lifecycle step (power, identify, reset,
		// restore) and every level driven on a control line, with its time.
		if _, err := ev.WriteJSON("device", "lifecycle.json", map[string]any{"steps": st.DeviceSteps(), "lines": st.Lines()}); err != nil {
			return nil, err
		}
		for id, b := range st.GatewayLogs() {
			if _, err := ev.Write("gateway", "gateway-"+id+".log", b); err != nil {
				return nil, err
			}
		}
	}
	if st != nil {
		if err := writeTimeline(ev, st, tr, run.Volatile.Started); err != nil {
			return nil, err
		}
	}
	run.Volatile.Finished = now().UTC()
	if err := decide(run, plan, log); err != nil {
		return nil, err
	}

	// run.json and every rendering quote probe errors: they go through the same redaction as evidence.
	rj, err := json.MarshalIndent(run, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("engine: encode %s: %w", record.RunFile, err)
	}
	if err := writeFile(filepath.Join(opts.Out, record.RunFile), ev.Redact(append(rj, '\n'))); err != nil {
		return nil, err
	}
	log.Info("writing reports", "out", opts.Out)
	if _, err := WriteOutputs(opts.Out, run, opts.Outputs, ev.Redact); err != nil {
		return nil, err
	}
	log.Info("run written", "out", opts.Out, "findings", run.Summary.Findings)
	return run, nil
}

// CheckDeviceFaults refuses, before anything runs, a fault of the scenario's timeline that its
// device kind cannot perform (a board without a bench file has no NRST to pulse), naming the
// fault and the kind: a fault is never skipped silently.
func CheckDeviceFaults(plan *scenario.Plan) error {
	sc := plan.Scenario
	if sc.Targets != nil || !slices.Contains(plan.Checks, "telemetry-trust") {
		return nil
	}
	spec := dut.Spec{Device: sc.Device}
	for i, f := range sc.Faults {
		if err := dut.Supports(spec, f.Kind); err != nil {
			return fmt.Errorf("%w: scenario %s (%s): faults[%d] %s at %s: %v", ErrUsage, sc.Name, sc.Source, i, f.Kind, f.At, err)
		}
	}
	return nil
}

// startStack starts the reference path of plan's profile and waits until telemetry flows.
func startStack(ctx context.Context, cfg stack.Config) (*stack.Stack, error) {
	cfg.Log.Info("starting the path", "devices", cfg.Plan.Scenario.Device.Kind, "faults", cfg.Faults)
	st, err := stack.Start(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("engine: start the %s path: %w", cfg.Plan.Profile.Name, err)
	}
	if err := st.WaitReady(ctx, cfg.Plan.Scenario.Timing.Warmup.D()); err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("engine: the %s path did not become ready: %w", cfg.Plan.Profile.Name, err)
	}
	return st, nil
}

// writeFile writes b to path atomically (temp file and rename).
func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("engine: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("engine: write %s: %w", path, err)
	}
	return nil
}

// PrepareOut makes sure dir exists and is empty, so a run (or delta) folder never mixes two runs
// and never overwrites or seals someone's files. A folder that holds only empty directories (a
// run killed or failed before its first file leaves evidence/) counts as empty: they hold no
// data, and a run killed with SIGKILL has no chance to remove them. They are removed, so that
// every directory of the new folder holds a file its manifest lists.
func PrepareOut(dir string) error {
	if dir == "" {
		return fmt.Errorf("%w: no run folder given", ErrUsage)
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("engine: create run folder %s: %w", dir, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("%w: run folder %s: %v", ErrUsage, dir, err)
	case !fi.IsDir():
		return fmt.Errorf("%w: %s is not a folder (pick another --out)", ErrUsage, dir)
	}
	var dirs []string
	var held string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		if !d.IsDir() { // a file, a symbolic link, anything else: someone's data
			held, _ = filepath.Rel(dir, p)
			return fs.SkipAll
		}
		dirs = append(dirs, p)
		return nil
	})
	switch {
	case err != nil:
		return fmt.Errorf("%w: run folder %s: %v", ErrUsage, dir, err)
	case held != "":
		return fmt.Errorf("%w: run folder %s is not empty: it holds %s (remove it or pick another --out)", ErrUsage, dir, held)
	}
	for i := len(dirs) - 1; i >= 0; i-- { // deepest first
		if err := os.Remove(dirs[i]); err != nil {
			return fmt.Errorf("engine: clear the empty folders left in %s: %w", dir, err)
		}
	}
	return nil
}
