package scenario

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestObservabilityProfile(t *testing.T) {
	for _, tc := range []struct {
		name      string
		block     string // YAML under observability:
		wantErr   string // "" = valid
		wantLine  int
		wantField string
		want      ObservabilityProfile
	}{
		{"absent", "", "", 0, "", ObservabilityProfile{}},
		{"hardened", "  security_log: true\n  metrics: {auth: basic}\n  gap_alert: 1s\n  clock_skew_bound: 2s\n", "", 0, "",
			ObservabilityProfile{SecurityLog: true, Metrics: MetricsProfile{Auth: MetricsBasic}, GapAlert: Duration(time.Second), ClockSkewBound: Duration(2 * time.Second)}},
		{"exposed", "  debug_log_credentials: true\n  metrics: {auth: none}\n", "", 0, "",
			ObservabilityProfile{DebugLogCredentials: true, Metrics: MetricsProfile{Auth: MetricsOpen}}},
		{"unknown auth", "  metrics: {auth: digest}\n", `"digest" is not one of none, basic, bearer`, 8, "observability.metrics.auth", ObservabilityProfile{}},
		{"metrics without auth", "  metrics: {}\n", "auth missing", 8, "observability.metrics", ObservabilityProfile{}},
		{"gap alert too short", "  security_log: true\n  gap_alert: 10ms\n", "outside 100ms..1h0m0s", 9, "observability.gap_alert", ObservabilityProfile{}},
		{"gap alert nowhere", "  gap_alert: 1s\n", "nowhere to be raised", 8, "observability.gap_alert", ObservabilityProfile{}},
		{"skew bound zero", "  security_log: true\n  clock_skew_bound: 0s\n", "remove the field", 9, "observability.clock_skew_bound", ObservabilityProfile{}},
		{"skew reported nowhere", "  clock_skew_bound: 2s\n", "reported nowhere", 8, "observability.clock_skew_bound", ObservabilityProfile{}},
		{"unknown key", "  metric: {auth: basic}\n", "unknown field", 8, "observability.metric", ObservabilityProfile{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			profile := goodProfile
			if tc.block != "" {
				profile += "gateway:\n  transport: plaintext\nobservability:\n" + tc.block
			}
			plan, err := Library{}.Load(writeTree(t, goodScenario, profile), "", known)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := plan.Profile.Observability; got != tc.want {
					t.Errorf("observability = %+v, want %+v", got, tc.want)
				}
				return
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v, want a *FileError", err)
			}
			if fe.Line != tc.wantLine || fe.Field != tc.wantField || !strings.Contains(fe.Msg, tc.wantErr) || !strings.HasSuffix(fe.File, "p.yaml") {
				t.Errorf("got %s line %d field %q msg %q, want p.yaml line %d field %q msg containing %q", fe.File, fe.Line, fe.Field, fe.Msg, tc.wantLine, tc.wantField, tc.wantErr)
			}
		})
	}
}

func TestAlertWithinLimit(t *testing.T) {
	plan, err := Library{}.Load(writeTree(t, goodScenario+"limits:\n  alert_within: 2s\n", goodProfile), "", known)
	if err != nil {
		t.Fatal(err)
	}
	if got := plan.Scenario.Limits.AlertWithin.D(); got != 2*time.Second {
		t.Errorf("alert_within = %s, want 2s", got)
	}
	_, err = Library{}.Load(writeTree(t, goodScenario+"limits:\n  alert_within: 1ms\n", goodProfile), "", known)
	var fe *FileError
	if !errors.As(err, &fe) || fe.Field != "limits.alert_within" {
		t.Errorf("alert_within 1ms: %v, want an error naming limits.alert_within", err)
	}
}
