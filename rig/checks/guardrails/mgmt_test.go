package guardrails_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/checktest"
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
		want checktest.Want
	}{
		{"debug vars open", []string{open.URL + "/admin"}, checktest.Fail(record.SeverityHigh)},
		{"admin behind basic auth, nothing else", []string{guarded.URL + "/admin"}, checktest.Pass},
		{"closed port", []string{"http://" + checktest.ClosedPort(t) + "/admin"}, checktest.Pass},
		{"nothing named", nil, checktest.Skipped},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			results := evaluatePeers(t, check.Targets{Management: tc.urls}, "guardrails-depth")
			r := checktest.ByControl(t, results)["GUARD-MGMT"]
			if r.Status != tc.want.Status || (tc.want.Severity != "" && r.Severity != tc.want.Severity) {
				t.Errorf("%s: %s %s (%s), want %s", "GUARD-MGMT", r.Status, r.Severity, r.Reason, tc.want.Status)
			}
		})
	}
}
