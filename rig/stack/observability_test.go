package stack

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/checks/probe/mqttclient"
	"github.com/pathrig/rig/rig/checks/probe/obsprobe"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/rig/secevent"
	"github.com/pathrig/rig/scenarios"
)

// TestObservabilityProfiles starts the reference path in both states and reads what it exposes
// the way a check does: the hardened path names its security logs and serves metrics and alerts
// only with the generated credential, raises the gap alert for a silenced device and records a
// skewed gateway clock; the exposed path names its operational logs, serves metrics to anyone,
// writes the credentials it saw into its broker log and records neither.
func TestObservabilityProfiles(t *testing.T) {
	var ids []string
	for _, c := range checks.All() {
		ids = append(ids, c.ID)
	}
	for _, profile := range []string{"hardened", "exposed"} {
		t.Run(profile, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			plan, err := scenario.Library{Embedded: scenarios.FS}.Load("audit-baseline", profile, ids)
			if err != nil {
				t.Fatal(err)
			}
			var secrets []string
			st, err := Start(ctx, Config{Plan: plan, WorkDir: t.TempDir(), Secret: func(s string) { secrets = append(secrets, s) }})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.WaitReady(ctx, 0); err != nil {
				t.Fatal(err)
			}
			hardened := profile == "hardened"
			o := st.Targets().Observability
			if o.BrokerLog == "" || o.GatewayLog == "" || o.IngestLog == "" || len(o.Metrics) != 1 || o.Alerts == "" {
				t.Fatalf("targets = %+v: want three logs, a metrics and an alerts URL", o)
			}
			if got := strings.HasSuffix(o.BrokerLog, "-security.log"); got != hardened {
				t.Errorf("broker log %s: security log = %v, want %v", o.BrokerLog, got, hardened)
			}
			creds := obsprobe.Credentials{User: o.MetricsUser, Password: o.MetricsPassword, Token: o.MetricsToken}
			if creds.None() == hardened {
				t.Errorf("metrics credential present = %v, want %v", !creds.None(), hardened)
			}
			if hardened && !contains(secrets, o.MetricsPassword) {
				t.Error("the metrics password was not registered for redaction")
			}
			client := &http.Client{Timeout: 5 * time.Second}
			anon, err := obsprobe.Get(ctx, client, o.Metrics[0], obsprobe.Credentials{})
			if err != nil {
				t.Fatal(err)
			}
			if wantAnon := map[bool]int{true: 401, false: 200}[hardened]; anon.Status != wantAnon {
				t.Errorf("anonymous GET %s = %d, want %d", o.Metrics[0], anon.Status, wantAnon)
			}
			got, err := obsprobe.Get(ctx, client, o.Metrics[0], creds)
			if err != nil || got.Status != 200 {
				t.Fatalf("GET with the credential = %d, %v", got.Status, err)
			}
			m, err := obsprobe.ParseMetrics(got.Body)
			if err != nil {
				t.Fatal(err)
			}
			if v, ok := m.Value("rig_gateway_frames_total", map[string]string{"device": st.DeviceName()}); !ok || v == 0 {
				t.Errorf("rig_gateway_frames_total for the device = %v (%v); families %v", v, ok, m.Names())
			}

			// The gap alert: silence the device past the profile's bound.
			resume, err := st.Silence(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var alerts []obsprobe.Alert
			for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
				r, err := obsprobe.Get(ctx, client, o.Alerts, creds)
				if err != nil || r.Status != 200 {
					t.Fatalf("alerts: %d %v", r.Status, err)
				}
				if alerts, err = obsprobe.ParseAlerts(r.Body); err != nil {
					t.Fatal(err)
				}
				if len(alerts) > 0 {
					break
				}
			}
			if _, ok := obsprobe.FindAlert(alerts, st.DeviceName()); ok != hardened {
				t.Errorf("gap alert naming the device = %v (alerts %+v), want %v", ok, alerts, hardened)
			}
			if err := resume(ctx); err != nil {
				t.Fatal(err)
			}

			// Clock skew, as the ingest sees the skewed gateway's records.
			mark, _ := obsprobe.Mark(o.IngestLog)
			restore, err := st.SkewGateway(30 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			var skewed bool
			for end := time.Now().Add(3 * time.Second); time.Now().Before(end) && !skewed; time.Sleep(50 * time.Millisecond) {
				l, err := obsprobe.Read(o.IngestLog, mark, obsprobe.MaxLogRead, "ingest")
				if err != nil {
					t.Fatal(err)
				}
				_, skewed = obsprobe.Match(l.Events, obsprobe.Want{Kind: secevent.ClockSkew, Identity: st.DeviceName()})
			}
			restore()
			if skewed != hardened {
				t.Errorf("clock-skew event = %v, want %v", skewed, hardened)
			}

			// The exposed broker log writes the passwords of the probe identities it saw connect.
			id := st.Targets().Probes[0]
			ep := mqttclient.Endpoint{Label: "plain", Addr: st.Targets().Broker.Plain}
			c, ca := mqttclient.Connect(ctx, ep, mqttclient.ConnectOpts{Version: 4, ClientID: id.ClientID, Username: id.Username, Password: id.Password}, 2*time.Second)
			if c != nil {
				c.Disconnect()
			}
			if !hardened {
				if err := ca.Err(ep); err != nil {
					t.Fatal(err)
				}
				b, _ := os.ReadFile(o.BrokerLog)
				if !strings.Contains(string(b), id.Password) {
					t.Error("the exposed broker's debug log does not hold the password it saw")
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
