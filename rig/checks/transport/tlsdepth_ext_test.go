package transport_test

import (
	"context"
	"testing"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/checktest"
	"github.com/pathrig/rig/rig/record"
)

// TestTLSDepthMochi runs the tls-depth check against the mochi brokers of the exposed and
// hardened shapes (crypto/tls servers). The Debian peers (mosquitto, openssl s_server) are in
// realpeers_test.go.
func TestTLSDepthMochi(t *testing.T) {
	tests := []struct {
		name    string
		broker  string
		probes  bool
		want    map[string]record.Status
		posture string
	}{
		{"exposed", "exposed", false, map[string]record.Status{"TRANSPORT-CIPHERS": record.StatusPass, "TRANSPORT-TLS-MQTT": record.StatusPass, "TRANSPORT-CLIENT-AUTH": record.StatusFail}, "none"},
		{"hardened with a probe certificate", "hardened", true, map[string]record.Status{"TRANSPORT-CIPHERS": record.StatusPass, "TRANSPORT-TLS-MQTT": record.StatusPass, "TRANSPORT-CLIENT-AUTH": record.StatusPass}, "required"},
		{"hardened without a probe certificate", "hardened", false, map[string]record.Status{"TRANSPORT-CIPHERS": record.StatusPass, "TRANSPORT-TLS-MQTT": record.StatusSkip, "TRANSPORT-CLIENT-AUTH": record.StatusPass}, "required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			targets := check.Targets{Broker: checktest.StartBroker(t, tc.broker)}
			if tc.probes {
				targets.Probes = []check.Identity{checktest.ProbeIdentityA(t)}
			}
			env, dir := checktest.NewEnv(t, targets, nil)
			results, err := checks.Evaluate(context.Background(), env, []string{"tls-depth"})
			if err != nil {
				t.Fatal(err)
			}
			got := checktest.ByControl(t, results)
			for id, w := range tc.want {
				if got[id].Status != w {
					t.Errorf("%s: status %s, want %s (reason: %s)", id, got[id].Status, w, got[id].Reason)
				}
			}
			if p := got["TRANSPORT-CLIENT-AUTH"].Observed["posture"]; p != tc.posture {
				t.Errorf("posture = %v, want %s", p, tc.posture)
			}
			acc, _ := got["TRANSPORT-CIPHERS"].Observed["accepted"].(map[string]any)
			if tc.broker == "exposed" && acc["TLS 1.0"] == nil {
				t.Errorf("exposed: want suites listed under TLS 1.0, got %v", acc)
			}
			if tc.broker == "hardened" && (acc["TLS 1.0"] != nil || acc["TLS 1.3"] == nil) {
				t.Errorf("hardened: want TLS 1.2/1.3 suites only, got %v", acc)
			}
			checktest.AssertEvidence(t, dir, results)
		})
	}
}
