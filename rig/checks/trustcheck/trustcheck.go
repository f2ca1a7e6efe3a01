// Package trustcheck holds the telemetry-trust check: telemetry flowing from the devices to the
// store while the scenario's faults are injected, every frame accounted for (loss, duplicates,
// values, latency, recovery). The run itself is the environment's TrustRunner.
package trustcheck

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/record"
)

// Controls of the telemetry-trust check.
const (
	ctlTrustLoss       = "TRUST-LOSS"
	ctlTrustDuplicates = "TRUST-DUPLICATES"
	ctlTrustValues     = "TRUST-VALUES"
	ctlTrustLatency    = "TRUST-LATENCY"
	ctlTrustRecovery   = "TRUST-RECOVERY"
)

// Checks returns the family's checks in registry order.
func Checks() []check.Check { return []check.Check{trustCheck()} }

func trustCheck() check.Check {
	return check.Check{
		ID:       "telemetry-trust",
		Title:    "Telemetry trust under faults",
		Controls: []string{ctlTrustLoss, ctlTrustDuplicates, ctlTrustValues, ctlTrustLatency, ctlTrustRecovery},
		Run:      runTrust,
	}
}

func runTrust(ctx context.Context, env *check.Env) map[string]check.Outcome {
	ids := []string{ctlTrustLoss, ctlTrustDuplicates, ctlTrustValues, ctlTrustLatency, ctlTrustRecovery}
	all := func(o check.Outcome) map[string]check.Outcome {
		m := map[string]check.Outcome{}
		for _, id := range ids {
			m[id] = o
		}
		return m
	}
	if env.Trust == nil {
		// External targets: the rig cannot inject faults into a path it did not start. The input
		// is missing, so skip with the reason - never a pass.
		return all(check.Skip("no telemetry-trust run in this environment (faults are injected only into the reference path the rig starts; external targets name none): trust is not evaluated"))
	}
	rep, err := env.Trust.RunTrust(ctx)
	if err != nil {
		return all(check.Outcome{Status: record.StatusError, Reason: fmt.Sprintf("the telemetry-trust run failed: %v", err)})
	}
	// One set of evidence files, referenced by every control.
	ev := check.NewEvidence(env, ctlTrustLoss)
	ev.JSON("accounting.json", map[string]any{"profile": rep.Profile, "qos": rep.QoS, "spool": rep.Spool, "devices": rep.Devices,
		"device_kind": rep.DeviceKind, "phase": rep.Phase, "totals": rep.Totals, "accounts": rep.Accounts, "altered": rep.Altered})
	ev.JSON("fault-timeline.json", rep.Faults)
	ev.JSON("latency.json", map[string]any{"latency": rep.Latency, "bounds": rep.Bounds})
	ev.JSON("components.json", rep.Components)
	withRefs := func(control string) *check.EvidenceSet {
		s := check.NewEvidence(env, control)
		s.Inherit(ev)
		return s
	}
	out := map[string]check.Outcome{}
	tot := rep.Totals
	base := map[string]any{"sent": tot.Sent, "delivered": tot.Delivered, "lost": tot.Lost, "line_damaged": tot.LineDamaged,
		"duplicate_deliveries": tot.Duplicates, "stored_duplicates": tot.StoredDuplicates, "reordered": tot.Reordered,
		"device_boots": len(rep.Accounts), "faults": len(rep.Faults), "qos": rep.QoS, "spool": rep.Spool}

	// Loss.
	switch {
	case tot.Sent == 0:
		out[ctlTrustLoss] = ev.Outcome(record.StatusError, base, "the devices report no telemetry sent: nothing shows that telemetry flows")
	case tot.Lost > 0:
		pct := 100 * float64(tot.Lost) / float64(tot.Sent)
		obs := clone(base)
		obs["lost_pct"] = round2(pct)
		obs["lost_during"] = tot.LostDuring
		out[ctlTrustLoss] = ev.Outcome(record.StatusFail, obs, "%d of %d frames the devices sent never reached the store (%.1f%%): %s", tot.Lost, tot.Sent, pct, during(tot.LostDuring))
	default:
		out[ctlTrustLoss] = ev.Outcome(record.StatusPass, base, "all %d frames the devices sent across %d device boots and %d faults are in the store (%d damaged on the UART by the injected corruption, rejected by CRC, not counted as lost)",
			tot.Sent, len(rep.Accounts), len(rep.Faults), tot.LineDamaged)
	}

	// Stored duplicates.
	dup := withRefs(ctlTrustDuplicates)
	if tot.StoredDuplicates > 0 {
		out[ctlTrustDuplicates] = dup.Outcome(record.StatusFail, base, "%d store rows are not exactly one frame a device sent (stored twice, or a seq the device never sent in that boot)", tot.StoredDuplicates)
	} else if tot.Delivered == 0 {
		out[ctlTrustDuplicates] = dup.Outcome(record.StatusError, base, "the store holds no telemetry: duplicates cannot be ruled out on nothing")
	} else {
		out[ctlTrustDuplicates] = dup.Outcome(record.StatusPass, base, "%d rows, each one frame the devices sent; %d repeated deliveries were recognised and not stored", tot.Delivered, tot.Duplicates)
	}

	// Values.
	val := withRefs(ctlTrustValues)
	vobs := clone(base)
	vobs["altered"] = tot.Altered
	vobs["untapped"] = tot.Untapped
	switch {
	case tot.Altered > 0:
		out[ctlTrustValues] = val.Outcome(record.StatusFail, vobs, "%d stored readings differ from what the device sent; first: %s", tot.Altered, rep.Altered[0])
	case tot.Delivered == 0:
		out[ctlTrustValues] = val.Outcome(record.StatusError, vobs, "the store holds no telemetry: no reading to compare")
	default:
		out[ctlTrustValues] = val.Outcome(record.StatusPass, vobs, "each of the %d stored readings equals what the device sent for that device, boot and sequence (temperature, supply, device time)", tot.Delivered)
	}

	// Latency.
	lat := withRefs(ctlTrustLatency)
	lobs := map[string]any{"samples": rep.Latency.Samples, "p50_ms": rep.Latency.P50Ms, "p95_ms": rep.Latency.P95Ms, "p99_ms": rep.Latency.P99Ms, "max_ms": rep.Latency.MaxMs, "bound_ms": ms(rep.MaxLatency)}
	switch {
	case rep.Latency.Samples == 0:
		out[ctlTrustLatency] = lat.Outcome(record.StatusError, lobs, "no frame reached the store: no latency to measure")
	case rep.Latency.P99Ms > ms(rep.MaxLatency):
		out[ctlTrustLatency] = lat.Outcome(record.StatusFail, lobs, "p99 latency device → store %.0f ms exceeds the scenario's bound %s (p50 %.0f ms, p95 %.0f ms)", rep.Latency.P99Ms, rep.MaxLatency, rep.Latency.P50Ms, rep.Latency.P95Ms)
	default:
		out[ctlTrustLatency] = lat.Outcome(record.StatusPass, lobs, "p99 latency device → store %.0f ms within %s (p50 %.0f ms, p95 %.0f ms, %d frames)", rep.Latency.P99Ms, rep.MaxLatency, rep.Latency.P50Ms, rep.Latency.P95Ms, rep.Latency.Samples)
	}

	// Recovery.
	rec := withRefs(ctlTrustRecovery)
	var slow, never, failed []string
	worst := 0.0
	for _, f := range rep.Faults {
		label := f.Kind + "@" + f.PlannedAt
		switch {
		case f.Error != "":
			failed = append(failed, label+": "+f.Error)
		case f.RecoveryMs == nil:
			never = append(never, label)
		case *f.RecoveryMs > ms(rep.MaxRecovery):
			slow = append(slow, fmt.Sprintf("%s: %.0f ms", label, *f.RecoveryMs))
		}
		if f.RecoveryMs != nil {
			worst = max(worst, *f.RecoveryMs)
		}
	}
	robs := map[string]any{"faults": len(rep.Faults), "worst_recovery_ms": worst, "bound_ms": ms(rep.MaxRecovery)}
	switch {
	case len(failed) > 0:
		out[ctlTrustRecovery] = rec.Outcome(record.StatusError, robs, "faults could not be injected or lifted, so recovery from them is unproven: %s", strings.Join(failed, "; "))
	case len(rep.Faults) == 0:
		out[ctlTrustRecovery] = check.Skip("the scenario injects no fault (add a faults: timeline)")
	case len(never) > 0:
		out[ctlTrustRecovery] = rec.Outcome(record.StatusFail, robs, "telemetry never reached the store again after: %s", strings.Join(never, ", "))
	case len(slow) > 0:
		out[ctlTrustRecovery] = rec.Outcome(record.StatusFail, robs, "recovery slower than the scenario's bound %s after: %s", rep.MaxRecovery, strings.Join(slow, ", "))
	default:
		out[ctlTrustRecovery] = rec.Outcome(record.StatusPass, robs, "telemetry flowed again within %.0f ms of every one of %d faults (bound %s)", worst, len(rep.Faults), rep.MaxRecovery)
	}
	return out
}

func during(m map[string]uint64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		where := "during " + k
		if k == "none" {
			where = "outside any fault window"
		}
		parts = append(parts, fmt.Sprintf("%d %s", m[k], where))
	}
	return strings.Join(parts, ", ")
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+2)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
func round2(f float64) float64   { return float64(int64(f*100+0.5)) / 100 }
