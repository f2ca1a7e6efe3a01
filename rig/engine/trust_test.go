package engine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pathrig/rig/rig/record"
)

// TestTelemetryTrustExposedFinding: on the exposed path (QoS 0, no buffer) the broker outage of
// the telemetry-trust-exposed scenario loses telemetry, and the run reports it as a TRUST-LOSS
// finding with the numbers, backed by the accounting and the fault timeline.
func TestTelemetryTrustExposedFinding(t *testing.T) {
	t.Parallel()
	run, dir := runPlan(t, plan(t, "telemetry-trust-exposed", ""))
	// The trust path makes its own PKI, passwords and token: none may reach an output.
	scanForSecrets(t, dir)
	byID := map[string]record.Result{}
	for _, r := range run.Results {
		byID[r.Control] = r
	}
	loss := byID["TRUST-LOSS"]
	if loss.Status != record.StatusFail || !strings.Contains(loss.Reason, "never reached the store") || !strings.Contains(loss.Reason, "during broker-down@1s") {
		t.Fatalf("TRUST-LOSS = %s: %s; want a finding with the loss during the broker outage", loss.Status, loss.Reason)
	}
	if run.Summary.Findings < 1 {
		t.Fatalf("summary %+v: want the loss counted as a finding", run.Summary)
	}
	if byID["TRUST-DUPLICATES"].Status != record.StatusPass {
		t.Errorf("TRUST-DUPLICATES = %s: %s", byID["TRUST-DUPLICATES"].Status, byID["TRUST-DUPLICATES"].Reason)
	}
	b, err := os.ReadFile(filepath.Join(dir, "evidence", "TRUST-LOSS", "accounting.json"))
	if err != nil {
		t.Fatal(err)
	}
	var acc struct {
		Totals struct {
			Sent, Delivered, Lost uint64
		}
	}
	if err := json.Unmarshal(b, &acc); err != nil {
		t.Fatal(err)
	}
	if acc.Totals.Lost == 0 || acc.Totals.Sent != acc.Totals.Delivered+acc.Totals.Lost {
		t.Fatalf("accounting totals %+v: want loss and sent = delivered + lost", acc.Totals)
	}
	if _, err := os.Stat(filepath.Join(dir, "evidence", "TRUST-LOSS", "fault-timeline.json")); err != nil {
		t.Fatalf("fault timeline evidence: %v", err)
	}
}
