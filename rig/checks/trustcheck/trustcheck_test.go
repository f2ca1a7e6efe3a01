package trustcheck

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/checktest"
	"github.com/pathrig/rig/rig/record"
)

// fakeTrust is a TrustRunner returning a fixed report.
type fakeTrust struct {
	rep *check.TrustReport
	err error
}

func (f fakeTrust) RunTrust(context.Context) (*check.TrustReport, error) { return f.rep, f.err }

func f64(v float64) *float64 { return &v }

func goodReport() *check.TrustReport {
	return &check.TrustReport{
		MaxLatency: 5 * time.Second, MaxRecovery: 8 * time.Second,
		Accounting: check.Accounting{
			Accounts: []check.TrustAccount{{Device: "d", Boot: 1, Sent: 500, Delivered: 498, LineDamaged: 2}},
			Totals:   check.TrustAccount{Sent: 500, Delivered: 498, LineDamaged: 2, Duplicates: 7},
			Latency:  check.LatencyStats{Samples: 498, P50Ms: 3, P95Ms: 900, P99Ms: 2000, MaxMs: 2500},
		},
		Faults: []check.FaultRecord{{Kind: "broker-down", PlannedAt: "1s", RecoveryMs: f64(800)}},
	}
}

func TestTelemetryTrustVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		runner check.TrustRunner
		edit   func(*check.TrustReport)
		want   map[string]record.Status
		reason map[string]string
	}{
		{name: "clean", edit: func(*check.TrustReport) {},
			want: map[string]record.Status{ctlTrustLoss: record.StatusPass, ctlTrustDuplicates: record.StatusPass, ctlTrustValues: record.StatusPass, ctlTrustLatency: record.StatusPass, ctlTrustRecovery: record.StatusPass}},
		{name: "altered reading", edit: func(r *check.TrustReport) {
			r.Totals.Altered = 1
			r.Altered = []check.Alteration{{Device: "d", Boot: 1, Seq: 7, Sent: check.Reading{TempCentiC: 2150, SupplyMv: 3300}, Stored: check.Reading{TempCentiC: 7150, SupplyMv: 3300}}}
		}, want: map[string]record.Status{ctlTrustValues: record.StatusFail, ctlTrustLoss: record.StatusPass},
			reason: map[string]string{ctlTrustValues: "device d boot 1 seq 7: sent temp 2150 cC"}},
		{name: "loss during an outage", edit: func(r *check.TrustReport) {
			r.Totals.Lost, r.Totals.Delivered = 150, 348
			r.Totals.LostDuring = map[string]uint64{"broker-down@1s": 150}
		}, want: map[string]record.Status{ctlTrustLoss: record.StatusFail},
			reason: map[string]string{ctlTrustLoss: "150 of 500 frames the devices sent never reached the store (30.0%): 150 during broker-down@1s"}},
		{name: "stored twice", edit: func(r *check.TrustReport) { r.Totals.StoredDuplicates = 1 }, want: map[string]record.Status{ctlTrustDuplicates: record.StatusFail}},
		{name: "slow p99", edit: func(r *check.TrustReport) { r.Latency.P99Ms = 6000 }, want: map[string]record.Status{ctlTrustLatency: record.StatusFail}},
		{name: "never recovered", edit: func(r *check.TrustReport) { r.Faults[0].RecoveryMs = nil }, want: map[string]record.Status{ctlTrustRecovery: record.StatusFail}},
		{name: "slow recovery", edit: func(r *check.TrustReport) { r.Faults[0].RecoveryMs = f64(9000) }, want: map[string]record.Status{ctlTrustRecovery: record.StatusFail}},
		{name: "injection failed", edit: func(r *check.TrustReport) { r.Faults[0].Error = "boom" }, want: map[string]record.Status{ctlTrustRecovery: record.StatusError}},
		{name: "nothing sent", edit: func(r *check.TrustReport) { r.Totals = check.TrustAccount{}; r.Latency = check.LatencyStats{} },
			want: map[string]record.Status{ctlTrustLoss: record.StatusError, ctlTrustDuplicates: record.StatusError, ctlTrustValues: record.StatusError, ctlTrustLatency: record.StatusError}},
		{name: "run failed", runner: fakeTrust{err: errors.New("no broker")},
			want: map[string]record.Status{ctlTrustLoss: record.StatusError, ctlTrustValues: record.StatusError, ctlTrustRecovery: record.StatusError}},
		{name: "no runner", runner: nil,
			want: map[string]record.Status{ctlTrustLoss: record.StatusSkip, ctlTrustLatency: record.StatusSkip}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := checktest.NewEnv(t, check.Targets{}, nil)
			if tc.edit != nil {
				rep := goodReport()
				tc.edit(rep)
				env.Trust = fakeTrust{rep: rep}
			} else if tc.runner != nil {
				env.Trust = tc.runner
			}
			out := runTrust(context.Background(), env)
			for ctl, want := range tc.want {
				if out[ctl].Status != want {
					t.Errorf("%s = %s (%s), want %s", ctl, out[ctl].Status, out[ctl].Reason, want)
				}
				if r := tc.reason[ctl]; r != "" && !strings.Contains(out[ctl].Reason, r) {
					t.Errorf("%s reason %q lacks %q", ctl, out[ctl].Reason, r)
				}
			}
			if st := out[ctlTrustLoss].Status; st != record.StatusError && st != record.StatusSkip && len(out[ctlTrustLoss].Evidence) != 4 {
				t.Errorf("evidence %v, want the 4 trust files", out[ctlTrustLoss].Evidence)
			}
		})
	}
}
