// Package trust owns the telemetry-trust run: on the reference path the stack assembled for
// faults (rig/stack with Faults set: the devices behind the rig's UART relay, the gateways, the
// network emulator, the broker, the bridge and the ingest) it plays the scenario's fault timeline
// — on the relay's line, the devices' control lines and protocol session, the network emulator,
// the broker, the ingest and the gateway processes — and then balances every frame of the run's
// window with the one telemetry accounting (rig/account).
package trust

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/rig/stack"
)

// Runner implements check.TrustRunner over a running stack.
type Runner struct {
	st   *stack.Stack
	plan *scenario.Plan
	log  *slog.Logger
	net  netCond
}

// New returns a runner for the fault path st (started with stack.Config.Faults).
func New(st *stack.Stack, plan *scenario.Plan, log *slog.Logger) *Runner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{st: st, plan: plan, log: log}
}

// RunTrust implements check.TrustRunner: play the fault timeline for the phase, then read the
// devices' counters over their UART, let the path drain, and balance.
func (r *Runner) RunTrust(ctx context.Context) (*check.TrustReport, error) {
	sc := r.plan.Scenario
	if !r.st.FaultPath() {
		return nil, fmt.Errorf("trust: the path was not assembled for faults (start the stack with stack.Config.Faults)")
	}
	t0 := time.Now()
	r.log.Info("fault phase", "phase", sc.Trust.Phase, "faults", len(sc.Faults), "devices", len(r.st.Units()))
	faults := r.play(ctx, sc.Faults, t0)
	if !sleepUntil(ctx, t0.Add(sc.Trust.Phase.D())) {
		return nil, ctx.Err()
	}
	acc, err := r.st.Balance(ctx, sc.Limits.DrainTimeout.D(), faults)
	if err != nil {
		return nil, err
	}
	prof := r.plan.Profile
	rep := &check.TrustReport{
		Profile: prof.Name, QoS: prof.Gateway.QoS, Spool: prof.Gateway.Spool, Devices: len(r.st.Units()), DeviceKind: sc.Device.Kind,
		Phase: sc.Trust.Phase.String(), MaxLatency: sc.Trust.MaxLatency.D(), MaxRecovery: sc.Trust.MaxRecovery.D(),
		Bounds:     map[string]any{"max_latency": sc.Trust.MaxLatency.String(), "max_recovery": sc.Trust.MaxRecovery.String()},
		Accounting: *acc, Faults: faults, Components: r.st.Components(),
	}
	if exits := r.st.GatewayExits(); len(exits) > 0 {
		return rep, fmt.Errorf("trust: %d gateway process(es) exited by themselves during the run: %v", len(exits), exits)
	}
	return rep, nil
}
