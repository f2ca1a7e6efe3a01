package checks

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pathrig/rig/rig/record"
)

func TestManagementEndpoints(t *testing.T) {
	open := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/debug/vars" {
			_, _ = w.Write([]byte(`{"cmdline":["gateway"]}`))
			return
		}
		http.NotFound(w, r)
	}))
	defer open.Close()
	guarded := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := r.BasicAuth(); !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="admin"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer guarded.Close()
	tests := []struct {
		name string
		urls []string
		want want
	}{
		{"debug vars open", []string{open.URL + "/admin"}, fail(record.SeverityHigh)},
		{"admin behind basic auth, nothing else", []string{guarded.URL + "/admin"}, pass},
		{"closed port", []string{"http://" + closedPort(t) + "/admin"}, pass},
		{"nothing named", nil, skipped},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			results := evaluatePeers(t, Targets{Management: tc.urls}, "guardrails-depth")
			r := byControl(t, results)[ctlGuardMgmt]
			if r.Status != tc.want.status || (tc.want.severity != "" && r.Severity != tc.want.severity) {
				t.Errorf("%s: %s %s (%s), want %s", ctlGuardMgmt, r.Status, r.Severity, r.Reason, tc.want.status)
			}
		})
	}
}
