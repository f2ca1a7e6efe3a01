package checks

import (
	"testing"

	"github.com/pathrig/rig/rig/record"
)

// TestGuardSysDeliveries: a broker that publishes many retained $SYS topics at once (mochi does)
// delivers them on the client's goroutine while the probe reports the first topics it saw. Run
// under -race: the topics the callback collects must not be read while it still appends.
func TestGuardSysDeliveries(t *testing.T) {
	tests := []struct {
		name string
		want want
	}{
		{"mochi publishes $SYS to anyone", fail(record.SeverityMedium)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t, "exposed")
			probe := Identity{Name: "probe-a", ClientID: "probe-a", Username: "probe-a", Topic: "rig/devices/probe-a/telemetry"}
			for i := 0; i < 3; i++ {
				results := evaluatePeers(t, Targets{Broker: Broker{Plain: b.Plain}, Probes: []Identity{probe}}, "guardrails-depth")
				r := byControl(t, results)[ctlGuardSys]
				if r.Status != tc.want.status || r.Severity != tc.want.severity {
					t.Fatalf("run %d: %s: got %s %s (%s), want %s %s", i+1, ctlGuardSys, r.Status, r.Severity, r.Reason, tc.want.status, tc.want.severity)
				}
			}
		})
	}
}
