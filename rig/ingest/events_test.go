package ingest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/secevent"
)

// TestSecurityEventsAndSkew: a refused request is recorded with the client's address, status and
// reason and without the token it carried; a record whose gateway time is further off than the
// bound raises one clock-skew event for its device (not one per record), and none while it
// stays within.
func TestSecurityEventsAndSkew(t *testing.T) {
	now := epoch
	var events syncBuffer
	s, _ := startIngest(t, Config{Tokens: []string{"good-token-123"}, Events: secevent.New(&events, "ingest"),
		ClockSkewBound: 2 * time.Second, Now: func() time.Time { return now }})
	url := s.URL() + PathTelemetry
	c := http.DefaultClient

	if r := do(t, c, "POST", url, "Bearer wrong-token-456", body(t, rec(1, 0))); r.status != 401 {
		t.Fatalf("wrong token: %d", r.status)
	}
	if r := do(t, c, "POST", url, "Bearer good-token-123", body(t, rec(1, 1))); r.status != 202 { // 1 s ahead: within
		t.Fatalf("valid record: %d %s", r.status, r.body)
	}
	if readings, crossed := s.ClockSkew(); len(readings) != 1 || readings[0].Skew != time.Second || readings[0].Beyond || crossed != 0 {
		t.Errorf("skew within the bound = %+v (crossed %d)", readings, crossed)
	}
	for seq := uint32(30); seq < 33; seq++ { // 30 s and more ahead, three requests
		if r := do(t, c, "POST", url, "Bearer good-token-123", body(t, rec(1, seq))); r.status != 202 {
			t.Fatalf("skewed record: %d %s", r.status, r.body)
		}
	}
	evs, err := secevent.Decode(strings.NewReader(events.String()), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("events = %+v, want the refusal and one clock-skew event", evs)
	}
	if e := evs[0]; e.Kind != secevent.IngestRefused || e.Outcome != secevent.Refused || e.Source != "ingest" ||
		!strings.HasPrefix(e.Remote, "127.0.0.1:") || !strings.Contains(e.Detail, "401 unauthorized") {
		t.Errorf("refusal event = %+v", e)
	}
	if e := evs[1]; e.Kind != secevent.ClockSkew || e.Identity != dev || e.Outcome != secevent.Alert || !strings.Contains(e.Detail, "30s ahead") {
		t.Errorf("skew event = %+v", e)
	}
	if strings.Contains(events.String(), "token-") {
		t.Error("a token is in the security events")
	}
	if readings, crossed := s.ClockSkew(); len(readings) != 1 || !readings[0].Beyond || crossed != 1 {
		t.Errorf("skew beyond the bound = %+v (crossed %d)", readings, crossed)
	}
}
