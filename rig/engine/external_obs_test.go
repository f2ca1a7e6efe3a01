package engine

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/scenarios"
)

// TestExternalObservabilityTargets: targets.observability is read into the checks' targets with
// its files resolved against the scenario's folder and its credential read from the file it
// names (and handed out for redaction).
func TestExternalObservabilityTargets(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"mosquitto.log": "", "debug.log": "", "metrics.pw": "metrics-pass-0123456789\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sc := filepath.Join(dir, "s.yaml")
	body := "name: ext\nchecks: [observability]\ntargets:\n  broker:\n    plain: 127.0.0.1:1883\n  observability:\n" +
		"    broker_log: mosquitto.log\n    other_logs: [debug.log]\n    metrics: [\"http://127.0.0.1:9100/metrics\"]\n" +
		"    metrics_user: prom\n    metrics_password: {file: metrics.pw}\n    alerts: http://127.0.0.1:9093/api/v2/alerts\n"
	if err := os.WriteFile(sc, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range checks.All() {
		ids = append(ids, c.ID)
	}
	plan, err := scenario.Library{Embedded: scenarios.FS}.Load(sc, "", ids)
	if err != nil {
		t.Fatal(err)
	}
	got, secrets, err := externalTargets(&plan.Scenario)
	if err != nil {
		t.Fatal(err)
	}
	o := got.Observability
	if o.BrokerLog != filepath.Join(dir, "mosquitto.log") || len(o.OtherLogs) != 1 || o.OtherLogs[0] != filepath.Join(dir, "debug.log") ||
		len(o.Metrics) != 1 || o.Alerts == "" || o.MetricsUser != "prom" || o.MetricsPassword != "metrics-pass-0123456789" || o.GatewayLog != "" {
		t.Errorf("observability targets = %+v", o)
	}
	found := false
	for _, s := range secrets {
		found = found || s == "metrics-pass-0123456789"
	}
	if !found {
		t.Error("the metrics password is not among the secrets handed out for redaction")
	}
}
