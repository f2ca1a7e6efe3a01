package stack

import (
	"context"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/scenarios"
)

// TestFleetGatewaySessions: a fleet behind multi-device gateways on the hardened path (mTLS,
// passwords, per-device ACL) holds one broker session per group, not per device, and every frame
// each device put on its UART is found in the store under that device.
func TestFleetGatewaySessions(t *testing.T) {
	for _, tc := range []struct {
		name         string
		devices, per int
		wantSessions int64
	}{
		{"three groups, the last short", 12, 5, 3},
		{"a session per device", 4, 1, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := scenario.Library{Embedded: scenarios.FS}.Load("fleet-1000", "", []string{"telemetry-trust"})
			if err != nil {
				t.Fatal(err)
			}
			plan.Scenario.Fleet.Devices, plan.Scenario.Fleet.DevicesPerGateway = tc.devices, tc.per
			plan.Scenario.Device.TelemetryInterval = scenario.Duration(50 * time.Millisecond)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			st, err := Start(ctx, Config{Plan: plan, WorkDir: t.TempDir(), Faults: true, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.WaitReady(ctx, 500*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if got := st.currentBroker().Stats().ClientsConnected; got != tc.wantSessions {
				t.Errorf("broker clients connected = %d, want %d (one session per gateway)", got, tc.wantSessions)
			}
			acc, err := st.Account(ctx, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			tot := acc.Totals
			if len(acc.Accounts) != tc.devices || tot.Sent == 0 || tot.Delivered != tot.Sent || tot.Lost != 0 || tot.StoredDuplicates != 0 || tot.Untapped != 0 {
				t.Fatalf("%d device boots accounted, totals %+v; want %d, every frame delivered once", len(acc.Accounts), tot, tc.devices)
			}
		})
	}
}
