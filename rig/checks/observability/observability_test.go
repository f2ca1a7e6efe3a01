package observability_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/broker"
	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/checktest"
	"github.com/pathrig/rig/rig/ingest"
	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/secevent"
)

// Probe identities' passwords (test values, not secrets of any deployment).
const (
	testPassword   = "probe-a-obs-password-5d1e"
	probePasswordA = "probe-a-mosq-5d1e8b"
)

// eventUART is the UART of a gateway that records what it rejects: each injected frame is
// counted as rejected and, when log is set, recorded as a uart-malformed event the way the
// reference gateway does.
type eventUART struct {
	log *secevent.Log
	bad uint64
}

func (u *eventUART) Inject(ctx context.Context, b []byte) error {
	u.bad++
	u.log.Record(secevent.Event{Kind: secevent.UARTMalformed, Identity: "303030313233343536373839", Outcome: secevent.Refused, Detail: fmt.Sprintf("%d bytes", len(b))})
	return nil
}
func (u *eventUART) Frames() (uint64, uint64)       { return 10, u.bad }
func (u *eventUART) Ping(ctx context.Context) error { return nil }

func openEvents(t *testing.T, path, source string, on bool) *secevent.Log {
	t.Helper()
	if !on {
		// The operator names a log, but the service writes no security events into it.
		if err := os.WriteFile(path, []byte("time=2026-12-07T00:00:00Z level=INFO msg=started\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return nil
	}
	l, err := secevent.Open(path, source)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestObservabilityEventVerdicts injects each event into a real broker (mochi, through the
// rig's guard) and a real ingest that record their security events or do not: the event
// controls pass on positive evidence only, and fail after their whole bound when the event is
// not in the log. Run with -count=20 to show the verdicts do not race the services.
func TestObservabilityEventVerdicts(t *testing.T) {
	for _, recording := range []bool{true, false} {
		t.Run(fmt.Sprintf("recording=%v", recording), func(t *testing.T) {
			dir := t.TempDir()
			logs := map[string]string{"broker": filepath.Join(dir, "broker.log"), "ingest": filepath.Join(dir, "ingest.log"), "gateway": filepath.Join(dir, "gateway.log")}
			ctx := context.Background()
			b, err := broker.Start(ctx, broker.Config{PlainAddr: "127.0.0.1:0", Users: map[string]string{"probe-a": testPassword, "probe-b": testPassword + "b"},
				DeviceACL: true, Events: openEvents(t, logs["broker"], "broker", recording)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			in, err := ingest.Start(ctx, ingest.Config{Addr: "127.0.0.1:0", StorePath: filepath.Join(dir, "store.db"), Tokens: []string{"ingest-token-0123456789"},
				Events: openEvents(t, logs["ingest"], "ingest", recording)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { in.Close() })
			targets := check.Targets{
				Broker: check.Broker{Plain: b.PlainAddr()},
				Probes: []check.Identity{
					{Name: "probe-a", ClientID: "probe-a", Username: "probe-a", Password: testPassword, Topic: "rig/devices/probe-a/telemetry"},
					{Name: "probe-b", ClientID: "probe-b", Username: "probe-b", Password: testPassword + "b", Topic: "rig/devices/probe-b/telemetry"},
				},
				Ingest:        check.Ingest{URL: in.URL() + ingest.PathTelemetry, Token: "ingest-token-0123456789"},
				Observability: check.Observability{BrokerLog: logs["broker"], IngestLog: logs["ingest"], GatewayLog: logs["gateway"]},
			}
			env, _ := checktest.NewEnv(t, targets, nil)
			env.UART = &eventUART{log: openEvents(t, logs["gateway"], "gateway", recording)}
			controls := []string{"OBS-AUTH-EVENTS", "OBS-ACL-EVENTS", "OBS-INGEST-EVENTS", "OBS-UART-EVENTS"}
			env.Only = map[string]bool{}
			for _, c := range controls {
				env.Only[c] = true
			}
			start := time.Now()
			results, err := checks.Evaluate(ctx, env, []string{"observability"})
			if err != nil {
				t.Fatal(err)
			}
			want := record.StatusPass
			if !recording {
				want = record.StatusFail
			}
			if len(results) != len(controls) {
				t.Fatalf("%d results, want %d: %+v", len(results), len(controls), results)
			}
			for _, r := range results {
				if r.Status != want {
					t.Errorf("%s = %s (%s), want %s", r.Control, r.Status, r.Reason, want)
				}
				if len(r.Evidence) == 0 {
					t.Errorf("%s: no evidence", r.Control)
				}
			}
			// A miss is declared only after the whole bound of each control. The probes wait side
			// by side, but the broker's two (a refused login, then an ACL denial) wait in turn.
			if bound := time.Duration(env.Threshold("OBS-AUTH-EVENTS", "event_within_ms")) * time.Millisecond; !recording && time.Since(start) < 2*bound {
				t.Errorf("four misses declared in %s, before the broker's two bounds in turn (2 × %s)", time.Since(start), bound)
			}
		})
	}
}

// TestObservabilityAuthEventsMosquitto runs OBS-AUTH-EVENTS against Debian's Mosquitto 2.0.11:
// with log_dest file, connection_messages and log_timestamp the refused login is found in its
// own log lines by the probe's address and the control passes; with that logging off (the log
// the operator names stays empty) it fails.
func TestObservabilityAuthEventsMosquitto(t *testing.T) {
	mosq := checktest.NeedBinary(t, "mosquitto", "mosquitto")
	passwd := checktest.NeedBinary(t, "mosquitto_passwd", "mosquitto")
	for _, logging := range []bool{true, false} {
		t.Run(fmt.Sprintf("log_dest_file=%v", logging), func(t *testing.T) {
			dir := t.TempDir()
			logPath := filepath.Join(dir, "mosquitto.log")
			pw := filepath.Join(dir, "passwd")
			checktest.Run(t, dir, passwd, "-b", "-c", pw, "probe-a", probePasswordA)
			addr := checktest.FreeAddr(t)
			conf := fmt.Sprintf("user root\npersistence false\nallow_anonymous false\npassword_file %s\nlistener %s 127.0.0.1\n", pw, checktest.Port(addr))
			if logging {
				conf += "log_dest file " + logPath + "\nconnection_messages true\nlog_timestamp true\n"
			} else {
				conf += "log_dest stderr\nconnection_messages false\n"
				if err := os.WriteFile(logPath, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cf := filepath.Join(dir, "mosquitto.conf")
			if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			checktest.StartPeer(t, dir, []string{addr}, mosq, "-c", cf)
			env, _ := checktest.NewEnv(t, check.Targets{Broker: check.Broker{Plain: addr}, Observability: check.Observability{BrokerLog: logPath}}, nil)
			env.Only = map[string]bool{"OBS-AUTH-EVENTS": true}
			results, err := checks.Evaluate(context.Background(), env, []string{"observability"})
			if err != nil {
				t.Fatal(err)
			}
			want := record.StatusFail
			if logging {
				want = record.StatusPass
			}
			if len(results) != 1 || results[0].Status != want {
				b, _ := os.ReadFile(logPath)
				t.Fatalf("results = %+v, want %s for OBS-AUTH-EVENTS; the broker's log:\n%s", results, want, b)
			}
			t.Logf("%s: %s", results[0].Status, results[0].Reason)
		})
	}
}
