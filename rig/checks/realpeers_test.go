package checks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pathrig/rig/rig/record"
)

// verdicts is the expected outcome of every control of the checks a case runs.
type verdicts map[string]want

func assertVerdicts(t *testing.T, results []record.Result, w verdicts) {
	t.Helper()
	got := byControl(t, results)
	for _, r := range results {
		if _, ok := w[r.Control]; !ok {
			t.Errorf("%s: %s (%s) has no expected verdict in this case: every control is asserted", r.Control, r.Status, r.Reason)
		}
	}
	for id, want := range w {
		r, ok := got[id]
		if !ok {
			t.Errorf("%s: not evaluated", id)
			continue
		}
		if r.Status != want.status {
			t.Errorf("%s: status %s, want %s (reason: %s)", id, r.Status, want.status, r.Reason)
			continue
		}
		if want.severity != "" && r.Status == record.StatusFail && r.Severity != want.severity {
			t.Errorf("%s: severity %s, want %s (reason: %s)", id, r.Severity, want.severity, r.Reason)
		}
	}
}

func evaluatePeers(t *testing.T, targets Targets, checkIDs ...string) []record.Result {
	t.Helper()
	return evaluateWith(t, targets, false, checkIDs...)
}

func evaluateWith(t *testing.T, targets Targets, intrusive bool, checkIDs ...string) []record.Result {
	t.Helper()
	env, dir := newEnv(t, targets, nil)
	env.Intrusive = intrusive
	env.Limits.ProbeTimeout = time.Second
	results, err := Evaluate(context.Background(), env, checkIDs)
	if err != nil {
		t.Fatal(err)
	}
	assertEvidence(t, dir, results)
	return results
}

var (
	pass    = want{status: record.StatusPass}
	skipped = want{status: record.StatusSkip}
	errored = want{status: record.StatusError}
)

func fail(sev record.Severity) want { return want{record.StatusFail, sev} }

// TestMosquitto runs every broker-facing check against Debian's mosquitto 2.0 in an exposed
// configuration (plaintext listener, anonymous, no ACL, no packet limit, TLS 1.1 and every
// OpenSSL suite allowed, a self-signed RSA-1024 certificate with the wrong SAN expiring in 10
// days) and a hardened one (TLS 1.2+ only with forward-secret AEAD suites, a CA-issued
// certificate, client certificates required, password file, ACL file, max_packet_size 4096).
func TestMosquitto(t *testing.T) {
	p := newOpenSSLPKI(t)
	probeA := Identity{Name: "probe-a", ClientID: "probe-a", Username: "probe-a", Password: probePasswordA, Cert: p.tlsCert(t, "device-a"), Topic: "rig/devices/probe-a/telemetry"}
	probeB := Identity{Name: "probe-b", ClientID: "probe-b", Username: "probe-b", Password: probePasswordB, Cert: p.tlsCert(t, "device-b"), Topic: "rig/devices/probe-b/telemetry"}
	tests := []struct {
		shape string
		want  verdicts
	}{
		{"exposed", verdicts{
			ctlPlaintext:       fail(record.SeverityHigh),
			ctlTLSLegacy:       fail(record.SeverityMedium), // TLS 1.1; mosquitto 2.0 cannot enable TLS 1.0
			ctlCiphers:         fail(record.SeverityCritical),
			ctlTLSMQTT:         pass,
			ctlClientAuth:      fail(record.SeverityMedium),
			ctlCertChain:       fail(record.SeverityHigh),
			ctlCertSAN:         fail(record.SeverityHigh),
			ctlCertExpiry:      fail(record.SeverityHigh),
			ctlCertKey:         fail(record.SeverityHigh),
			ctlCertSignature:   pass, // SHA-256, 10 days
			ctlCertLifetime:    pass,
			ctlGuardAnon:       fail(record.SeverityHigh),
			ctlGuardWildcard:   fail(record.SeverityHigh),
			ctlGuardMaxPacket:  fail(record.SeverityMedium),
			ctlGuardHealth:     skipped, // a broker alone has no device the rig can account for
			ctlIngestUnauth:    skipped,
			ctlIngestWrongCred: skipped,
			ctlGuardSys:        fail(record.SeverityMedium),
			ctlGuardSubOther:   fail(record.SeverityHigh),
			ctlGuardPubOther:   fail(record.SeverityHigh),
			ctlGuardRate:       skipped, // intrusive: see TestRateLimit
			ctlGuardUART:       skipped, // no UART: a broker alone
			ctlGuardMgmt:       skipped,
		}},
		{"hardened", verdicts{
			ctlPlaintext: pass, ctlTLSLegacy: pass, ctlCiphers: pass, ctlTLSMQTT: pass, ctlClientAuth: pass,
			ctlCertChain: pass, ctlCertSAN: pass, ctlCertExpiry: pass, ctlCertKey: pass, ctlCertSignature: pass, ctlCertLifetime: pass,
			ctlGuardAnon: pass, ctlGuardWildcard: pass, ctlGuardMaxPacket: pass, ctlGuardHealth: skipped,
			ctlIngestUnauth: skipped, ctlIngestWrongCred: skipped,
			ctlGuardSys: pass, ctlGuardSubOther: pass, ctlGuardPubOther: pass, ctlGuardRate: skipped, ctlGuardUART: skipped, ctlGuardMgmt: skipped,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.shape, func(t *testing.T) {
			m := startMosquitto(t, p, tc.shape)
			targets := Targets{
				Broker: Broker{Plain: m.plain, TLS: m.tls, ServerName: brokerName, Trust: p.pool},
				Probes: []Identity{probeA, probeB},
			}
			results := evaluatePeers(t, targets, "transport", "tls-depth", "broker-cert", "cert-policy", "ingest-auth", "guardrails", "guardrails-depth")
			assertVerdicts(t, results, tc.want)
			got := byControl(t, results)
			wantDelivery := map[string]string{"exposed": "delivered", "hardened": "filtered"}[tc.shape]
			if d := got[ctlGuardWildcard].Observed["delivery"]; d != wantDelivery {
				t.Errorf("wildcard delivery = %v, want %s (mosquitto grants # and filters by ACL at delivery)", d, wantDelivery)
			}
			if tc.shape == "exposed" {
				if v := got[ctlTLSLegacy].Observed["versions"].(map[string]any); v["TLS 1.1"] != "accepted" || v["TLS 1.0"] != "refused" {
					t.Errorf("exposed mosquitto versions = %v, want TLS 1.1 accepted and TLS 1.0 refused", v)
				}
			} else if got[ctlClientAuth].Observed["posture"] != postureRequired {
				t.Errorf("hardened posture = %v", got[ctlClientAuth].Observed["posture"])
			}
		})
	}
}

// TestOpenSSLServer points the transport checks at `openssl s_server`, which offers what neither
// Go nor mosquitto 2.0 will: TLS 1.0 alone, NULL and anonymous suites, optional client
// certificates. It does not speak MQTT.
func TestOpenSSLServer(t *testing.T) {
	p := newOpenSSLPKI(t)
	tests := []struct {
		name    string
		flags   []string
		want    verdicts
		posture string
	}{
		{"TLS 1.0 only with legacy suites", []string{"-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"}, verdicts{
			ctlPlaintext: skipped, ctlTLSLegacy: fail(record.SeverityMedium),
			ctlCiphers: fail(record.SeverityMedium), // CBC only: no forward-secret AEAD suite in TLS 1.0
			ctlTLSMQTT: fail(record.SeverityMedium), ctlClientAuth: fail(record.SeverityMedium),
		}, postureNone},
		{"TLS 1.1 only", []string{"-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"}, verdicts{
			ctlPlaintext: skipped, ctlTLSLegacy: fail(record.SeverityMedium), ctlCiphers: fail(record.SeverityMedium),
			ctlTLSMQTT: fail(record.SeverityMedium), ctlClientAuth: fail(record.SeverityMedium),
		}, postureNone},
		{"NULL and anonymous suites", []string{"-cipher", "ALL:COMPLEMENTOFALL:@SECLEVEL=0"}, verdicts{
			ctlPlaintext: skipped, ctlTLSLegacy: fail(record.SeverityMedium), // SECLEVEL 0 lets TLS 1.0 and 1.1 in too
			ctlCiphers: fail(record.SeverityCritical),
			ctlTLSMQTT: fail(record.SeverityMedium), ctlClientAuth: fail(record.SeverityMedium),
		}, postureNone},
		{"client certificate optional", []string{"-verify", "1", "-CAfile", p.dir + "/ca.pem"}, verdicts{
			ctlPlaintext: skipped, ctlTLSLegacy: pass, ctlCiphers: pass,
			ctlTLSMQTT: fail(record.SeverityMedium), ctlClientAuth: fail(record.SeverityMedium),
		}, postureOptional},
		{"client certificate required", []string{"-Verify", "1", "-CAfile", p.dir + "/ca.pem"}, verdicts{
			ctlPlaintext: skipped, ctlTLSLegacy: pass, ctlCiphers: pass,
			ctlTLSMQTT:    skipped, // no probe identity with a certificate is named
			ctlClientAuth: pass,
		}, postureRequired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := startSServer(t, p, "good", tc.flags...)
			results := evaluatePeers(t, Targets{Broker: Broker{TLS: addr, ServerName: brokerName}}, "transport", "tls-depth")
			assertVerdicts(t, results, tc.want)
			if got := byControl(t, results)[ctlClientAuth].Observed["posture"]; got != tc.posture {
				t.Errorf("posture = %v, want %s", got, tc.posture)
			}
		})
	}
}

// TestBrokerCertOpenSSL serves each certificate case made with the openssl CLI from
// `openssl s_server` and asserts every broker-cert control.
func TestBrokerCertOpenSSL(t *testing.T) {
	p := newOpenSSLPKI(t)
	tests := []struct {
		cert string
		want verdicts
	}{
		{"good", verdicts{ctlCertChain: pass, ctlCertSAN: pass, ctlCertExpiry: pass, ctlCertKey: pass, ctlCertSignature: pass, ctlCertLifetime: pass}},
		{"expired", verdicts{ctlCertChain: pass, ctlCertSAN: pass, ctlCertExpiry: fail(record.SeverityCritical), ctlCertKey: pass, ctlCertSignature: pass, ctlCertLifetime: pass}},
		{"not-yet-valid", verdicts{ctlCertChain: pass, ctlCertSAN: pass, ctlCertExpiry: fail(record.SeverityHigh), ctlCertKey: pass, ctlCertSignature: pass, ctlCertLifetime: pass}},
		{"expiring", verdicts{ctlCertChain: pass, ctlCertSAN: pass, ctlCertExpiry: fail(record.SeverityHigh), ctlCertKey: pass, ctlCertSignature: pass, ctlCertLifetime: pass}},
		{"cn-only", verdicts{ctlCertChain: pass, ctlCertSAN: fail(record.SeverityHigh), ctlCertExpiry: pass, ctlCertKey: pass, ctlCertSignature: pass, ctlCertLifetime: pass}},
		{"wrong-san", verdicts{ctlCertChain: pass, ctlCertSAN: fail(record.SeverityHigh), ctlCertExpiry: pass, ctlCertKey: pass, ctlCertSignature: pass, ctlCertLifetime: pass}},
		{"rsa1024", verdicts{ctlCertChain: pass, ctlCertSAN: pass, ctlCertExpiry: pass, ctlCertKey: fail(record.SeverityHigh), ctlCertSignature: pass, ctlCertLifetime: pass}},
		// crypto/x509 refuses SHA-1 signatures; CERT-CHAIN checks this one by signature and finds
		// the deployment CA: one cause (the hash), one finding (CERT-SIGNATURE).
		{"sha1", verdicts{ctlCertChain: pass, ctlCertSAN: pass, ctlCertExpiry: pass, ctlCertKey: pass, ctlCertSignature: fail(record.SeverityHigh), ctlCertLifetime: pass}},
		// SHA-1 from another CA: two causes, two findings.
		{"sha1-foreign", verdicts{ctlCertChain: fail(record.SeverityHigh), ctlCertSAN: pass, ctlCertExpiry: pass, ctlCertKey: pass, ctlCertSignature: fail(record.SeverityHigh), ctlCertLifetime: pass}},
		{"twenty-years", verdicts{ctlCertChain: pass, ctlCertSAN: pass, ctlCertExpiry: pass, ctlCertKey: pass, ctlCertSignature: pass, ctlCertLifetime: fail(record.SeverityMedium)}},
		{"selfsigned", verdicts{ctlCertChain: fail(record.SeverityHigh), ctlCertSAN: fail(record.SeverityHigh), ctlCertExpiry: fail(record.SeverityHigh), ctlCertKey: fail(record.SeverityHigh), ctlCertSignature: pass, ctlCertLifetime: pass}},
		// A device certificate (clientAuth only) presented by a broker does not chain for serverAuth.
		{"device-a", verdicts{ctlCertChain: fail(record.SeverityHigh), ctlCertSAN: fail(record.SeverityHigh), ctlCertExpiry: pass, ctlCertKey: pass, ctlCertSignature: pass, ctlCertLifetime: pass}},
	}
	for _, tc := range tests {
		t.Run(tc.cert, func(t *testing.T) {
			// SECLEVEL 0 lets OpenSSL serve the weak cases (RSA-1024, SHA-1) at all.
			addr := startSServer(t, p, tc.cert, "-cipher", "DEFAULT:@SECLEVEL=0")
			results := evaluatePeers(t, Targets{Broker: Broker{TLS: addr, ServerName: brokerName, Trust: p.pool, Anchors: p.anchors}}, "broker-cert", "cert-policy")
			assertVerdicts(t, results, tc.want)
		})
	}
}

// TestBrokerCertSHA1Chain: the SHA-1-signed certificate of the deployment CA is one finding with
// the right remediation, CERT-SIGNATURE's; CERT-CHAIN must not send the client to reissue it
// from the CA it already comes from. Without the anchors' certificates it cannot check the
// signature itself and says so (error), rather than guess.
func TestBrokerCertSHA1Chain(t *testing.T) {
	p := newOpenSSLPKI(t)
	addr := startSServer(t, p, "sha1", "-cipher", "DEFAULT:@SECLEVEL=0")
	tests := []struct {
		name    string
		anchors []*x509.Certificate
		want    verdicts
	}{
		{"anchors named", p.anchors, verdicts{ctlCertChain: pass, ctlCertSignature: fail(record.SeverityHigh), ctlCertLifetime: pass,
			ctlCertSAN: pass, ctlCertExpiry: pass, ctlCertKey: pass}},
		{"trust pool only", nil, verdicts{ctlCertChain: errored, ctlCertSignature: fail(record.SeverityHigh), ctlCertLifetime: pass,
			ctlCertSAN: pass, ctlCertExpiry: pass, ctlCertKey: pass}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			results := evaluatePeers(t, Targets{Broker: Broker{TLS: addr, ServerName: brokerName, Trust: p.pool, Anchors: tc.anchors}}, "broker-cert", "cert-policy")
			assertVerdicts(t, results, tc.want)
			got := byControl(t, results)
			var findings []string
			for _, r := range results {
				if r.Status == record.StatusFail {
					findings = append(findings, r.Control)
				}
			}
			if len(findings) != 1 || findings[0] != ctlCertSignature {
				t.Errorf("findings %v, want only %s", findings, ctlCertSignature)
			}
			if tc.anchors != nil && got[ctlCertChain].Observed["verified_by"] != "signature" {
				t.Errorf("CERT-CHAIN observed %v, want verified_by signature", got[ctlCertChain].Observed)
			}
		})
	}
}

// TestLegacyOnlyCertificate: a server crypto/tls cannot handshake with (TLS 1.0 with a Camellia
// suite only) still shows its certificate to the certificate controls, through the clear-text
// Certificate message of a hand-built hello.
func TestLegacyOnlyCertificate(t *testing.T) {
	p := newOpenSSLPKI(t)
	addr := startSServer(t, p, "rsa1024", "-tls1", "-cipher", "CAMELLIA128-SHA:@SECLEVEL=0")
	if h := tlsHandshake(context.Background(), addr, brokerName, tls.VersionTLS10, tls.VersionTLS13, time.Second); len(h.certs) > 0 {
		t.Fatalf("crypto/tls got the certificate (%s): the case no longer exercises the fallback", h.Answer)
	}
	results := evaluatePeers(t, Targets{Broker: Broker{TLS: addr, ServerName: brokerName, Trust: p.pool}}, "broker-cert", "cert-policy")
	assertVerdicts(t, results, verdicts{
		ctlCertChain: pass, ctlCertSAN: pass, ctlCertExpiry: pass, ctlCertKey: fail(record.SeverityHigh),
		ctlCertSignature: pass, ctlCertLifetime: pass,
	})
}

// rateHook drops a client's publishes beyond budget per second, as a rate-limiting broker would.
type rateHook struct {
	mqtt.HookBase
	budget int
	mu     sync.Mutex
	window map[string][2]int64 // client -> {second, count}
}

func (h *rateHook) ID() string { return "rig-test-rate" }

func (h *rateHook) Provides(b byte) bool {
	return b == mqtt.OnPublish || b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *rateHook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (h *rateHook) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

func (h *rateHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now().Unix()
	w := h.window[cl.ID]
	if w[0] != now {
		w = [2]int64{now, 0}
	}
	w[1]++
	h.window[cl.ID] = w
	if w[1] > int64(h.budget) {
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

// startRateBroker is a plaintext mochi broker whose hook drops publishes beyond 20 per second
// and client.
func startRateBroker(t *testing.T) string {
	t.Helper()
	s := mqtt.New(&mqtt.Options{Logger: quietLogger()})
	if err := s.AddHook(&rateHook{budget: 20, window: map[string][2]int64{}}, nil); err != nil {
		t.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{Type: listeners.TypeTCP, ID: "plain", Address: "127.0.0.1:0"})
	if err := s.AddListener(l); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return l.Address()
}

// TestRateLimit floods (intrusive: opted in) a broker without a per-client rate, Debian's
// mosquitto, and a mochi broker with a rate hook; and checks the flood never runs unless the
// scenario opts in.
func TestRateLimit(t *testing.T) {
	probe := Identity{Name: "probe-a", ClientID: "probe-a", Username: "probe-a", Topic: "rig/devices/probe-a/telemetry"}
	t.Run("not opted in", func(t *testing.T) {
		results := evaluateWith(t, Targets{Broker: Broker{Plain: startRateBroker(t)}, Probes: []Identity{probe}}, false, "guardrails-depth")
		if r := byControl(t, results)[ctlGuardRate]; r.Status != record.StatusSkip {
			t.Errorf("%s without intrusive: %s (%s), want skip", ctlGuardRate, r.Status, r.Reason)
		}
	})
	t.Run("mochi with a rate hook", func(t *testing.T) {
		results := evaluateWith(t, Targets{Broker: Broker{Plain: startRateBroker(t)}, Probes: []Identity{probe}}, true, "guardrails-depth")
		r := byControl(t, results)[ctlGuardRate]
		if r.Status != record.StatusPass {
			t.Errorf("%s: %s (%s), want pass", ctlGuardRate, r.Status, r.Reason)
		}
	})
	t.Run("mosquitto", func(t *testing.T) {
		p := newOpenSSLPKI(t)
		m := startMosquitto(t, p, "exposed")
		results := evaluateWith(t, Targets{Broker: Broker{Plain: m.plain}, Probes: []Identity{probe}}, true, "guardrails-depth")
		r := byControl(t, results)[ctlGuardRate]
		if r.Status != record.StatusFail || r.Severity != record.SeverityMedium {
			t.Errorf("%s: %s %s (%s), want fail medium (mosquitto has no per-client rate)", ctlGuardRate, r.Status, r.Severity, r.Reason)
		}
	})
}

// TestKeyExchangeStrength: TRANSPORT-CIPHERS judges the key exchange of every accepted suite as
// testssl.sh and Mozilla's intermediate configuration do: a DH group below 2048 bits, an ECDH
// curve below 256 bits and a static RSA key exchange fail, whatever the cipher. The servers are
// openssl s_server with an RSA certificate, TLS 1.3 off so that the suites under test are all
// there is; the DH groups are in testdata (dh1024.pem from `openssl dhparam 1024`, ffdhe2048.pem
// from `openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048`).
func TestKeyExchangeStrength(t *testing.T) {
	p := newOpenSSLPKI(t)
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	dhe := "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:@SECLEVEL=0"
	tests := []struct {
		name   string
		flags  []string
		want   want
		reason string // the failure names the key exchange
	}{
		{"DHE with a 1024-bit group", []string{"-dhparam", filepath.Join(testdata, "dh1024.pem"), "-cipher", dhe}, fail(record.SeverityHigh), "DH 1024 bits"},
		{"DHE with ffdhe2048", []string{"-dhparam", filepath.Join(testdata, "ffdhe2048.pem"), "-cipher", dhe}, pass, ""},
		{"static RSA key exchange", []string{"-cipher", "AES128-GCM-SHA256:AES256-GCM-SHA384:@SECLEVEL=0"}, fail(record.SeverityMedium), "static RSA key exchange"},
		{"ECDHE on P-224", []string{"-groups", "P-224", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0"}, fail(record.SeverityHigh), "ECDH secp224r1 (224 bits)"},
		{"ECDHE on X25519", []string{"-groups", "X25519", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"}, pass, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := startSServer(t, p, "rsa2048", append([]string{"-no_tls1_3", "-no_ssl3", "-no_tls1", "-no_tls1_1"}, tc.flags...)...)
			// TRANSPORT-CIPHERS alone: the other tls-depth controls would wait out their timeouts on
			// a peer that does not speak MQTT.
			env, _ := newEnv(t, Targets{Broker: Broker{TLS: addr, ServerName: brokerName}}, nil)
			env.Limits = env.Limits.WithDefaults()
			r := probeCiphers(context.Background(), env) // a failure carries its effective severity
			t.Logf("%s %s: %s", r.Status, r.Severity, r.Reason)
			if r.Status != tc.want.status || (tc.want.severity != "" && r.Severity != tc.want.severity) {
				t.Errorf("%s: got %s %s (%s), want %s %s", ctlCiphers, r.Status, r.Severity, r.Reason, tc.want.status, tc.want.severity)
			}
			if !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("%s: reason %q does not name %q", ctlCiphers, r.Reason, tc.reason)
			}
		})
	}
}
