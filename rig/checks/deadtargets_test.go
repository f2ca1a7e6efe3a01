package checks

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/checktest"
	"github.com/pathrig/rig/rig/record"
)

// TestIdentityAndObservabilityNeverPassOnDeadTargets: the identity and observability checks
// against a broker address where nothing listens, one that closes every connection right after
// accepting it (racing the probe's CONNECT), and an ingest, metrics and alerts endpoint that
// answers 500 to everyone. No control may pass on any of them: there is no positive evidence.
func TestIdentityAndObservabilityNeverPassOnDeadTargets(t *testing.T) {
	closed := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	racing := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		return ln.Addr().String()
	}
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "internal error", http.StatusInternalServerError)
	}))
	defer broken.Close()

	for _, tc := range []struct {
		name   string
		broker func(*testing.T) string
	}{{"nothing listening", closed}, {"closed after accept", racing}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			logs := map[string]string{}
			for _, name := range []string{"broker", "gateway", "ingest"} {
				logs[name] = filepath.Join(dir, name+".log")
				if err := os.WriteFile(logs[name], nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			addr := tc.broker(t)
			probes := []check.Identity{
				{Name: "probe-a", ClientID: "probe-a", Username: "probe-a", Password: "password-a-123456", Topic: "rig/devices/probe-a/telemetry"},
				{Name: "probe-b", ClientID: "probe-b", Username: "probe-b", Password: "password-b-123456", Topic: "rig/devices/probe-b/telemetry"},
				{Name: "probe-c", ClientID: "probe-c", Username: "probe-c", Password: "password-c-123456", Topic: "rig/devices/probe-c/telemetry"},
			}
			targets := check.Targets{
				Broker: check.Broker{Plain: addr, WebSocket: []string{"ws://" + addr + "/mqtt"}},
				Probes: probes,
				Ingest: check.Ingest{URL: broken.URL + "/v1/telemetry", Token: "ingest-token-123456", Sample: []byte(`{}`)},
				Observability: check.Observability{
					BrokerLog: logs["broker"], GatewayLog: logs["gateway"], IngestLog: logs["ingest"],
					Metrics: []string{broken.URL + "/metrics"}, MetricsToken: "metrics-token-123456",
					Alerts: broken.URL + "/api/v2/alerts",
				},
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			env, _ := checktest.NewEnv(t, targets, nil)
			env.Limits.ProbeTimeout = time.Second
			results, err := Evaluate(ctx, env, []string{"identity", "observability"})
			if err != nil {
				t.Fatal(err)
			}
			if len(results) == 0 {
				t.Fatal("no results")
			}
			for _, r := range results {
				if r.Status == record.StatusPass {
					t.Errorf("%s passed against a dead target: %s", r.Control, r.Reason)
				}
			}
		})
	}
}
