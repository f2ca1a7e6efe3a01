package stack

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pathrig/rig/firmware/emulator"
	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/scenarios"
)

// TestSerialDevice runs the stack against a "real" board on a serial port — here the emulator on
// a pty pair the stack did not create — and checks the stack refuses a board whose UID is not the
// scenario's.
func TestSerialDevice(t *testing.T) {
	var ids []string
	for _, c := range checks.All() {
		ids = append(ids, c.ID)
	}
	for _, tc := range []struct {
		name    string
		uid     string // the board's UID
		wantErr string
	}{
		{"board the scenario names", "303030313233343536373839", ""},
		{"another board", "aabbccddeeff001122334455", "reports UID aabbccddeeff001122334455 but the scenario names 303030313233343536373839"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			pty, err := link.NewPtyPair()
			if err != nil {
				t.Fatal(err)
			}
			defer pty.Close()
			uid, _ := protocol.ParseUID(tc.uid)
			dev := emulator.New(emulator.Config{UID: uid, FW: protocol.FWVersion{Major: 1}})
			dctx, dcancel := context.WithCancel(ctx)
			ddone := make(chan error, 1)
			go func() { ddone <- dev.Run(dctx, pty.Device()) }()
			defer func() { dcancel(); <-ddone }()

			plan, err := scenario.Library{Embedded: scenarios.FS}.Load("audit-baseline", "", ids)
			if err != nil {
				t.Fatal(err)
			}
			plan.Scenario.Device.Port = pty.Path()
			if err := plan.Scenario.Device.SetKind(scenario.DeviceSerial); err != nil {
				t.Fatal(err)
			}
			// The rig identifies the device before anything else runs: a wrong board fails Start.
			st, err := Start(ctx, Config{Plan: plan, WorkDir: t.TempDir()})
			if err == nil {
				defer st.Close()
				err = st.WaitReady(ctx, 0)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("WaitReady: %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Endpoints()["serial"]; got != pty.Path() {
				t.Errorf("serial endpoint %q, want %q", got, pty.Path())
			}
			if d := st.Device(); d == nil || d.UID != tc.uid {
				t.Errorf("device %+v, want uid %s", d, tc.uid)
			}
			if steps := st.DeviceSteps()[tc.uid]; len(steps) < 2 || steps[0].To != "booted" || steps[1].To != "ready" {
				t.Errorf("device steps %+v, want power on then identify", steps)
			}
		})
	}
}
