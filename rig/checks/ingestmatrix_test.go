package checks

import (
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pathrig/rig/rig/record"
)

const (
	otherTenantToken = "tok-tenant-b-51c0e7d2"
	expiredToken     = "tok-tenant-a-expired-0c9e"
)

// tenantIngest is a stand-in ingest with two tenants: testToken belongs to tenant A (which owns
// the sample's device), otherTenantToken to tenant B. strict enforces size, auth and tenancy.
func tenantIngest(t *testing.T, strict, useTLS bool) Ingest {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strict && r.ContentLength > 16<<10 {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if strict {
			if r.Header.Get("Authorization") == "Bearer "+expiredToken {
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="expired"`)
				http.Error(w, "token expired", http.StatusUnauthorized)
				return
			}
			tenant := map[string]string{"Bearer " + testToken: "A", "Bearer " + otherTenantToken: "B"}[r.Header.Get("Authorization")]
			var rec struct{ Device string }
			if tenant == "" {
				w.Header().Set("WWW-Authenticate", "Bearer")
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			if json.Unmarshal(body, &rec) != nil {
				http.Error(w, "bad body", http.StatusBadRequest)
				return
			}
			if tenant != "A" { // every device of the sample belongs to tenant A
				http.Error(w, "device of another tenant", http.StatusForbidden)
				return
			}
		}
		w.WriteHeader(http.StatusAccepted)
	})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the plain-HTTP probe makes the TLS server complain
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	in := Ingest{URL: srv.URL + "/v1/telemetry", Token: testToken, OtherTenantToken: otherTenantToken, ExpiredToken: expiredToken, Sample: sampleBody}
	if useTLS {
		in.Trust = x509.NewCertPool()
		in.Trust.AddCert(srv.Certificate())
	}
	return in
}

func TestIngestMatrixCheck(t *testing.T) {
	tests := []struct {
		name          string
		strict, tls   bool
		noOtherTenant bool
		want          verdicts
	}{
		{"open plain HTTP ingest", false, false, false, verdicts{
			ctlIngestOversize: fail(record.SeverityMedium), ctlIngestOtherTenant: fail(record.SeverityHigh), ctlIngestExpired: fail(record.SeverityHigh), ctlIngestPlaintext: fail(record.SeverityHigh),
		}},
		{"strict HTTPS ingest", true, true, false, verdicts{ctlIngestOversize: pass, ctlIngestOtherTenant: pass, ctlIngestExpired: pass, ctlIngestPlaintext: pass}},
		{"strict, no second tenant nor expired token named", true, true, true, verdicts{ctlIngestOversize: pass, ctlIngestOtherTenant: skipped, ctlIngestExpired: skipped, ctlIngestPlaintext: pass}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tenantIngest(t, tc.strict, tc.tls)
			if tc.noOtherTenant {
				in.OtherTenantToken, in.ExpiredToken = "", ""
			}
			results := evaluatePeers(t, Targets{Ingest: in}, "ingest-matrix")
			assertVerdicts(t, results, tc.want)
		})
	}
}
