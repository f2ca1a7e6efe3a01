package obsprobe

import (
	"bytes"
	"testing"
)

// FuzzParse feeds a client's log to the reader: whatever the bytes, Parse never panics, never
// reads past the last complete line, counts every line it does not recognise, and an event it
// reports has a kind and an outcome.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`{"time":"2026-12-07T03:00:00Z","source":"broker","event":"auth-failure","identity":"rig-obs-1","remote":"127.0.0.1:4000","outcome":"refused"}` + "\n",
		"1733540000: New connection from 127.0.0.1:41234 on port 1883.\n1733540000: Client <unknown> disconnected, not authorised.\n",
		"1733540000: New client connected from 127.0.0.1:41235 as probe-a (p2, c1, k60, u'probe-a').\n",
		"not a log line\n{\"event\":\n",
		"partial line without a newline",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l := Parse(data, "broker")
		if l.Bytes != int64(len(data)) {
			t.Fatalf("Bytes %d, want %d", l.Bytes, len(data))
		}
		if complete := bytes.Count(data, []byte("\n")); l.Lines > complete {
			t.Fatalf("%d lines read from %d complete ones", l.Lines, complete)
		}
		for _, e := range l.Events {
			if e.Kind == "" || e.Outcome == "" {
				t.Fatalf("event without kind or outcome: %+v", e)
			}
		}
	})
}

// FuzzParseBodies feeds a metrics body and an alerts body: neither parser panics, and an alert
// returned is an active one.
func FuzzParseBodies(f *testing.F) {
	f.Add([]byte("# TYPE rig_broker_auth_failures_total counter\nrig_broker_auth_failures_total 3\n"))
	f.Add([]byte(`[{"labels":{"alertname":"DeviceSilent","device":"a"},"startsAt":"2026-12-07T03:00:00Z","status":{"state":"active"}}]`))
	f.Add([]byte(`{"data":{"alerts":[{"labels":{"alertname":"DeviceSilent"},"activeAt":"2026-12-07T03:00:00Z","state":"firing"}]}}`))
	f.Add([]byte("<html>login</html>"))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = ParseMetrics(body)
		alerts, err := ParseAlerts(body)
		if err != nil && len(alerts) > 0 {
			t.Fatalf("alerts returned with an error: %v", err)
		}
	})
}
