package ingest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/pki"
	"github.com/pathrig/rig/rig/telemetry"
)

const (
	dev   = "0123456789abcdef01234567"
	token = "s3cret-token-value"
)

var epoch = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func rec(boot, seq uint32) telemetry.Record {
	return telemetry.Record{Device: dev, Boot: boot, Seq: seq, DeviceTimeMs: seq * 1000,
		GatewayTime: epoch.Add(time.Duration(seq) * time.Second), TempCentiC: 2150, SupplyMv: 3300}
}

func body(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// syncBuffer is a log sink shared by the server goroutines and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startIngest(t *testing.T, cfg Config) (*Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.StorePath == "" {
		cfg.StorePath = filepath.Join(t.TempDir(), "store.db")
	}
	cfg.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, logs
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, client *http.Client, method, url, auth, payload string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, string(b)}
}

func TestStatusMatrix(t *testing.T) {
	s, logs := startIngest(t, Config{Tokens: []string{"other-token", token}, MaxBody: 4096})
	good := body(t, rec(1, 0))
	bearer := "Bearer " + token
	tests := []struct {
		name, method, path, auth, body string
		want                           int
		wantAuthHeader                 string // WWW-Authenticate, "" = absent
		wantBody                       string // substring
	}{
		{"no token", "POST", PathTelemetry, "", good, 401, `Bearer realm="rig-ingest"`, "bearer token required"},
		{"wrong token", "POST", PathTelemetry, "Bearer nope", good, 401, `Bearer realm="rig-ingest", error="invalid_token"`, "invalid bearer token"},
		{"token prefix", "POST", PathTelemetry, "Bearer " + token[:5], good, 401, `Bearer realm="rig-ingest", error="invalid_token"`, ""},
		{"basic scheme", "POST", PathTelemetry, "Basic " + token, good, 401, `Bearer realm="rig-ingest"`, ""},
		{"valid token", "POST", PathTelemetry, bearer, good, 202, "", `"accepted":1`},
		{"second token valid", "POST", PathTelemetry, "bearer other-token", body(t, rec(1, 1)), 202, "", `"accepted":1`},
		{"malformed JSON", "POST", PathTelemetry, bearer, `{"device":`, 400, "", "malformed JSON"},
		{"not an object", "POST", PathTelemetry, bearer, `[1,2]`, 400, "", "want a JSON object"},
		{"wrong type", "POST", PathTelemetry, bearer, `{"device":"` + dev + `","seq":-1,"gateway_time":"2025-06-01T12:00:00Z"}`, 400, "", "field seq"},
		{"unknown field", "POST", PathTelemetry, bearer, `{"device":"` + dev + `","evil":1,"gateway_time":"2025-06-01T12:00:00Z"}`, 400, "", "field evil: unknown"},
		{"invalid device", "POST", PathTelemetry, bearer, `{"device":"XYZ","gateway_time":"2025-06-01T12:00:00Z"}`, 400, "", "field device"},
		{"missing gateway_time", "POST", PathTelemetry, bearer, `{"device":"` + dev + `"}`, 400, "", "field gateway_time"},
		{"bad time", "POST", PathTelemetry, bearer, `{"device":"` + dev + `","gateway_time":"yesterday"}`, 400, "", "field gateway_time"},
		{"invalid record in batch", "POST", PathTelemetry, bearer, `{"records":[` + good + `,{"device":"x"}]}`, 400, "", "records[1]: invalid telemetry record: field device"},
		{"empty batch", "POST", PathTelemetry, bearer, `{"records":[]}`, 400, "", "empty batch"},
		{"empty body", "POST", PathTelemetry, bearer, ``, 400, "", "empty body"},
		{"trailing data", "POST", PathTelemetry, bearer, good + `{}`, 400, "", ""},
		{"oversize", "POST", PathTelemetry, bearer, `{"records":[` + strings.Repeat(good+",", 40) + good + `]}`, 413, "", "exceeds the limit of 4096"},
		{"oversize without token", "POST", PathTelemetry, "", strings.Repeat("x", 8192), 401, `Bearer realm="rig-ingest"`, ""},
		{"GET telemetry", "GET", PathTelemetry, bearer, "", 405, "", "use POST"},
		{"PUT telemetry", "PUT", PathTelemetry, bearer, good, 405, "", "use POST"},
		{"stats without token", "GET", PathStats, "", "", 401, `Bearer realm="rig-ingest"`, ""},
		{"stats", "GET", PathStats, bearer, "", 200, "", `"devices"`},
		{"POST stats", "POST", PathStats, bearer, "", 405, "", "use GET"},
		{"unknown path", "GET", "/admin", bearer, "", 404, "", "no such endpoint"},
	}
	client := &http.Client{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, client, tc.method, s.URL()+tc.path, tc.auth, tc.body)
			if res.status != tc.want {
				t.Errorf("status = %d, want %d (body %s)", res.status, tc.want, res.body)
			}
			if got := res.header.Get("WWW-Authenticate"); got != tc.wantAuthHeader {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.wantAuthHeader)
			}
			if !strings.Contains(res.body, tc.wantBody) {
				t.Errorf("body = %s, want it to contain %q", res.body, tc.wantBody)
			}
			if ct := res.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if tc.want == 405 && res.header.Get("Allow") == "" {
				t.Errorf("405 without an Allow header")
			}
		})
	}
	want := map[string]uint64{ReasonUnauthorized: 6, ReasonMalformed: 8, ReasonInvalid: 3, ReasonTooLarge: 1,
		ReasonMethodNotAllowed: 3, ReasonNotFound: 1}
	got := s.Rejected()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Rejected()[%s] = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
	if n, _ := s.Store().Count(); n != 2 {
		t.Errorf("stored = %d, want 2", n)
	}
	for _, secret := range []string{token, "other-token", "Authorization"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
}

func TestNoAuthWhenNoTokens(t *testing.T) {
	s, _ := startIngest(t, Config{})
	res := do(t, http.DefaultClient, "POST", s.URL()+PathTelemetry, "", body(t, rec(1, 0)))
	if res.status != 202 {
		t.Fatalf("status = %d, want 202 (exposed: no auth)", res.status)
	}
	res = do(t, http.DefaultClient, "POST", s.URL()+PathTelemetry, "Bearer whatever", body(t, rec(1, 1)))
	if res.status != 202 {
		t.Fatalf("status with a random token = %d, want 202", res.status)
	}
}

func TestIdempotent(t *testing.T) {
	s, _ := startIngest(t, Config{Tokens: []string{token}})
	post := func(payload string) map[string]int {
		t.Helper()
		res := do(t, http.DefaultClient, "POST", s.URL()+PathTelemetry, "Bearer "+token, payload)
		if res.status != 202 {
			t.Fatalf("status = %d, want 202 (%s)", res.status, res.body)
		}
		var got map[string]int
		if err := json.Unmarshal([]byte(res.body), &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	r := body(t, rec(7, 3))
	if got := post(r); got["accepted"] != 1 || got["duplicates"] != 0 {
		t.Errorf("first delivery = %v, want accepted 1 duplicates 0", got)
	}
	if got := post(r); got["accepted"] != 0 || got["duplicates"] != 1 {
		t.Errorf("re-delivery = %v, want accepted 0 duplicates 1", got)
	}
	// A batch overlapping the stored record and repeating one of its own.
	batch := body(t, map[string]any{"records": []telemetry.Record{rec(7, 3), rec(7, 4), rec(7, 5), rec(7, 4), rec(8, 0)}})
	if got := post(batch); got["accepted"] != 3 || got["duplicates"] != 2 {
		t.Errorf("batch = %v, want accepted 3 duplicates 2", got)
	}

	stats, err := s.Store().Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := []DeviceStats{
		{Device: dev, Boot: 7, Stored: 3, Duplicates: 3, MinSeq: 3, MaxSeq: 5},
		{Device: dev, Boot: 8, Stored: 1, Duplicates: 0, MinSeq: 0, MaxSeq: 0},
	}
	if len(stats) != len(want) {
		t.Fatalf("stats = %+v, want %d streams", stats, len(want))
	}
	for i := range want {
		got := stats[i]
		got.FirstReceived, got.LastReceived = time.Time{}, time.Time{}
		if got != want[i] {
			t.Errorf("stream %d = %+v, want %+v", i, got, want[i])
		}
	}

	// The same numbers over HTTP.
	res := do(t, http.DefaultClient, "GET", s.URL()+PathStats, "Bearer "+token, "")
	var sr StatsResponse
	if err := json.Unmarshal([]byte(res.body), &sr); err != nil {
		t.Fatal(err)
	}
	if len(sr.Devices) != 2 || sr.Devices[0].Duplicates != 3 || sr.AcceptedRequests != 3 {
		t.Errorf("GET /v1/stats = %s", res.body)
	}
}

func TestDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "store.db")
	fixed := func() time.Time { return epoch }
	s, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", StorePath: path, Now: fixed})
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(s.URL(), "http://")
	for seq := uint32(0); seq < 3; seq++ {
		if res := do(t, http.DefaultClient, "POST", s.URL()+PathTelemetry, "", body(t, rec(2, seq))); res.status != 202 {
			t.Fatalf("status = %d", res.status)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	st, err := OpenStore(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	got, err := st.Records(dev, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("records after reopen = %d, want 3", len(got))
	}
	for i, g := range got {
		if g.Record != rec(2, uint32(i)) || !g.ReceivedAt.Equal(epoch) || g.Arrival != uint64(i+1) {
			t.Errorf("record %d = %+v, want %+v received %v arrival %d", i, g, rec(2, uint32(i)), epoch, i+1)
		}
	}
	if _, err := OpenStore(path); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("second open of a held store: %v, want a 'locked' error", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart on the same address and store: old data still counts for idempotency.
	s2, _ := startIngest(t, Config{Addr: addr, StorePath: path})
	res := do(t, http.DefaultClient, "POST", s2.URL()+PathTelemetry, "", body(t, rec(2, 1)))
	if res.status != 202 || !strings.Contains(res.body, `"duplicates":1`) {
		t.Errorf("after restart: %d %s, want 202 with one duplicate", res.status, res.body)
	}
}

func TestTLS(t *testing.T) {
	p, err := pki.New(pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := p.IssueServer(pki.ServerOpts{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := startIngest(t, Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert.Cert}, MinVersion: tls.VersionTLS12}, Tokens: []string{token}})
	if !strings.HasPrefix(s.URL(), "https://") {
		t.Fatalf("URL = %s, want https", s.URL())
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.CAPool()}}}
	if res := do(t, client, "POST", s.URL()+PathTelemetry, "Bearer "+token, body(t, rec(1, 0))); res.status != 202 {
		t.Errorf("status = %d, want 202", res.status)
	}
	plain := "http://" + strings.TrimPrefix(s.URL(), "https://")
	if res := do(t, http.DefaultClient, "POST", plain+PathTelemetry, "Bearer "+token, body(t, rec(1, 1))); res.status == 202 {
		t.Errorf("plaintext HTTP to the TLS port: 202, want refused")
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	tests := map[string]Config{
		"no address":  {StorePath: filepath.Join(dir, "a.db")},
		"no store":    {Addr: "127.0.0.1:0"},
		"empty token": {Addr: "127.0.0.1:0", StorePath: filepath.Join(dir, "b.db"), Tokens: []string{""}},
		"TLS no cert": {Addr: "127.0.0.1:0", StorePath: filepath.Join(dir, "c.db"), TLS: &tls.Config{}},
		"bad address": {Addr: "127.0.0.1:-1", StorePath: filepath.Join(dir, "d.db")},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := Start(context.Background(), cfg)
			if err == nil {
				s.Close()
				t.Fatalf("Start: nil error, want one")
			}
			if !strings.HasPrefix(err.Error(), "ingest: ") {
				t.Errorf("error %q does not name the ingest", err)
			}
		})
	}
}

func TestParseRecordsBatchLimit(t *testing.T) {
	items := make([]string, 4)
	for i := range items {
		b, _ := json.Marshal(rec(1, uint32(i)))
		items[i] = string(b)
	}
	_, reason, err := parseRecords([]byte(`{"records":[`+strings.Join(items, ",")+`]}`), 3)
	if err == nil || reason != ReasonMalformed || !strings.Contains(err.Error(), "batch limit of 3") {
		t.Errorf("4 records with limit 3: %q %v, want malformed batch limit", reason, err)
	}
	_, _, err = parseRecords([]byte(`{"records":[`+items[0]+`],"x":1}`), 3)
	if err == nil || !strings.Contains(err.Error(), "field x") {
		t.Errorf("extra top-level field: %v, want it named", err)
	}
}

func TestCountRange(t *testing.T) {
	st, err := OpenStore(filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	other := "303030313233343536373840"
	var recs []telemetry.Record
	for _, seq := range []uint32{0, 1, 2, 5, 9} {
		recs = append(recs, rec(1, seq))
	}
	recs = append(recs, rec(2, 3)) // another boot
	o := rec(1, 4)
	o.Device = other // another device
	recs = append(recs, o)
	if _, _, err := st.Put(recs, time.Now()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		device         string
		boot, from, to uint32
		want           int
	}{
		{"whole boot", dev, 1, 0, 100, 5},
		{"window", dev, 1, 1, 9, 3},
		{"to is exclusive", dev, 1, 9, 9, 0},
		{"past the end", dev, 1, 10, 1000, 0},
		{"other boot", dev, 2, 0, 10, 1},
		{"other device", other, 1, 0, 10, 1},
		{"unknown boot", dev, 7, 0, 10, 0},
	}
	var ranges []Range
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := st.CountRange(tc.device, tc.boot, tc.from, tc.to)
			if err != nil || got != tc.want {
				t.Errorf("CountRange(%s, %d, %d, %d) = %d, %v; want %d", tc.device, tc.boot, tc.from, tc.to, got, err, tc.want)
			}
		})
		ranges = append(ranges, Range{Device: tc.device, Boot: tc.boot, From: tc.from, To: tc.to})
	}
	// CountRanges answers every range in one pass, each as CountRange does.
	got, err := st.CountRanges(ranges)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range tests {
		if got[i] != tc.want {
			t.Errorf("CountRanges: %s = %d, want %d", tc.name, got[i], tc.want)
		}
	}
	if _, err := st.CountRange("nothex", 1, 0, 1); err == nil {
		t.Error("CountRange of a malformed device id: no error")
	}
	if _, err := st.CountRanges([]Range{{Device: "nothex", Boot: 1, To: 1}}); err == nil {
		t.Error("CountRanges of a malformed device id: no error")
	}
}

// TestStoredEncoding: the stored value is json.Marshal's encoding of Stored, written by hand.
func TestStoredEncoding(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   Stored
	}{
		{"typical", Stored{Record: rec(3, 42), ReceivedAt: epoch.Add(123456789), Arrival: 7}},
		{"zone", Stored{Record: rec(1, 0), ReceivedAt: epoch.In(time.FixedZone("X", -7200)), Arrival: 1 << 40}},
		{"zero time", Stored{Record: rec(1, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, werr := json.Marshal(tc.st)
			got, gerr := appendStored([]byte("x"), tc.st)
			if werr != nil || gerr != nil || string(got) != "x"+string(want) {
				t.Errorf("appendStored = %s (%v), want x%s (%v)", got, gerr, want, werr)
			}
		})
	}
}

// TestCanonicalBatch: the bridge's batches are read without reflection; anything else still goes
// through the strict decoder with its reasons.
func TestCanonicalBatch(t *testing.T) {
	one, _ := rec(1, 1).AppendJSON(nil)
	two, _ := rec(1, 2).AppendJSON(nil)
	for _, tc := range []struct {
		name, body string
		fast       bool
		want       int // records; 0: refused
	}{
		{"batch", `{"records":[` + string(one) + `,` + string(two) + `]}`, true, 2},
		{"batch with spaces", `{"records": [` + string(one) + `, ` + string(two) + `]}`, false, 2},
		{"over the limit", `{"records":[` + string(one) + `,` + string(two) + `,` + string(one) + `]}`, false, 0},
		{"empty", `{"records":[]}`, false, 0},
		{"trailing comma", `{"records":[` + string(one) + `,]}`, false, 0},
		{"one record", string(one), false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, fast := parseCanonicalBatch([]byte(tc.body), 2)
			recs, _, err := parseRecords([]byte(tc.body), 2)
			if fast != tc.fast || len(recs) != tc.want || (err == nil) != (tc.want > 0) {
				t.Errorf("fast %v, %d records, %v; want fast %v, %d records", fast, len(recs), err, tc.fast, tc.want)
			}
		})
	}
}
