package scenario

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFaultTimelineErrors(t *testing.T) {
	const head = goodScenario + "faults:\n"
	for _, tc := range []struct {
		name, scenario string
		line           int
		field, msg     string
	}{
		{"unknown kind", head + "  - kind: meteor\n    at: 1s\n    duration: 1s\n", 5, "faults[0].kind", `"meteor" is not a fault kind`},
		{"missing duration", head + "  - kind: broker-down\n    at: 1s\n", 0, "faults[0].duration", "needs how long"},
		{"instant with duration", head + "  - kind: clock-skew\n    at: 1s\n    duration: 1s\n    skew: 5s\n", 7, "faults[0].duration", "takes no duration"},
		{"missing parameter", head + "  - kind: network-latency\n    at: 1s\n    duration: 1s\n", 0, "faults[0].latency", "needs latency"},
		{"foreign parameter", head + "  - kind: broker-down\n    at: 1s\n    duration: 1s\n    loss: 0.5\n", 8, "faults[0].loss", "not a parameter of broker-down"},
		{"bad probability", head + "  - kind: uart-corrupt\n    at: 1s\n    duration: 1s\n    byte_rate: 1.5\n", 8, "faults[0].byte_rate", "probability"},
		{"bad duration type", head + "  - kind: broker-down\n    at: soon\n    duration: 1s\n", 6, "faults[0].at", "soon"},
		{"unknown fault key", head + "  - kind: broker-down\n    at: 1s\n    duraton: 1s\n", 7, "faults[0].duraton", "unknown field"},
		{"phase too short", head + "  - kind: broker-down\n    at: 1s\n    duration: 3s\ntrust:\n  phase: 2s\n", 9, "trust.phase", "before the last fault"},
		{"crash in-process", head + "  - kind: gateway-crash\n    at: 1s\n    duration: 1s\ntrust:\n  gateway: in-process\n", 9, "trust.gateway", "needs gateway: process"},
		{"fleet too big", goodScenario + "fleet:\n  devices: 20000\n", 5, "fleet.devices", "outside"},
		{"gateway group too big", goodScenario + "fleet:\n  devices: 1000\n  devices_per_gateway: 251\n", 6, "fleet.devices_per_gateway", "outside 1..250"},
		{"gateway group negative", goodScenario + "fleet:\n  devices: 10\n  devices_per_gateway: -1\n", 6, "fleet.devices_per_gateway", "outside 1..250"},
		{"gateway group over the fleet", goodScenario + "fleet:\n  devices: 10\n  devices_per_gateway: 20\n", 6, "fleet.devices_per_gateway", "more than fleet.devices (10)"},
		{"zero loss is out of range, not missing", head + "  - kind: network-loss\n    at: 1s\n    duration: 1s\n    loss: 0\n", 8, "faults[0].loss", "0 is outside (0, 1)"},
		{"zero byte rate is out of range", head + "  - kind: uart-corrupt\n    at: 1s\n    duration: 1s\n    byte_rate: 0\n", 8, "faults[0].byte_rate", "0 is outside (0, 1)"},
		{"zero latency is out of range", head + "  - kind: network-latency\n    at: 1s\n    duration: 1s\n    latency: 0s\n", 8, "faults[0].latency", "0s is outside (0s, 1m]"},
		{"zero bytes is out of range", head + "  - kind: uart-garbage\n    at: 1s\n    duration: 1s\n    bytes: 0\n    every: 10ms\n", 8, "faults[0].bytes", "0 is outside 1..65536"},
		{"empty loss is missing", head + "  - kind: network-loss\n    at: 1s\n    duration: 1s\n    loss:\n", 8, "faults[0].loss", "missing: network-loss needs loss"},
		{"zero foreign parameter", head + "  - kind: broker-down\n    at: 1s\n    duration: 1s\n    rate: 0\n", 8, "faults[0].rate", "not a parameter of broker-down"},
		{"start after any phase", head + "  - kind: broker-down\n    at: 99999h\n    duration: 1s\n", 6, "faults[0].at", "99999h0m0s is after the end of the longest fault phase (1h0m0s)"},
		{"duration that overflows the end", head + "  - kind: broker-down\n    at: 1s\n    duration: 2562047h\n", 7, "faults[0].duration", "ends after the longest fault phase"},
		{"end after any phase", head + "  - kind: broker-down\n    at: 59m\n    duration: 2m\n", 7, "faults[0].duration", "ends after the longest fault phase"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Library{}.Load(writeTree(t, tc.scenario, goodProfile), "", known)
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FileError", err)
			}
			if fe.Line != tc.line || fe.Field != tc.field || !strings.Contains(fe.Msg, tc.msg) {
				t.Fatalf("got %s:%d field %q msg %q; want line %d field %q containing %q", filepath.Base(fe.File), fe.Line, fe.Field, fe.Msg, tc.line, tc.field, tc.msg)
			}
		})
	}
}

func TestFaultTimelineDefaults(t *testing.T) {
	sc := goodScenario + "faults:\n  - kind: gateway-crash\n    at: 2s\n    duration: 1s\n  - kind: clock-skew\n    at: 1s\n    skew: -3s\n"
	plan, err := Library{}.Load(writeTree(t, sc, goodProfile+"gateway:\n  spool: true\n  backoff:\n    jitter: 0.3\n"), "", known)
	if err != nil {
		t.Fatal(err)
	}
	tr := plan.Scenario.Trust
	if tr.Phase.D() != 5*time.Second || tr.Gateway != "process" || tr.MaxLatency.D() != 5*time.Second || plan.Scenario.Fleet.Devices != 1 || plan.Scenario.Fleet.DevicesPerGateway != 1 {
		t.Fatalf("trust defaults %+v fleet %+v", tr, plan.Scenario.Fleet)
	}
	g := plan.Profile.Gateway
	if !g.Spool || g.Backoff.Min.D() != 250*time.Millisecond || g.Backoff.Max.D() != 5*time.Second || g.Backoff.Jitter != 0.3 {
		t.Fatalf("gateway profile %+v", g)
	}
}
