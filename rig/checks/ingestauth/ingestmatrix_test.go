package ingestauth_test

import (
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/checktest"
	"github.com/pathrig/rig/rig/checks/probe"
	"github.com/pathrig/rig/rig/record"
)

const (
	otherTenantToken = "tok-tenant-b-51c0e7d2"
	expiredToken     = "tok-tenant-a-expired-0c9e"
)

// tenantIngest is a stand-in ingest with two tenants: testToken belongs to tenant A (which owns
// the sample's device), otherTenantToken to tenant B. strict enforces size, auth and tenancy.
func tenantIngest(t *testing.T, strict, useTLS bool) check.Ingest {
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
			tenant := map[string]string{"Bearer " + checktest.Token: "A", "Bearer " + otherTenantToken: "B"}[r.Header.Get("Authorization")]
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
	in := check.Ingest{URL: srv.URL + "/v1/telemetry", Token: checktest.Token, OtherTenantToken: otherTenantToken, ExpiredToken: expiredToken, Sample: checktest.SampleBody}
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
		want          checktest.Verdicts
	}{
		{"open plain HTTP ingest", false, false, false, checktest.Verdicts{
			"INGEST-OVERSIZE": checktest.Fail(record.SeverityMedium), "INGEST-OTHER-TENANT": checktest.Fail(record.SeverityHigh), "INGEST-EXPIRED": checktest.Fail(record.SeverityHigh), "INGEST-PLAINTEXT": checktest.Fail(record.SeverityHigh),
		}},
		{"strict HTTPS ingest", true, true, false, checktest.Verdicts{"INGEST-OVERSIZE": checktest.Pass, "INGEST-OTHER-TENANT": checktest.Pass, "INGEST-EXPIRED": checktest.Pass, "INGEST-PLAINTEXT": checktest.Pass}},
		{"strict, no second tenant nor expired token named", true, true, true, checktest.Verdicts{"INGEST-OVERSIZE": checktest.Pass, "INGEST-OTHER-TENANT": checktest.Skipped, "INGEST-EXPIRED": checktest.Skipped, "INGEST-PLAINTEXT": checktest.Pass}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tenantIngest(t, tc.strict, tc.tls)
			if tc.noOtherTenant {
				in.OtherTenantToken, in.ExpiredToken = "", ""
			}
			results := evaluatePeers(t, check.Targets{Ingest: in}, "ingest-matrix")
			checktest.AssertVerdicts(t, results, tc.want)
		})
	}
}

// statusEverywhere answers every request with code, over HTTPS when useTLS.
func statusEverywhere(t *testing.T, code int, useTLS bool) check.Ingest {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		http.Error(w, http.StatusText(code), code)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	in := check.Ingest{Token: checktest.Token, OtherTenantToken: otherTenantToken, ExpiredToken: expiredToken, Sample: checktest.SampleBody}
	if useTLS {
		srv.StartTLS()
		in.Trust = x509.NewCertPool()
		in.Trust.AddCert(srv.Certificate())
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	in.URL = srv.URL + "/v1/telemetry"
	return in
}

// TestIngestBrokenForEveryone: an ingest that answers 404 or 500 to every request, or where
// nothing listens at all, shows nothing about authentication, size limits or plaintext: every
// INGEST-* control is error, none passes or fails.
func TestIngestBrokenForEveryone(t *testing.T) {
	nothing := func(scheme string) func(t *testing.T) check.Ingest {
		return func(t *testing.T) check.Ingest {
			return check.Ingest{URL: scheme + "://" + checktest.ClosedPort(t) + "/v1/telemetry", Token: checktest.Token, OtherTenantToken: otherTenantToken, ExpiredToken: expiredToken, Sample: checktest.SampleBody}
		}
	}
	tests := []struct {
		name   string
		ingest func(t *testing.T) check.Ingest
	}{
		{"404 to everything, HTTP", func(t *testing.T) check.Ingest { return statusEverywhere(t, http.StatusNotFound, false) }},
		{"500 to everything, HTTP", func(t *testing.T) check.Ingest { return statusEverywhere(t, http.StatusInternalServerError, false) }},
		{"404 to everything, HTTPS", func(t *testing.T) check.Ingest { return statusEverywhere(t, http.StatusNotFound, true) }},
		{"500 to everything, HTTPS", func(t *testing.T) check.Ingest { return statusEverywhere(t, http.StatusInternalServerError, true) }},
		{"nothing listens, HTTP URL", nothing("http")},
		{"nothing listens, HTTPS URL", nothing("https")},
	}
	all := checktest.Verdicts{
		"INGEST-UNAUTH": checktest.Errored, "INGEST-WRONGCRED": checktest.Errored,
		"INGEST-OVERSIZE": checktest.Errored, "INGEST-OTHER-TENANT": checktest.Errored, "INGEST-EXPIRED": checktest.Errored, "INGEST-PLAINTEXT": checktest.Errored,
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			results := evaluatePeers(t, check.Targets{Ingest: tc.ingest(t)}, "ingest-auth", "ingest-matrix")
			checktest.AssertVerdicts(t, results, all)
		})
	}
}

// shapeIngest accepts any bearer token that matches shape, as an ingest that validates the
// token's format and never looks it up would.
func shapeIngest(t *testing.T, shape *regexp.Regexp) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !shape.MatchString(tok) {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1/telemetry"
}

// TestWrongCredentialShape: the wrong token INGEST-WRONGCRED sends has the valid token's shape, so
// an ingest that only checks the format of a token fails the control.
func TestWrongCredentialShape(t *testing.T) {
	hex32 := probe.RandomHex(16)
	tests := []struct {
		name  string
		valid string
		shape string // what the ingest accepts
		want  checktest.Want
	}{
		{"any 32 hex digits", hex32, `^[0-9a-f]{32}$`, checktest.Fail(record.SeverityHigh)},
		{"any tok- and 20 hex digits", checktest.Token, `^tok-[0-9a-f]{20}$`, checktest.Fail(record.SeverityHigh)},
		{"any 32 upper-case hex digits", strings.ToUpper(hex32), `^[0-9A-F]{32}$`, checktest.Fail(record.SeverityHigh)},
		{"only the issued token", hex32, `^` + hex32 + `$`, checktest.Pass},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := check.Ingest{URL: shapeIngest(t, regexp.MustCompile(tc.shape)), Token: tc.valid, Sample: checktest.SampleBody}
			results := evaluatePeers(t, check.Targets{Ingest: in}, "ingest-auth")
			checktest.AssertVerdicts(t, results, checktest.Verdicts{"INGEST-UNAUTH": checktest.Pass, "INGEST-WRONGCRED": tc.want})
		})
	}
}
