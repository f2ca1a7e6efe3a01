package checks

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/checktest"
	"github.com/pathrig/rig/rig/record"
)

var auditBaseline = []string{"transport", "broker-cert", "ingest-auth", "guardrails"}

// TestAuditBaseline runs the four checks against live peers configured like the exposed and the
// hardened profile and expects the story of BRIEF.md §1: every control fails on the first and
// passes on the second.
func TestAuditBaseline(t *testing.T) {
	tests := []struct {
		name    string
		broker  string
		token   string // ingest stub's required token, "" for none
		tel     func() *checktest.FakeTelemetry
		want    map[string]checktest.Want
		observe map[string]map[string]any // observed values that must match exactly
	}{
		{
			name: "exposed", broker: "exposed", token: "", tel: checktest.LossyTelemetry,
			want: map[string]checktest.Want{
				"TRANSPORT-PLAINTEXT":  {Status: record.StatusFail, Severity: record.SeverityHigh},
				"TRANSPORT-TLS-LEGACY": {Status: record.StatusFail, Severity: record.SeverityMedium},
				"CERT-CHAIN":           {Status: record.StatusFail, Severity: record.SeverityHigh},
				"CERT-SAN":             {Status: record.StatusFail, Severity: record.SeverityHigh},
				"CERT-EXPIRY":          {Status: record.StatusFail, Severity: record.SeverityHigh}, // 10 days left
				"CERT-KEY":             {Status: record.StatusFail, Severity: record.SeverityHigh},
				"INGEST-UNAUTH":        {Status: record.StatusFail, Severity: record.SeverityHigh},
				"INGEST-WRONGCRED":     {Status: record.StatusFail, Severity: record.SeverityHigh},
				"GUARD-ANON":           {Status: record.StatusFail, Severity: record.SeverityHigh},
				"GUARD-SUB-WILDCARD":   {Status: record.StatusFail, Severity: record.SeverityHigh},
				"GUARD-MAX-PACKET":     {Status: record.StatusFail, Severity: record.SeverityMedium},
				"GUARD-HEALTH":         {Status: record.StatusFail, Severity: record.SeverityHigh},
			},
			observe: map[string]map[string]any{
				"TRANSPORT-PLAINTEXT": {"answer": "connack", "connack_return_code": 0, "connack_meaning": "connection accepted"},
				"CERT-EXPIRY":         {"window": "expires within 30 days"},
				"CERT-KEY":            {"algorithm": "RSA", "bits": 1024},
				"GUARD-HEALTH":        {"device_boots": 1, "lost": uint64(23), "unexpected": uint64(0)},
			},
		},
		{
			name: "hardened", broker: "hardened", token: checktest.Token, tel: checktest.HealthyTelemetry,
			want: map[string]checktest.Want{
				"TRANSPORT-PLAINTEXT":  {Status: record.StatusPass},
				"TRANSPORT-TLS-LEGACY": {Status: record.StatusPass},
				"CERT-CHAIN":           {Status: record.StatusPass},
				"CERT-SAN":             {Status: record.StatusPass},
				"CERT-EXPIRY":          {Status: record.StatusPass, Severity: record.SeverityCritical},
				"CERT-KEY":             {Status: record.StatusPass},
				"INGEST-UNAUTH":        {Status: record.StatusPass},
				"INGEST-WRONGCRED":     {Status: record.StatusPass},
				"GUARD-ANON":           {Status: record.StatusPass},
				"GUARD-SUB-WILDCARD":   {Status: record.StatusPass},
				"GUARD-MAX-PACKET":     {Status: record.StatusPass},
				"GUARD-HEALTH":         {Status: record.StatusPass},
			},
			observe: map[string]map[string]any{
				"TRANSPORT-PLAINTEXT": {"answer": "tcp-refused"},
				"CERT-EXPIRY":         {"window": "valid for 60 days or more"},
				"CERT-KEY":            {"algorithm": "ECDSA", "bits": 256},
				"INGEST-UNAUTH":       {"probe_status": 401, "valid_token_status": 202},
				"GUARD-SUB-WILDCARD":  {"endpoint": "tls", "identity": "probe-a", "suback": "0x80"},
				"GUARD-MAX-PACKET":    {"endpoint": "tls", "identity": "probe-a", "oversize_bytes": 64 << 10, "small_puback": true, "oversize": "connection closed"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := checktest.StartIngest(t, tc.token)
			targets := check.Targets{Broker: checktest.StartBroker(t, tc.broker), Probes: []check.Identity{checktest.ProbeIdentityA(t)}, Ingest: in}
			env, dir := checktest.NewEnv(t, targets, tc.tel())
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
			got := checktest.ByControl(t, results)
			if len(got) != len(tc.want) {
				t.Errorf("got %d results, want %d", len(got), len(tc.want))
			}
			for id, w := range tc.want {
				r, ok := got[id]
				if !ok {
					t.Errorf("%s: no result", id)
					continue
				}
				if r.Status != w.Status {
					t.Errorf("%s: status %s, want %s (reason: %s)", id, r.Status, w.Status, r.Reason)
				}
				if w.Severity != "" && r.Severity != w.Severity {
					t.Errorf("%s: severity %s, want %s", id, r.Severity, w.Severity)
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
			checktest.AssertEvidence(t, dir, results)
			if tc.name == "exposed" {
				legacy := got["TRANSPORT-TLS-LEGACY"].Observed["legacy_accepted"]
				if !slices.Equal(legacy.([]string), []string{"TLS 1.0", "TLS 1.1"}) {
					t.Errorf("legacy_accepted = %v, want TLS 1.0 and TLS 1.1", legacy)
				}
			} else {
				alerts, _ := got["TRANSPORT-TLS-LEGACY"].Observed["alerts"].(map[string]any)
				if alerts["TLS 1.0"] == nil || alerts["TLS 1.1"] == nil {
					t.Errorf("hardened: want the server's alert recorded for TLS 1.0 and 1.1, got %v", alerts)
				}
				tlsAnon := got["GUARD-ANON"].Observed["endpoints"].(map[string]any)["tls"].(map[string]any)
				if tlsAnon["verdict"] != "refused" || tlsAnon["tls_alert"] == nil {
					t.Errorf("hardened anonymous TLS probe: %v, want refused with the alert", tlsAnon)
				}
			}
			checktest.AssertDeterministic(t, results)
		})
	}
}

// TestAuditBaselineRepeatable runs the hardened audit twice: the observed values must not change.
func TestAuditBaselineRepeatable(t *testing.T) {
	targets := check.Targets{Broker: checktest.StartBroker(t, "hardened"), Probes: []check.Identity{checktest.ProbeIdentityA(t)}, Ingest: checktest.StartIngest(t, checktest.Token)}
	var runs [2][]record.Result
	for i := range runs {
		env, _ := checktest.NewEnv(t, targets, checktest.HealthyTelemetry())
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
	p := checktest.TestPKI(t)
	tests := []struct {
		name    string
		targets check.Targets
		want    map[string]record.Status
	}{
		{
			name:    "nothing named",
			targets: check.Targets{},
			want: map[string]record.Status{
				"TRANSPORT-PLAINTEXT": record.StatusSkip, "TRANSPORT-TLS-LEGACY": record.StatusSkip,
				"CERT-CHAIN": record.StatusSkip, "CERT-SAN": record.StatusSkip, "CERT-EXPIRY": record.StatusSkip, "CERT-KEY": record.StatusSkip,
				"INGEST-UNAUTH": record.StatusSkip, "INGEST-WRONGCRED": record.StatusSkip,
				"GUARD-ANON": record.StatusSkip, "GUARD-SUB-WILDCARD": record.StatusSkip, "GUARD-MAX-PACKET": record.StatusSkip,
				"GUARD-HEALTH": record.StatusPass,
			},
		},
		{
			name:    "no trust anchor, no server name, no probe identity",
			targets: check.Targets{Broker: check.Broker{TLS: checktest.StartBroker(t, "hardened").TLS}},
			want: map[string]record.Status{
				"TRANSPORT-PLAINTEXT": record.StatusSkip, "TRANSPORT-TLS-LEGACY": record.StatusPass,
				"CERT-CHAIN": record.StatusSkip, "CERT-SAN": record.StatusSkip, "CERT-EXPIRY": record.StatusPass, "CERT-KEY": record.StatusPass,
				"GUARD-ANON": record.StatusPass, "GUARD-SUB-WILDCARD": record.StatusSkip, "GUARD-MAX-PACKET": record.StatusSkip,
			},
		},
		{
			name: "probe identity without a topic",
			targets: check.Targets{
				Broker: check.Broker{TLS: checktest.StartBroker(t, "hardened").TLS, ServerName: checktest.ServerName, Trust: p.Pool},
				Probes: []check.Identity{func() check.Identity { id := checktest.ProbeIdentityA(t); id.Topic = ""; return id }()},
			},
			want: map[string]record.Status{"GUARD-SUB-WILDCARD": record.StatusPass, "GUARD-MAX-PACKET": record.StatusSkip},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := checktest.NewEnv(t, tc.targets, checktest.HealthyTelemetry())
			results, err := Evaluate(context.Background(), env, auditBaseline)
			if err != nil {
				t.Fatal(err)
			}
			got := checktest.ByControl(t, results)
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
	p := checktest.TestPKI(t)
	targets := check.Targets{
		Broker: check.Broker{Plain: checktest.ClosedPort(t), TLS: checktest.ClosedPort(t), ServerName: checktest.ServerName, Trust: p.Pool},
		Probes: []check.Identity{checktest.ProbeIdentityA(t)},
		Ingest: check.Ingest{URL: "http://" + checktest.ClosedPort(t) + "/v1/telemetry", Token: checktest.Token, Sample: checktest.SampleBody},
	}
	env, dir := checktest.NewEnv(t, targets, nil)
	start := time.Now()
	results, err := Evaluate(context.Background(), env, auditBaseline)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("unreachable: %s", time.Since(start).Round(time.Millisecond))
	// Everything is an error, the plaintext control included: a refused plaintext port proves
	// nothing while the broker itself cannot be reached. Runtime health has no device to read
	// here: skipped with the reason.
	want := map[string]record.Status{"GUARD-HEALTH": record.StatusSkip}
	for _, r := range results {
		w, ok := want[r.Control]
		if !ok {
			w = record.StatusError
		}
		if r.Status != w {
			t.Errorf("%s: status %s, want %s (reason: %s)", r.Control, r.Status, w, r.Reason)
		}
	}
	checktest.AssertEvidence(t, dir, results)
}

// TestOddPeers points controls at endpoints that are up but not what the targets claim.
func TestOddPeers(t *testing.T) {
	exposed := checktest.StartBroker(t, "exposed")
	silent := silentServer(t)
	tests := []struct {
		name    string
		broker  check.Broker
		control string
		want    record.Status
	}{
		{"plaintext control at a TLS listener", check.Broker{Plain: exposed.TLS}, "TRANSPORT-PLAINTEXT", record.StatusPass},
		{"plaintext control at a silent listener", check.Broker{Plain: silent}, "TRANSPORT-PLAINTEXT", record.StatusError},
		{"TLS control at a plaintext MQTT listener", check.Broker{TLS: exposed.Plain}, "TRANSPORT-TLS-LEGACY", record.StatusError},
		{"anonymous probe at a silent listener", check.Broker{Plain: silent}, "GUARD-ANON", record.StatusError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := checktest.NewEnv(t, check.Targets{Broker: tc.broker}, checktest.HealthyTelemetry())
			env.Limits.ProbeTimeout = 300 * time.Millisecond
			results, err := Evaluate(context.Background(), env, []string{"transport", "guardrails"})
			if err != nil {
				t.Fatal(err)
			}
			r := checktest.ByControl(t, results)[tc.control]
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
		{"guarded", checktest.Token, checktest.Token, record.StatusPass, record.StatusPass},
		{"open", "", checktest.Token, record.StatusFail, record.StatusFail},
		{"open, no token named", "", "", record.StatusFail, record.StatusFail},
		{"guarded, no token named", checktest.Token, "", record.StatusError, record.StatusError},
		{"guarded, stale token named", checktest.Token, "tok-stale-0000000000", record.StatusError, record.StatusError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := checktest.StartIngest(t, tc.token)
			in.Token = tc.named
			env, dir := checktest.NewEnv(t, check.Targets{Ingest: in}, nil)
			results, err := Evaluate(context.Background(), env, []string{"ingest-auth"})
			if err != nil {
				t.Fatal(err)
			}
			got := checktest.ByControl(t, results)
			if got["INGEST-UNAUTH"].Status != tc.wantUnauth || got["INGEST-WRONGCRED"].Status != tc.wantWrong {
				t.Errorf("unauth %s (%s), wrong %s (%s); want %s, %s", got["INGEST-UNAUTH"].Status, got["INGEST-UNAUTH"].Reason,
					got["INGEST-WRONGCRED"].Status, got["INGEST-WRONGCRED"].Reason, tc.wantUnauth, tc.wantWrong)
			}
			checktest.AssertEvidence(t, dir, results)
		})
	}
}

// TestGuardHealth covers the runtime-health control on its own.
func TestGuardHealth(t *testing.T) {
	tests := []struct {
		name string
		tel  check.Telemetry
		want record.Status
	}{
		{"balanced", checktest.HealthyTelemetry(), record.StatusPass},
		{"lost", checktest.LossyTelemetry(), record.StatusFail},
		{"stored more than sent", &checktest.FakeTelemetry{Acc: checktest.Accounting(check.TrustAccount{Device: "d", Boot: 1, Sent: 5, Delivered: 5, StoredDuplicates: 1})}, record.StatusFail},
		{"altered reading", &checktest.FakeTelemetry{Acc: func() check.Accounting {
			a := checktest.Accounting(check.TrustAccount{Device: "d", Boot: 1, Sent: 5, Delivered: 5, Altered: 1})
			a.Altered = []check.Alteration{{Device: "d", Boot: 1, Seq: 3, Sent: check.Reading{TempCentiC: 2150}, Stored: check.Reading{TempCentiC: 7150}}}
			return a
		}()}, record.StatusFail},
		{"sent nothing", &checktest.FakeTelemetry{Acc: checktest.Accounting(check.TrustAccount{Device: "d", Boot: 1})}, record.StatusError},
		{"no devices", &checktest.FakeTelemetry{}, record.StatusError},
		{"account fails", &checktest.FakeTelemetry{Err: context.DeadlineExceeded}, record.StatusError},
		{"no telemetry", nil, record.StatusSkip},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := checktest.NewEnv(t, check.Targets{}, tc.tel)
			env.Limits.DrainTimeout = 0 // the default applies
			results, err := Evaluate(context.Background(), env, []string{"guardrails"})
			if err != nil {
				t.Fatal(err)
			}
			r := checktest.ByControl(t, results)["GUARD-HEALTH"]
			if r.Status != tc.want {
				t.Errorf("status %s, want %s (reason: %s)", r.Status, tc.want, r.Reason)
			}
			if f, ok := tc.tel.(*checktest.FakeTelemetry); ok && f.Drain != check.DefaultDrainTimeout {
				t.Errorf("Account got drain %s, want the default %s", f.Drain, check.DefaultDrainTimeout)
			}
		})
	}
}
