package waiver

import (
	"testing"
	"time"

	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/scenario"
)

func date(s string) scenario.Date {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return scenario.Date{Time: t}
}

// TestApply: each waiver of a file ends in one state, and only an applied one is attached.
func TestApply(t *testing.T) {
	today := time.Date(2026, 3, 10, 23, 0, 0, 0, time.UTC)
	hops := map[string]string{"TRANSPORT-PLAINTEXT": "broker", "GUARD-RATE": "broker", "INGEST-UNAUTH": "ingest", "CERT-SAN": "broker", "TRUST-LOSS": "gateway", "GUARD-MGMT": "gateway"}
	for _, tc := range []struct {
		name    string
		status  record.Status
		control string
		waiver  scenario.Waiver
		state   string
	}{
		{"a failure is accepted", record.StatusFail, "TRANSPORT-PLAINTEXT", scenario.Waiver{Control: "TRANSPORT-PLAINTEXT", Reason: "r", Expires: date("2026-04-01")}, record.WaiverApplied},
		{"through its expiry day", record.StatusFail, "TRANSPORT-PLAINTEXT", scenario.Waiver{Control: "TRANSPORT-PLAINTEXT", Reason: "r", Expires: date("2026-03-10")}, record.WaiverApplied},
		{"expired the day before", record.StatusFail, "TRANSPORT-PLAINTEXT", scenario.Waiver{Control: "TRANSPORT-PLAINTEXT", Reason: "r", Expires: date("2026-03-09")}, record.WaiverExpired},
		{"a passing control needs none", record.StatusPass, "TRANSPORT-PLAINTEXT", scenario.Waiver{Control: "TRANSPORT-PLAINTEXT", Reason: "r", Expires: date("2026-04-01")}, record.WaiverNotNeeded},
		{"an expired waiver on a pass: not needed", record.StatusPass, "TRANSPORT-PLAINTEXT", scenario.Waiver{Control: "TRANSPORT-PLAINTEXT", Reason: "r", Expires: date("2020-01-01")}, record.WaiverNotNeeded},
		{"an error is never accepted", record.StatusError, "TRANSPORT-PLAINTEXT", scenario.Waiver{Control: "TRANSPORT-PLAINTEXT", Reason: "r", Expires: date("2026-04-01")}, record.WaiverNotApplicable},
		{"a control not run", record.StatusFail, "TRANSPORT-PLAINTEXT", scenario.Waiver{Control: "GUARD-RATE", Reason: "r", Expires: date("2026-04-01")}, record.WaiverNotApplicable},
		{"the broker target matches", record.StatusFail, "TRANSPORT-PLAINTEXT", scenario.Waiver{Control: "TRANSPORT-PLAINTEXT", Reason: "r", Expires: date("2026-04-01"), Target: "broker.example:1883"}, record.WaiverApplied},
		{"another broker", record.StatusFail, "TRANSPORT-PLAINTEXT", scenario.Waiver{Control: "TRANSPORT-PLAINTEXT", Reason: "r", Expires: date("2026-04-01"), Target: "other.example:1883"}, record.WaiverNotApplicable},
		{"the ingest URL is not a broker target", record.StatusFail, "TRANSPORT-PLAINTEXT", scenario.Waiver{Control: "TRANSPORT-PLAINTEXT", Reason: "r", Expires: date("2026-04-01"), Target: "https://ingest.example/v1/telemetry"}, record.WaiverNotApplicable},
		{"the ingest target matches", record.StatusFail, "INGEST-UNAUTH", scenario.Waiver{Control: "INGEST-UNAUTH", Reason: "r", Expires: date("2026-04-01"), Target: "https://ingest.example/v1/telemetry"}, record.WaiverApplied},
		{"a gateway control matches the device UID", record.StatusFail, "TRUST-LOSS", scenario.Waiver{Control: "TRUST-LOSS", Reason: "r", Expires: date("2026-04-01"), Target: "303030313233343536373839"}, record.WaiverApplied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := &record.Run{
				Results:  []record.Result{{Control: tc.control, Check: "c", Status: tc.status, Severity: record.SeverityHigh}},
				Device:   &record.Device{UID: "303030313233343536373839"},
				Volatile: record.Volatile{Targets: map[string]string{"broker_plain": "broker.example:1883", "broker_tls": "broker.example:8883", "ingest": "https://ingest.example/v1/telemetry"}},
			}
			tc.waiver.Source = "w.yaml:2"
			notes := Apply(run, []scenario.Waiver{tc.waiver}, hops, today)
			if len(notes) != 1 || notes[0].State != tc.state {
				t.Fatalf("notes = %+v, want one in state %s", notes, tc.state)
			}
			attached := run.Results[0].Waiver != nil
			if attached != (tc.state == record.WaiverApplied) {
				t.Errorf("waiver attached: %v in state %s", attached, tc.state)
			}
			run.Summarize()
			if want := tc.state == record.WaiverApplied; (run.Summary.Waived == 1) != want || (want && run.Summary.Findings != 0) {
				t.Errorf("summary %+v for state %s", run.Summary, tc.state)
			}
			if notes[0].Note == "" || notes[0].Source != "w.yaml:2" {
				t.Errorf("note %+v lacks its reason or source", notes[0])
			}
		})
	}
}

// TestApplyFirstWins: two waivers that both match one failure: the first in the file applies,
// the second says which one did.
func TestApplyFirstWins(t *testing.T) {
	run := &record.Run{Results: []record.Result{{Control: "GUARD-RATE", Status: record.StatusFail}}, Volatile: record.Volatile{Targets: map[string]string{"broker_tls": "b:8883"}}}
	ws := []scenario.Waiver{
		{Control: "GUARD-RATE", Reason: "first", Expires: date("2030-01-01"), Target: "b:8883", Source: "w.yaml:2"},
		{Control: "GUARD-RATE", Reason: "second", Expires: date("2030-01-01"), Source: "w.yaml:6"},
	}
	notes := Apply(run, ws, map[string]string{"GUARD-RATE": "broker"}, time.Now())
	if notes[0].State != record.WaiverApplied || notes[1].State != record.WaiverNotApplicable || run.Results[0].Waiver.Reason != "first" {
		t.Errorf("notes %+v, attached %+v", notes, run.Results[0].Waiver)
	}
}
