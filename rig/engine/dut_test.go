package engine

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/gateway"
	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/rig/stack"
)

// quietTrust is the hardened trust path with one in-process gateway and no fault: what the
// accounting sees is the path's own doing.
func quietTrust(t *testing.T) *scenario.Plan {
	t.Helper()
	p := plan(t, "telemetry-trust", "hardened")
	p.Scenario.Faults = nil
	p.Scenario.Trust.Gateway = "in-process"
	p.Scenario.Trust.Phase = scenario.Duration(2 * time.Second)
	p.Scenario.Limits.DrainTimeout = scenario.Duration(5 * time.Second)
	return p
}

func resultsByID(run *record.Run) map[string]record.Result {
	m := map[string]record.Result{}
	for _, r := range run.Results {
		m[r.Control] = r
	}
	return m
}

// TestTrustValuesCatchAlteringGateway: a gateway that adds 50 °C to one reading in 25 passes every
// frame-counting control, and fails TRUST-VALUES with the altered reading named (device, boot,
// seq, both values); the real gateway passes it. GUARD-HEALTH reads the same accounting.
func TestTrustValuesCatchAlteringGateway(t *testing.T) {
	alter := func(c *gateway.Config) {
		c.AlterForTest = func(boot, seq uint32, tel protocol.Telemetry) protocol.Telemetry {
			if seq%25 == 7 {
				tel.TempCentiC += 5000
			}
			return tel
		}
	}
	for _, tc := range []struct {
		name string
		hook func(*gateway.Config)
		want record.Status
	}{
		{"real gateway", nil, record.StatusPass},
		{"gateway altering one reading in 25", alter, record.StatusFail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := quietTrust(t)
			out := filepath.Join(t.TempDir(), "run")
			run, err := Run(context.Background(), p, Options{Out: out, Version: "test", GatewayHook: tc.hook})
			if err != nil {
				t.Fatal(err)
			}
			byID := resultsByID(run)
			v := byID["TRUST-VALUES"]
			if v.Status != tc.want {
				t.Fatalf("TRUST-VALUES = %s: %s; want %s", v.Status, v.Reason, tc.want)
			}
			if loss := byID["TRUST-LOSS"]; loss.Status != record.StatusPass {
				t.Errorf("TRUST-LOSS = %s: %s; the altering gateway loses nothing", loss.Status, loss.Reason)
			}
			if tc.want == record.StatusFail {
				for _, want := range []string{"device 303030313233343536373839", "seq 7:", "sent temp", "stored temp"} {
					if !strings.Contains(v.Reason, want) {
						t.Errorf("TRUST-VALUES reason %q does not name %q", v.Reason, want)
					}
				}
			}
		})
	}
}

// TestTrustRunStartsOnePath: a telemetry-trust run assembles the path once: one broker and one
// ingest, whatever else the plan checks.
func TestTrustRunStartsOnePath(t *testing.T) {
	p := quietTrust(t)
	p.Checks = append(p.Checks, "guardrails")
	b0, i0 := stack.Started()
	run, err := Run(context.Background(), p, Options{Out: filepath.Join(t.TempDir(), "run"), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	b1, i1 := stack.Started()
	if b1-b0 != 1 || i1-i0 != 1 {
		t.Fatalf("the run started %d brokers and %d ingests; want 1 and 1", b1-b0, i1-i0)
	}
	byID := resultsByID(run)
	for _, id := range []string{"TRUST-LOSS", "GUARD-HEALTH"} {
		if byID[id].Status != record.StatusPass {
			t.Errorf("%s = %s: %s", id, byID[id].Status, byID[id].Reason)
		}
	}
}
