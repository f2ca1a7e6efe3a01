package checks

import (
	"context"
	"testing"

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
		{"exposed", "exposed", false, map[string]record.Status{ctlCiphers: record.StatusPass, ctlTLSMQTT: record.StatusPass, ctlClientAuth: record.StatusFail}, postureNone},
		{"hardened with a probe certificate", "hardened", true, map[string]record.Status{ctlCiphers: record.StatusPass, ctlTLSMQTT: record.StatusPass, ctlClientAuth: record.StatusPass}, postureRequired},
		{"hardened without a probe certificate", "hardened", false, map[string]record.Status{ctlCiphers: record.StatusPass, ctlTLSMQTT: record.StatusSkip, ctlClientAuth: record.StatusPass}, postureRequired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			targets := Targets{Broker: startBroker(t, tc.broker)}
			if tc.probes {
				targets.Probes = []Identity{probeIdentityA(t)}
			}
			env, dir := newEnv(t, targets, nil)
			results, err := Evaluate(context.Background(), env, []string{"tls-depth"})
			if err != nil {
				t.Fatal(err)
			}
			got := byControl(t, results)
			for id, w := range tc.want {
				if got[id].Status != w {
					t.Errorf("%s: status %s, want %s (reason: %s)", id, got[id].Status, w, got[id].Reason)
				}
			}
			if p := got[ctlClientAuth].Observed["posture"]; p != tc.posture {
				t.Errorf("posture = %v, want %s", p, tc.posture)
			}
			acc, _ := got[ctlCiphers].Observed["accepted"].(map[string]any)
			if tc.broker == "exposed" && acc["TLS 1.0"] == nil {
				t.Errorf("exposed: want suites listed under TLS 1.0, got %v", acc)
			}
			if tc.broker == "hardened" && (acc["TLS 1.0"] != nil || acc["TLS 1.3"] == nil) {
				t.Errorf("hardened: want TLS 1.2/1.3 suites only, got %v", acc)
			}
			assertEvidence(t, dir, results)
		})
	}
}

// TestWorse: a failure carries the worst class found, whatever the order.
func TestWorse(t *testing.T) {
	worst := record.Severity("")
	for _, w := range []string{"3des", "null-encryption", "rc4"} {
		worst = worse(worst, weaknessSeverity(w))
	}
	if worst != record.SeverityCritical {
		t.Errorf("worst = %s, want critical", worst)
	}
	if got := worse(record.SeverityHigh, record.SeverityMedium); got != record.SeverityHigh {
		t.Errorf("worse(high, medium) = %s", got)
	}
}
