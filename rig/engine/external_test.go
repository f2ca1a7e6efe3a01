package engine

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/scenarios"
)

// startPlainMosquitto runs Debian's mosquitto with one anonymous plaintext listener on a free
// loopback port, in the foreground, stopped by its pid when the test ends.
func startPlainMosquitto(t *testing.T) string {
	t.Helper()
	mosq, err := exec.LookPath("mosquitto")
	if err != nil {
		t.Skip("mosquitto not installed: apt-get install -y mosquitto (.ci/run installs it in CI)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(conf, []byte("user root\npersistence false\nallow_anonymous true\nlog_dest stderr\nlog_type error\nlistener "+port+" 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(mosq, "-c", conf)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return addr
		}
		select {
		case <-done:
			t.Fatalf("mosquitto exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto not listening on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestExternalTargets runs a scenario whose targets name a broker and an ingest the rig did not
// start: no reference stack comes up, the named endpoints are probed, what is not named is
// skipped with the reason, and the secrets read from a file and the environment appear in no
// output file.
func TestExternalTargets(t *testing.T) {
	broker := startPlainMosquitto(t)
	const token = "ext-token-9c4e1f0b7a"
	const password = "ext-probe-pass-3b8d"
	ingest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("WWW-Authenticate", "Bearer")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer ingest.Close()

	dir := t.TempDir()
	t.Setenv("RIG_EXT_PROBE_PASSWORD", password)
	files := map[string]string{
		"token.txt":   token + "\n",
		"sample.json": `{"device":"x","boot":1,"seq":1}`,
		"ext.yaml": fmt.Sprintf(`name: external
bundles: [audit-baseline]
checks: [device-certs]
limits:
  probe_timeout: 1s
  oversize_bytes: 65536
targets:
  broker:
    plain: %s
  probes:
    - name: probe-a
      client_id: probe-a
      username: probe-a
      password: {env: RIG_EXT_PROBE_PASSWORD}
      topic: rig/devices/probe-a/probe
  ingest:
    url: %s/v1/telemetry
    token: {file: token.txt}
    sample: sample.json
  device_certs: certs
`, broker, ingest.URL),
	}
	files["certs/dev.pem"] = string(deviceCertPEM(t))
	if err := os.Mkdir(filepath.Join(dir, "certs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for _, c := range checks.All() {
		ids = append(ids, c.ID)
	}
	plan, err := scenario.Library{Embedded: scenarios.FS}.Load(filepath.Join(dir, "ext.yaml"), "", ids)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "run")
	run, err := Run(context.Background(), plan, Options{Out: out, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if run.Profile != scenario.ExternalProfile || run.Device != nil {
		t.Errorf("profile %q, device %+v: want external and no device (no stack started)", run.Profile, run.Device)
	}
	want := map[string]record.Status{
		"TRANSPORT-PLAINTEXT": record.StatusFail, "TRANSPORT-TLS-LEGACY": record.StatusSkip,
		"CERT-CHAIN": record.StatusSkip, "CERT-SAN": record.StatusSkip, "CERT-EXPIRY": record.StatusSkip, "CERT-KEY": record.StatusSkip,
		"INGEST-UNAUTH": record.StatusPass, "INGEST-WRONGCRED": record.StatusPass,
		"GUARD-ANON": record.StatusFail, "GUARD-SUB-WILDCARD": record.StatusFail, "GUARD-MAX-PACKET": record.StatusFail,
		"GUARD-HEALTH": record.StatusSkip, // no device the rig can account for: input not named
		// One self-signed inventory certificate without EKU and no device CA named.
		"DEVCERT-CHAIN": record.StatusSkip, "DEVCERT-EXPIRY": record.StatusPass, "DEVCERT-KEY": record.StatusPass,
		"DEVCERT-SIGNATURE": record.StatusPass, "DEVCERT-EKU": record.StatusFail, "DEVCERT-UNIQUE": record.StatusPass,
		"DEVCERT-BINDING": record.StatusSkip,
		// No targets.observability: every control that needs a log, metrics or the device is
		// skipped; the secret search still reads the broker's $SYS topics the probe may read.
		"OBS-AUTH-EVENTS": record.StatusSkip, "OBS-ACL-EVENTS": record.StatusSkip, "OBS-INGEST-EVENTS": record.StatusSkip,
		"OBS-UART-EVENTS": record.StatusSkip, "OBS-METRICS-AUTH": record.StatusSkip, "OBS-GAP-ALERT": record.StatusSkip,
		"OBS-CLOCK": record.StatusSkip, "OBS-LOG-SECRETS": record.StatusPass,
		// One probe identity and no WebSocket listener named: what needs a second identity or a
		// listener is skipped with the reason. Mosquitto with allow_anonymous and no password file
		// takes a wrong password; 3.1.1 enforces nothing for MQTT 5 to be compared with.
		"IDENT-TAKEOVER": record.StatusSkip, "IDENT-RETAIN-ACL": record.StatusSkip, "IDENT-WILL-ACL": record.StatusSkip,
		"IDENT-MQTT5": record.StatusSkip, "IDENT-WEBSOCKET": record.StatusSkip, "IDENT-LOCKOUT": record.StatusFail,
	}
	for _, r := range run.Results {
		if w, ok := want[r.Control]; !ok || r.Status != w {
			t.Errorf("%s: %s (%s), want %s", r.Control, r.Status, r.Reason, w)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "evidence", "stack")); err == nil {
		t.Error("evidence/stack exists: the reference stack's stats were written for an external run")
	}
	// No secret in any file of the run folder.
	_ = filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		for _, s := range []string{token, password} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s contains a secret", p)
			}
		}
		return nil
	})
	var rec map[string]any
	b, _ := os.ReadFile(filepath.Join(out, record.RunFile))
	_ = json.Unmarshal(b, &rec)
	if v, _ := rec["volatile"].(map[string]any); v == nil || v["targets"] == nil {
		t.Errorf("run.json volatile.targets missing: %v", rec["volatile"])
	}
}

// deviceCertPEM is a self-signed P-256 certificate without extended key usage.
func deviceCertPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "device-x"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestGuardrailsDepthOnStack runs the guardrails-depth check on the hardened reference stack,
// guardrails after it so that runtime health is measured after the malformed UART frames.
// The other order (guardrails first) has the device's telemetry stopped by the health
// accounting before the UART probe, which must then still show the gateway decoding.
func TestGuardrailsDepthOnStack(t *testing.T) {
	for _, order := range []string{"guardrails-depth, guardrails", "guardrails, guardrails-depth"} {
		t.Run(order, func(t *testing.T) { guardrailsDepthOnStack(t, order) })
	}
}

func guardrailsDepthOnStack(t *testing.T, order string) {
	dir := t.TempDir()
	sc := filepath.Join(dir, "depth.yaml")
	if err := os.WriteFile(sc, []byte("name: depth\nprofile: hardened\nchecks: ["+order+"]\nlimits:\n  probe_timeout: 1s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range checks.All() {
		ids = append(ids, c.ID)
	}
	plan, err := scenario.Library{Embedded: scenarios.FS}.Load(sc, "", ids)
	if err != nil {
		t.Fatal(err)
	}
	run, _ := runPlan(t, plan)
	want := map[string]record.Status{
		"GUARD-SUB-SYS": record.StatusPass, "GUARD-SUB-OTHER": record.StatusPass,
		// probe-b reads its own topics and sees nothing of probe-a's spoofed publish (the broker
		// disconnects probe-a for it).
		"GUARD-PUB-OTHER": record.StatusPass,
		"GUARD-RATE":      record.StatusSkip, // not opted in
		"GUARD-UART":      record.StatusPass,
		"GUARD-MGMT":      record.StatusSkip, // the reference gateway serves no management endpoint
		"GUARD-ANON":      record.StatusPass, "GUARD-SUB-WILDCARD": record.StatusPass, "GUARD-MAX-PACKET": record.StatusPass,
		"GUARD-HEALTH": record.StatusPass, // nothing lost although malformed frames crossed the UART
	}
	for _, r := range run.Results {
		if w, ok := want[r.Control]; !ok || r.Status != w {
			t.Errorf("%s: %s (%s), want %s", r.Control, r.Status, r.Reason, w)
		}
	}
}

// TestExternalTargetsBadSecretLeavesNothing: a secret file that exists but is empty is a
// configuration error found before the run folder is made.
func TestExternalTargetsBadSecretLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sc := filepath.Join(dir, "s.yaml")
	body := "name: ext\nbundles: [audit-baseline]\ntargets:\n  ingest:\n    url: http://127.0.0.1:9/v1/telemetry\n    token: {file: token}\n"
	if err := os.WriteFile(sc, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range checks.All() {
		ids = append(ids, c.ID)
	}
	plan, err := scenario.Library{Embedded: scenarios.FS}.Load(sc, "", ids)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	_, err = Run(context.Background(), plan, Options{Out: out})
	if !errors.Is(err, ErrUsage) {
		t.Fatalf("Run = %v, want a usage error for the empty token file", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the run folder was created (stat: %v)", err)
	}
}

// TestBase64EchoRedacted: an ingest that echoes the token back in base64 (alone, and inside an
// HTTP Basic credential, in a header and in the body) must not get it into any file of the run
// folder. The scan decodes every base64 run of every file itself, independent of the redactor.
func TestBase64EchoRedacted(t *testing.T) {
	const token = "b64-echo-token-5e1d09"
	echo := func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		basic := base64.StdEncoding.EncodeToString([]byte("tenant-a:" + token))
		w.Header().Set("X-Debug-Credential", "Basic "+basic)
		status := http.StatusUnauthorized
		if r.Header.Get("Authorization") == "Bearer "+token {
			status = http.StatusAccepted
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"seen":"%s","seen_url":"%s","basic":"%s"}`, base64.StdEncoding.EncodeToString([]byte(token)),
			base64.RawURLEncoding.EncodeToString([]byte("x"+token)), basic)
	}
	ingest := httptest.NewServer(http.HandlerFunc(echo))
	defer ingest.Close()
	dir := t.TempDir()
	files := map[string]string{
		"token.txt":   token + "\n",
		"sample.json": `{"device":"x","boot":1,"seq":1}`,
		"ext.yaml":    fmt.Sprintf("name: echo\nchecks: [ingest-auth]\nlimits:\n  probe_timeout: 1s\n  oversize_bytes: 65536\ntargets:\n  ingest:\n    url: %s/v1/telemetry\n    token: {file: token.txt}\n    sample: sample.json\n", ingest.URL),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for _, c := range checks.All() {
		ids = append(ids, c.ID)
	}
	plan, err := scenario.Library{Embedded: scenarios.FS}.Load(filepath.Join(dir, "ext.yaml"), "", ids)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "run")
	if _, err := Run(context.Background(), plan, Options{Out: out, Version: "test"}); err != nil {
		t.Fatal(err)
	}
	redacted := 0
	_ = filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(token)) || base64Holds(b, token) {
			t.Errorf("%s holds the token, plain or in base64", p)
		}
		if strings.HasPrefix(filepath.Base(filepath.Dir(p)), "INGEST-") {
			redacted += bytes.Count(b, []byte("[REDACTED]"))
		}
		return nil
	})
	if redacted == 0 {
		t.Error("no redaction in the ingest evidence: the echo did not reach the outputs, the test proves nothing")
	}
}

// base64Holds decodes every run of base64 characters of b (both alphabets, from each of the
// four character phases) and reports whether a decoding contains secret.
func base64Holds(b []byte, secret string) bool {
	isB64 := func(c byte) bool {
		return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("+/-_", c) >= 0
	}
	for i := 0; i < len(b); {
		j := i
		for j < len(b) && isB64(b[j]) {
			j++
		}
		if j == i {
			i++
			continue
		}
		run := strings.NewReplacer("-", "+", "_", "/").Replace(string(b[i:j]))
		for phase := 0; phase < 4 && phase < len(run); phase++ {
			s := run[phase:]
			if len(s)%4 == 1 {
				s = s[:len(s)-1]
			}
			if dec, err := base64.RawStdEncoding.DecodeString(s); err == nil && bytes.Contains(dec, []byte(secret)) {
				return true
			}
		}
		i = j
	}
	return false
}

// TestExternalTrustAnchors: the broker's trust file gives the checks the pool and the anchor
// certificates themselves (CERT-CHAIN checks a SHA-1 signature crypto/x509 refuses with them);
// a file without a certificate is refused naming the field.
func TestExternalTrustAnchors(t *testing.T) {
	a, b := deviceCertPEM(t), deviceCertPEM(t)
	key := pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}})
	tests := []struct {
		name    string
		trust   []byte
		anchors int
		wantErr string
	}{
		{"two certificates and another block", bytes.Join([][]byte{a, key, b}, nil), 2, ""},
		{"no certificate", key, 0, "targets.broker.trust"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "ca.pem"), tc.trust, 0o644); err != nil {
				t.Fatal(err)
			}
			sc := filepath.Join(dir, "s.yaml")
			body := "name: ext\nbundles: [transport-depth]\ntargets:\n  broker:\n    tls: 127.0.0.1:9\n    trust: ca.pem\n"
			if err := os.WriteFile(sc, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, c := range checks.All() {
				ids = append(ids, c.ID)
			}
			plan, err := scenario.Library{Embedded: scenarios.FS}.Load(sc, "", ids)
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := externalTargets(&plan.Scenario)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Broker.Trust == nil || len(got.Broker.Anchors) != tc.anchors {
				t.Errorf("trust %v, %d anchors; want a pool and %d anchors", got.Broker.Trust != nil, len(got.Broker.Anchors), tc.anchors)
			}
		})
	}
}
