package checks

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

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

// earlyRefusingIngest is a small HTTP/1.1 server, not net/http, that answers a request announcing
// more than limit bytes with 413 as soon as it has read the headers, and closes the connection
// without reading the body. Like Python's http.server it first says 100 Continue to a client that
// expects it, so the client is writing the body when the 413 and the close arrive; it sends no
// "Connection: close". Smaller requests are read and accepted with 202.
func earlyRefusingIngest(t *testing.T, limit int64, useTLS bool) Ingest {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	in := Ingest{URL: "http://" + ln.Addr().String() + "/v1/telemetry", Token: testToken, Sample: sampleBody}
	if useTLS {
		p := pki(t)
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{p.good}})
		in.URL, in.Trust = "https://"+ln.Addr().String()+"/v1/telemetry", p.pool
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				if req.ContentLength > limit {
					if strings.EqualFold(req.Header.Get("Expect"), "100-continue") {
						_, _ = io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
						time.Sleep(5 * time.Millisecond) // the body is on its way
					}
					_, _ = io.WriteString(c, "HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\ntoo large")
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				_, _ = io.WriteString(c, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			}()
		}
	}()
	return in
}

// TestOversizeEarlyRefusal: an ingest that answers 413 on the headers and closes gets the same
// verdict on every run, whatever becomes of the body the probe was still writing.
func TestOversizeEarlyRefusal(t *testing.T) {
	tests := []struct {
		name   string
		useTLS bool
		runs   int
		want   record.Status
	}{
		{"413 after the headers, then close", false, 20, record.StatusPass},
		{"413 after the headers, then close, over HTTPS", true, 20, record.StatusPass},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := earlyRefusingIngest(t, 16<<10, tc.useTLS)
			env, _ := newEnv(t, Targets{Ingest: in}, nil)
			env.Limits = env.Limits.WithDefaults()
			env.Limits.OversizeBytes = 4 << 20 // far beyond what the socket buffers swallow
			client := probeHTTPClient(in, env.Limits.ProbeTimeout)
			seen := map[record.Status]int{}
			for i := 0; i < tc.runs; i++ {
				o := probeOversize(context.Background(), env, client)
				seen[o.Status]++
				if o.Status != tc.want {
					t.Errorf("run %d: %s %s (%s), want %s", i+1, ctlIngestOversize, o.Status, o.Reason, tc.want)
				}
			}
			t.Logf("%d runs: %v", tc.runs, seen)
		})
	}
}

// statusEverywhere answers every request with code, over HTTPS when useTLS.
func statusEverywhere(t *testing.T, code int, useTLS bool) Ingest {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		http.Error(w, http.StatusText(code), code)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	in := Ingest{Token: testToken, OtherTenantToken: otherTenantToken, ExpiredToken: expiredToken, Sample: sampleBody}
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
	nothing := func(scheme string) func(t *testing.T) Ingest {
		return func(t *testing.T) Ingest {
			return Ingest{URL: scheme + "://" + closedPort(t) + "/v1/telemetry", Token: testToken, OtherTenantToken: otherTenantToken, ExpiredToken: expiredToken, Sample: sampleBody}
		}
	}
	tests := []struct {
		name   string
		ingest func(t *testing.T) Ingest
	}{
		{"404 to everything, HTTP", func(t *testing.T) Ingest { return statusEverywhere(t, http.StatusNotFound, false) }},
		{"500 to everything, HTTP", func(t *testing.T) Ingest { return statusEverywhere(t, http.StatusInternalServerError, false) }},
		{"404 to everything, HTTPS", func(t *testing.T) Ingest { return statusEverywhere(t, http.StatusNotFound, true) }},
		{"500 to everything, HTTPS", func(t *testing.T) Ingest { return statusEverywhere(t, http.StatusInternalServerError, true) }},
		{"nothing listens, HTTP URL", nothing("http")},
		{"nothing listens, HTTPS URL", nothing("https")},
	}
	all := verdicts{
		ctlIngestUnauth: errored, ctlIngestWrongCred: errored,
		ctlIngestOversize: errored, ctlIngestOtherTenant: errored, ctlIngestExpired: errored, ctlIngestPlaintext: errored,
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			results := evaluatePeers(t, Targets{Ingest: tc.ingest(t)}, "ingest-auth", "ingest-matrix")
			assertVerdicts(t, results, all)
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
	hex32 := randomHex(16)
	tests := []struct {
		name  string
		valid string
		shape string // what the ingest accepts
		want  want
	}{
		{"any 32 hex digits", hex32, `^[0-9a-f]{32}$`, fail(record.SeverityHigh)},
		{"any tok- and 20 hex digits", testToken, `^tok-[0-9a-f]{20}$`, fail(record.SeverityHigh)},
		{"any 32 upper-case hex digits", strings.ToUpper(hex32), `^[0-9A-F]{32}$`, fail(record.SeverityHigh)},
		{"only the issued token", hex32, `^` + hex32 + `$`, pass},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := Ingest{URL: shapeIngest(t, regexp.MustCompile(tc.shape)), Token: tc.valid, Sample: sampleBody}
			results := evaluatePeers(t, Targets{Ingest: in}, "ingest-auth")
			assertVerdicts(t, results, verdicts{ctlIngestUnauth: pass, ctlIngestWrongCred: tc.want})
		})
	}
}

// TestWrongToken: the wrong credential has the valid one's length, separators and character
// classes, and is never the valid one.
func TestWrongToken(t *testing.T) {
	class := func(c byte) string {
		switch {
		case c >= '0' && c <= '9':
			return "digit"
		case c >= 'a' && c <= 'f':
			return "hex-lower"
		case c >= 'A' && c <= 'F':
			return "hex-upper"
		case c >= 'a' && c <= 'z':
			return "lower"
		case c >= 'A' && c <= 'Z':
			return "upper"
		}
		return string(c)
	}
	hexOnly := regexp.MustCompile(`^[0-9a-f]+$`)
	tests := []struct {
		name  string
		valid string
		keep  string // a prefix the wrong token keeps
		check func(t *testing.T, valid, wrong string)
	}{
		{name: "32 hex digits", valid: "3f9a1c7e5b2d4f60a8e1c0d2b4a69788", check: func(t *testing.T, _, wrong string) {
			if !hexOnly.MatchString(wrong) {
				t.Errorf("wrong token %q is not hex", wrong)
			}
		}},
		{name: "label and hex", valid: testToken, keep: "tok-", check: func(t *testing.T, _, wrong string) {
			if !hexOnly.MatchString(strings.TrimPrefix(wrong, "tok-")) {
				t.Errorf("wrong token %q: the part after tok- is not hex", wrong)
			}
		}},
		{name: "digits only", valid: "12345678901234567890", check: func(t *testing.T, _, wrong string) {
			if strings.Trim(wrong, "0123456789") != "" {
				t.Errorf("wrong token %q is not all digits", wrong)
			}
		}},
		{name: "base64url with labels", valid: "sk_live_Ab3dE7fGh1JkL9mNoP2qRs", keep: "sk_live_", check: func(t *testing.T, valid, wrong string) {
			for i := range valid {
				if a, b := class(valid[i]), class(wrong[i]); (a == "digit") != (b == "digit") || (a == "upper" || a == "hex-upper") != (b == "upper" || b == "hex-upper") {
					t.Errorf("position %d: %q became %q", i, valid[i], wrong[i])
				}
			}
		}},
		{name: "JWT", valid: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJnYXRld2F5LWEifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg", keep: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJnYXRld2F5LWEifQ."},
		{name: "a label alone", valid: "secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i < 50; i++ {
				wrong := wrongToken(tc.valid)
				if wrong == tc.valid {
					t.Fatalf("wrong token equals the valid one: %q", wrong)
				}
				if len(wrong) != len(tc.valid) {
					t.Fatalf("got length %d (%q), want %d", len(wrong), wrong, len(tc.valid))
				}
				if !strings.HasPrefix(wrong, tc.keep) {
					t.Errorf("got %q, want it to keep %q", wrong, tc.keep)
				}
				for j := range wrong {
					if !isAlnum(tc.valid[j]) && wrong[j] != tc.valid[j] {
						t.Errorf("separator %q at %d became %q", tc.valid[j], j, wrong[j])
					}
				}
				if tc.check != nil {
					tc.check(t, tc.valid, wrong)
				}
			}
		})
	}
	if got := wrongToken(""); len(got) != 32 || !hexOnly.MatchString(got) {
		t.Errorf("without a valid token: got %q, want 32 hex digits", got)
	}
}
