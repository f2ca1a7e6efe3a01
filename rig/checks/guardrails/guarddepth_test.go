package guardrails_test

import (
	"testing"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/checktest"
	"github.com/pathrig/rig/rig/record"
)

// TestGuardSysDeliveries: a broker that publishes many retained $SYS topics at once (mochi does)
// delivers them on the client's goroutine while the probe reports the first topics it saw. Run
// under -race: the topics the callback collects must not be read while it still appends.
func TestGuardSysDeliveries(t *testing.T) {
	tests := []struct {
		name string
		want checktest.Want
	}{
		{"mochi publishes $SYS to anyone", checktest.Fail(record.SeverityMedium)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := checktest.StartBroker(t, "exposed")
			probe := check.Identity{Name: "probe-a", ClientID: "probe-a", Username: "probe-a", Topic: "rig/devices/probe-a/telemetry"}
			for i := 0; i < 3; i++ {
				results := evaluatePeers(t, check.Targets{Broker: check.Broker{Plain: b.Plain}, Probes: []check.Identity{probe}}, "guardrails-depth")
				r := checktest.ByControl(t, results)["GUARD-SUB-SYS"]
				if r.Status != tc.want.Status || r.Severity != tc.want.Severity {
					t.Fatalf("run %d: %s: got %s %s (%s), want %s %s", i+1, "GUARD-SUB-SYS", r.Status, r.Severity, r.Reason, tc.want.Status, tc.want.Severity)
				}
			}
		})
	}
}
