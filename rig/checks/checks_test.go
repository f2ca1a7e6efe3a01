package checks

import (
	"bytes"
	"context"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/record"
)

var auditBaseline = []string{"transport", "broker-cert", "ingest-auth", "guardrails"}

type want struct {
	status   record.Status
	severity record.Severity // checked when not empty
}

// TestAuditBaseline runs the four checks against live peers configured like the exposed and the
// hardened profile and expects the story of BRIEF.md §1: every control fails on the first and
// passes on the second.
func TestAuditBaseline(t *testing.T) {
	tests := []struct {
		name    string
		broker  string
		token   string // ingest stub's required token, "" for none
		tel     func() *fakeTelemetry
		want    map[string]want
		observe map[string]map[string]any // observed values that must match exactly
	}{
		{
			name: "exposed", broker: "exposed", token: "", tel: lossyTelemetry,
			want: map[string]want{
				ctlPlaintext:       {record.StatusFail, record.SeverityHigh},
				ctlTLSLegacy:       {record.StatusFail, record.SeverityMedium},
				ctlCertChain:       {record.StatusFail, record.SeverityHigh},
				ctlCertSAN:         {record.StatusFail, record.SeverityHigh},
				ctlCertExpiry:      {record.StatusFail, record.SeverityHigh}, // 10 days left
				ctlCertKey:         {record.StatusFail, record.SeverityHigh},
				ctlIngestUnauth:    {record.StatusFail, record.SeverityHigh},
				ctlIngestWrongCred: {record.StatusFail, record.SeverityHigh},
				ctlGuardAnon:       {record.StatusFail, record.SeverityHigh},
				ctlGuardWildcard:   {record.StatusFail, record.SeverityHigh},
				ctlGuardMaxPacket:  {record.StatusFail, record.SeverityMedium},
				ctlGuardHealth:     {record.StatusFail, record.SeverityHigh},
			},
			observe: map[string]map[string]any{
				ctlPlaintext:   {"answer": "connack", "connack_return_code": 0, "connack_meaning": "connection accepted"},
				ctlCertExpiry:  {"window": "expires within 30 days"},
				ctlCertKey:     {"algorithm": "RSA", "bits": 1024},
				ctlGuardHealth: {"device_boots": 1, "lost": uint64(23), "unexpected": uint64(0)},
			},
		},
		{
			name: "hardened", broker: "hardened", token: testToken, tel: healthyTelemetry,
			want: map[string]want{
				ctlPlaintext:       {status: record.StatusPass},
				ctlTLSLegacy:       {status: record.StatusPass},
				ctlCertChain:       {status: record.StatusPass},
				ctlCertSAN:         {status: record.StatusPass},
				ctlCertExpiry:      {status: record.StatusPass, severity: record.SeverityCritical},
				ctlCertKey:         {status: record.StatusPass},
				ctlIngestUnauth:    {status: record.StatusPass},
				ctlIngestWrongCred: {status: record.StatusPass},
				ctlGuardAnon:       {status: record.StatusPass},
				ctlGuardWildcard:   {status: record.StatusPass},
				ctlGuardMaxPacket:  {status: record.StatusPass},
				ctlGuardHealth:     {status: record.StatusPass},
			},
			observe: map[string]map[string]any{
				ctlPlaintext:      {"answer": "tcp-refused"},
				ctlCertExpiry:     {"window": "valid for 60 days or more"},
				ctlCertKey:        {"algorithm": "ECDSA", "bits": 256},
				ctlIngestUnauth:   {"probe_status": 401, "valid_token_status": 202},
				ctlGuardWildcard:  {"endpoint": "tls", "identity": "probe-a", "suback": "0x80"},
				ctlGuardMaxPacket: {"endpoint": "tls", "identity": "probe-a", "oversize_bytes": 64 << 10, "small_puback": true, "oversize": "connection closed"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := startIngest(t, tc.token)
			targets := Targets{Broker: startBroker(t, tc.broker), Probes: []Identity{probeIdentityA(t)}, Ingest: in}
			env, dir := newEnv(t, targets, tc.tel())
			start := time.Now()
			results, err := Evaluate(context.Background(), env, auditBaseline)
			elapsed := time.Since(start)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			t.Logf("%s: %d controls in %s", tc.name, len(results), elapsed.Round(time.Millisecond))
			if elapsed > 5*time.Second {
				t.Errorf("audit baseline took %s on loopback, want a second or two", elapsed)
			}
			got := byControl(t, results)
			if len(got) != len(tc.want) {
				t.Errorf("got %d results, want %d", len(got), len(tc.want))
			}
			for id, w := range tc.want {
				r, ok := got[id]
				if !ok {
					t.Errorf("%s: no result", id)
					continue
				}
				if r.Status != w.status {
					t.Errorf("%s: status %s, want %s (reason: %s)", id, r.Status, w.status, r.Reason)
				}
				if w.severity != "" && r.Severity != w.severity {
					t.Errorf("%s: severity %s, want %s", id, r.Severity, w.severity)
				}
				if r.Title == "" || r.Reason == "" {
					t.Errorf("%s: title %q reason %q, want both set", id, r.Title, r.Reason)
				}
				if r.Status == record.StatusPass || r.Status == record.StatusFail {
					if len(r.Evidence) == 0 {
						t.Errorf("%s: %s without evidence", id, r.Status)
					}
				}
			}
			for id, obs := range tc.observe {
				for k, v := range obs {
					if g := got[id].Observed[k]; g != v {
						t.Errorf("%s: observed[%q] = %#v, want %#v", id, k, g, v)
					}
				}
			}
			assertEvidence(t, dir, results)
			if tc.name == "exposed" {
				legacy := got[ctlTLSLegacy].Observed["legacy_accepted"]
				if !slices.Equal(legacy.([]string), []string{"TLS 1.0", "TLS 1.1"}) {
					t.Errorf("legacy_accepted = %v, want TLS 1.0 and TLS 1.1", legacy)
				}
			} else {
				alerts, _ := got[ctlTLSLegacy].Observed["alerts"].(map[string]any)
				if alerts["TLS 1.0"] == nil || alerts["TLS 1.1"] == nil {
					t.Errorf("hardened: want the server's alert recorded for TLS 1.0 and 1.1, got %v", alerts)
				}
				tlsAnon := got[ctlGuardAnon].Observed["endpoints"].(map[string]any)["tls"].(map[string]any)
				if tlsAnon["verdict"] != "refused" || tlsAnon["tls_alert"] == nil {
					t.Errorf("hardened anonymous TLS probe: %v, want refused with the alert", tlsAnon)
				}
			}
			assertDeterministic(t, results)
		})
	}
}

// TestAuditBaselineRepeatable runs the hardened audit twice: the observed values must not change.
func TestAuditBaselineRepeatable(t *testing.T) {
	targets := Targets{Broker: startBroker(t, "hardened"), Probes: []Identity{probeIdentityA(t)}, Ingest: startIngest(t, testToken)}
	var runs [2][]record.Result
	for i := range runs {
		env, _ := newEnv(t, targets, healthyTelemetry())
		r, err := Evaluate(context.Background(), env, auditBaseline)
		if err != nil {
			t.Fatal(err)
		}
		runs[i] = r
	}
	for i := range runs[0] {
		a, b := runs[0][i], runs[1][i]
		if a.Status != b.Status || !sameJSON(t, a.Observed, b.Observed) {
			t.Errorf("%s: run 1 %s %v, run 2 %s %v", a.Control, a.Status, a.Observed, b.Status, b.Observed)
		}
	}
}

// TestNotNamed: a target the scenario does not name skips the controls that need it, with the
// reason, and never passes them.
func TestNotNamed(t *testing.T) {
	p := pki(t)
	tests := []struct {
		name    string
		targets Targets
		want    map[string]record.Status
	}{
		{
			name:    "nothing named",
			targets: Targets{},
			want: map[string]record.Status{
				ctlPlaintext: record.StatusSkip, ctlTLSLegacy: record.StatusSkip,
				ctlCertChain: record.StatusSkip, ctlCertSAN: record.StatusSkip, ctlCertExpiry: record.StatusSkip, ctlCertKey: record.StatusSkip,
				ctlIngestUnauth: record.StatusSkip, ctlIngestWrongCred: record.StatusSkip,
				ctlGuardAnon: record.StatusSkip, ctlGuardWildcard: record.StatusSkip, ctlGuardMaxPacket: record.StatusSkip,
				ctlGuardHealth: record.StatusPass,
			},
		},
		{
			name:    "no trust anchor, no server name, no probe identity",
			targets: Targets{Broker: Broker{TLS: startBroker(t, "hardened").TLS}},
			want: map[string]record.Status{
				ctlPlaintext: record.StatusSkip, ctlTLSLegacy: record.StatusPass,
				ctlCertChain: record.StatusSkip, ctlCertSAN: record.StatusSkip, ctlCertExpiry: record.StatusPass, ctlCertKey: record.StatusPass,
				ctlGuardAnon: record.StatusPass, ctlGuardWildcard: record.StatusSkip, ctlGuardMaxPacket: record.StatusSkip,
			},
		},
		{
			name: "probe identity without a topic",
			targets: Targets{
				Broker: Broker{TLS: startBroker(t, "hardened").TLS, ServerName: testServerName, Trust: p.pool},
				Probes: []Identity{func() Identity { id := probeIdentityA(t); id.Topic = ""; return id }()},
			},
			want: map[string]record.Status{ctlGuardWildcard: record.StatusPass, ctlGuardMaxPacket: record.StatusSkip},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := newEnv(t, tc.targets, healthyTelemetry())
			results, err := Evaluate(context.Background(), env, auditBaseline)
			if err != nil {
				t.Fatal(err)
			}
			got := byControl(t, results)
			for id, w := range tc.want {
				if got[id].Status != w {
					t.Errorf("%s: status %s, want %s (reason: %s)", id, got[id].Status, w, got[id].Reason)
				}
				if w == record.StatusSkip && !strings.Contains(got[id].Reason, "name") {
					t.Errorf("%s: skip reason %q does not say what is not named", id, got[id].Reason)
				}
			}
		})
	}
}

// TestUnreachable: named endpoints where nothing listens are errors, except for the plaintext
// control, for which a refused connection is exactly the pass criterion.
func TestUnreachable(t *testing.T) {
	p := pki(t)
	targets := Targets{
		Broker: Broker{Plain: closedPort(t), TLS: closedPort(t), ServerName: testServerName, Trust: p.pool},
		Probes: []Identity{probeIdentityA(t)},
		Ingest: Ingest{URL: "http://" + closedPort(t) + "/v1/telemetry", Token: testToken, Sample: sampleBody},
	}
	env, dir := newEnv(t, targets, nil)
	start := time.Now()
	results, err := Evaluate(context.Background(), env, auditBaseline)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("unreachable: %s", time.Since(start).Round(time.Millisecond))
	// Everything is an error, the plaintext control included: a refused plaintext port proves
	// nothing while the broker itself cannot be reached. Runtime health has no device to read
	// here: skipped with the reason.
	want := map[string]record.Status{ctlGuardHealth: record.StatusSkip}
	for _, r := range results {
		w, ok := want[r.Control]
		if !ok {
			w = record.StatusError
		}
		if r.Status != w {
			t.Errorf("%s: status %s, want %s (reason: %s)", r.Control, r.Status, w, r.Reason)
		}
	}
	assertEvidence(t, dir, results)
}

// TestOddPeers points controls at endpoints that are up but not what the targets claim.
func TestOddPeers(t *testing.T) {
	exposed := startBroker(t, "exposed")
	silent := silentServer(t)
	tests := []struct {
		name    string
		broker  Broker
		control string
		want    record.Status
	}{
		{"plaintext control at a TLS listener", Broker{Plain: exposed.TLS}, ctlPlaintext, record.StatusPass},
		{"plaintext control at a silent listener", Broker{Plain: silent}, ctlPlaintext, record.StatusError},
		{"TLS control at a plaintext MQTT listener", Broker{TLS: exposed.Plain}, ctlTLSLegacy, record.StatusError},
		{"anonymous probe at a silent listener", Broker{Plain: silent}, ctlGuardAnon, record.StatusError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := newEnv(t, Targets{Broker: tc.broker}, healthyTelemetry())
			env.Limits.ProbeTimeout = 300 * time.Millisecond
			results, err := Evaluate(context.Background(), env, []string{"transport", "guardrails"})
			if err != nil {
				t.Fatal(err)
			}
			r := byControl(t, results)[tc.control]
			if r.Status != tc.want {
				t.Errorf("%s: status %s, want %s (reason: %s)", tc.control, r.Status, tc.want, r.Reason)
			}
		})
	}
}

// silentServer accepts TCP and never says a word.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			select {
			case <-done:
				return
			default:
			}
		}
	}()
	t.Cleanup(func() { close(done); _ = ln.Close() })
	return ln.Addr().String()
}

// TestIngestMatrix covers the status answers an ingest can give, one peer each.
func TestIngestMatrix(t *testing.T) {
	tests := []struct {
		name       string
		token      string // required by the stub
		named      string // token named in the targets
		wantUnauth record.Status
		wantWrong  record.Status
	}{
		{"guarded", testToken, testToken, record.StatusPass, record.StatusPass},
		{"open", "", testToken, record.StatusFail, record.StatusFail},
		{"open, no token named", "", "", record.StatusFail, record.StatusFail},
		{"guarded, no token named", testToken, "", record.StatusError, record.StatusError},
		{"guarded, stale token named", testToken, "tok-stale-0000000000", record.StatusError, record.StatusError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := startIngest(t, tc.token)
			in.Token = tc.named
			env, dir := newEnv(t, Targets{Ingest: in}, nil)
			results, err := Evaluate(context.Background(), env, []string{"ingest-auth"})
			if err != nil {
				t.Fatal(err)
			}
			got := byControl(t, results)
			if got[ctlIngestUnauth].Status != tc.wantUnauth || got[ctlIngestWrongCred].Status != tc.wantWrong {
				t.Errorf("unauth %s (%s), wrong %s (%s); want %s, %s", got[ctlIngestUnauth].Status, got[ctlIngestUnauth].Reason,
					got[ctlIngestWrongCred].Status, got[ctlIngestWrongCred].Reason, tc.wantUnauth, tc.wantWrong)
			}
			assertEvidence(t, dir, results)
		})
	}
}

// TestGuardHealth covers the runtime-health control on its own.
func TestGuardHealth(t *testing.T) {
	tests := []struct {
		name string
		tel  Telemetry
		want record.Status
	}{
		{"balanced", healthyTelemetry(), record.StatusPass},
		{"lost", lossyTelemetry(), record.StatusFail},
		{"stored more than sent", &fakeTelemetry{acc: accounting(TrustAccount{Device: "d", Boot: 1, Sent: 5, Delivered: 5, StoredDuplicates: 1})}, record.StatusFail},
		{"altered reading", &fakeTelemetry{acc: func() Accounting {
			a := accounting(TrustAccount{Device: "d", Boot: 1, Sent: 5, Delivered: 5, Altered: 1})
			a.Altered = []Alteration{{Device: "d", Boot: 1, Seq: 3, Sent: Reading{TempCentiC: 2150}, Stored: Reading{TempCentiC: 7150}}}
			return a
		}()}, record.StatusFail},
		{"sent nothing", &fakeTelemetry{acc: accounting(TrustAccount{Device: "d", Boot: 1})}, record.StatusError},
		{"no devices", &fakeTelemetry{}, record.StatusError},
		{"account fails", &fakeTelemetry{err: context.DeadlineExceeded}, record.StatusError},
		{"no telemetry", nil, record.StatusSkip},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := newEnv(t, Targets{}, tc.tel)
			env.Limits.DrainTimeout = 0 // the default applies
			results, err := Evaluate(context.Background(), env, []string{"guardrails"})
			if err != nil {
				t.Fatal(err)
			}
			r := byControl(t, results)[ctlGuardHealth]
			if r.Status != tc.want {
				t.Errorf("status %s, want %s (reason: %s)", r.Status, tc.want, r.Reason)
			}
			if f, ok := tc.tel.(*fakeTelemetry); ok && f.drain != DefaultDrainTimeout {
				t.Errorf("Account got drain %s, want the default %s", f.drain, DefaultDrainTimeout)
			}
		})
	}
}

func byControl(t *testing.T, results []record.Result) map[string]record.Result {
	t.Helper()
	m := map[string]record.Result{}
	for _, r := range results {
		if _, dup := m[r.Control]; dup {
			t.Errorf("control %s reported twice", r.Control)
		}
		m[r.Control] = r
	}
	return m
}

// assertEvidence checks that every referenced evidence file exists and that no file in the run
// folder holds a secret.
func assertEvidence(t *testing.T, dir string, results []record.Result) {
	t.Helper()
	for _, r := range results {
		for _, p := range r.Evidence {
			if strings.HasPrefix(p, "/") || strings.Contains(p, "..") {
				t.Errorf("%s: evidence path %q is not relative to the run folder", r.Control, p)
			}
			if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(p))); err != nil {
				t.Errorf("%s: evidence %s: %v", r.Control, p, err)
			}
		}
	}
	secrets := []string{testToken, testPassword, "PRIVATE KEY"}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("evidence file %s contains secret %q", path, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// assertDeterministic checks that observed values carry no loopback port and no date.
func assertDeterministic(t *testing.T, results []record.Result) {
	t.Helper()
	for _, r := range results {
		b := jsonOf(t, r.Observed)
		if strings.Contains(b, "127.0.0.1:") || strings.Contains(b, time.Now().UTC().Format("2006-01-02")) {
			t.Errorf("%s: observed values hold an address or a date: %s", r.Control, b)
		}
	}
}
