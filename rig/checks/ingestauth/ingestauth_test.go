package ingestauth

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/checktest"
	"github.com/pathrig/rig/rig/checks/probe/httpprobe"
	"github.com/pathrig/rig/rig/record"
)

// earlyRefusingIngest is a small HTTP/1.1 server, not net/http, that answers a request announcing
// more than limit bytes with 413 as soon as it has read the headers, and closes the connection
// without reading the body. Like Python's http.server it first says 100 Continue to a client that
// expects it, so the client is writing the body when the 413 and the close arrive; it sends no
// "Connection: close". Smaller requests are read and accepted with 202.
func earlyRefusingIngest(t *testing.T, limit int64, useTLS bool) check.Ingest {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	in := check.Ingest{URL: "http://" + ln.Addr().String() + "/v1/telemetry", Token: checktest.Token, Sample: checktest.SampleBody}
	if useTLS {
		p := checktest.TestPKI(t)
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{p.Good}})
		in.URL, in.Trust = "https://"+ln.Addr().String()+"/v1/telemetry", p.Pool
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
			env, _ := checktest.NewEnv(t, check.Targets{Ingest: in}, nil)
			env.Limits = env.Limits.WithDefaults()
			env.Limits.OversizeBytes = 4 << 20 // far beyond what the socket buffers swallow
			client := httpprobe.Client(in.Trust, env.Limits.ProbeTimeout)
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
		{name: "label and hex", valid: checktest.Token, keep: "tok-", check: func(t *testing.T, _, wrong string) {
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
