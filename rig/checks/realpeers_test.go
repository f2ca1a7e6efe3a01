package checks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/checktest"
	"github.com/pathrig/rig/rig/checks/probe/tlsprobe"
	"github.com/pathrig/rig/rig/record"
)

func evaluatePeers(t *testing.T, targets check.Targets, checkIDs ...string) []record.Result {
	t.Helper()
	return checktest.EvaluateWith(t, Evaluate, targets, false, checkIDs...)
}

func evaluateWith(t *testing.T, targets check.Targets, intrusive bool, checkIDs ...string) []record.Result {
	t.Helper()
	return checktest.EvaluateWith(t, Evaluate, targets, intrusive, checkIDs...)
}

// TestMain removes the shared openssl PKI folder once every test of the package has run.
func TestMain(m *testing.M) {
	code := m.Run()
	checktest.Cleanup()
	os.Exit(code)
}

// TestMosquitto runs every broker-facing check against Debian's mosquitto 2.0 in an exposed
// configuration (plaintext listener, anonymous, no ACL, no packet limit, TLS 1.1 and every
// OpenSSL suite allowed, a self-signed RSA-1024 certificate with the wrong SAN expiring in 10
// days) and a hardened one (TLS 1.2+ only with forward-secret AEAD suites, a CA-issued
// certificate, client certificates required, password file, ACL file, max_packet_size 4096).
func TestMosquitto(t *testing.T) {
	p := checktest.NewOpenSSLPKI(t)
	probeA := check.Identity{Name: "probe-a", ClientID: "probe-a", Username: "probe-a", Password: checktest.ProbePasswordA, Cert: p.TLSCert(t, "device-a"), Topic: "rig/devices/probe-a/telemetry"}
	probeB := check.Identity{Name: "probe-b", ClientID: "probe-b", Username: "probe-b", Password: checktest.ProbePasswordB, Cert: p.TLSCert(t, "device-b"), Topic: "rig/devices/probe-b/telemetry"}
	tests := []struct {
		shape string
		want  checktest.Verdicts
	}{
		{"exposed", checktest.Verdicts{
			"TRANSPORT-PLAINTEXT":   checktest.Fail(record.SeverityHigh),
			"TRANSPORT-TLS-LEGACY":  checktest.Fail(record.SeverityMedium), // TLS 1.1; mosquitto 2.0 cannot enable TLS 1.0
			"TRANSPORT-CIPHERS":     checktest.Fail(record.SeverityCritical),
			"TRANSPORT-TLS-MQTT":    checktest.Pass,
			"TRANSPORT-CLIENT-AUTH": checktest.Fail(record.SeverityMedium),
			"CERT-CHAIN":            checktest.Fail(record.SeverityHigh),
			"CERT-SAN":              checktest.Fail(record.SeverityHigh),
			"CERT-EXPIRY":           checktest.Fail(record.SeverityHigh),
			"CERT-KEY":              checktest.Fail(record.SeverityHigh),
			"CERT-SIGNATURE":        checktest.Pass, // SHA-256, 10 days
			"CERT-LIFETIME":         checktest.Pass,
			"GUARD-ANON":            checktest.Fail(record.SeverityHigh),
			"GUARD-SUB-WILDCARD":    checktest.Fail(record.SeverityHigh),
			"GUARD-MAX-PACKET":      checktest.Fail(record.SeverityMedium),
			"GUARD-HEALTH":          checktest.Skipped, // a broker alone has no device the rig can account for
			"INGEST-UNAUTH":         checktest.Skipped,
			"INGEST-WRONGCRED":      checktest.Skipped,
			"GUARD-SUB-SYS":         checktest.Fail(record.SeverityMedium),
			"GUARD-SUB-OTHER":       checktest.Fail(record.SeverityHigh),
			"GUARD-PUB-OTHER":       checktest.Fail(record.SeverityHigh),
			"GUARD-RATE":            checktest.Skipped, // intrusive: see TestRateLimit
			"GUARD-UART":            checktest.Skipped, // no UART: a broker alone
			"GUARD-MGMT":            checktest.Skipped,
		}},
		{"hardened", checktest.Verdicts{
			"TRANSPORT-PLAINTEXT": checktest.Pass, "TRANSPORT-TLS-LEGACY": checktest.Pass, "TRANSPORT-CIPHERS": checktest.Pass, "TRANSPORT-TLS-MQTT": checktest.Pass, "TRANSPORT-CLIENT-AUTH": checktest.Pass,
			"CERT-CHAIN": checktest.Pass, "CERT-SAN": checktest.Pass, "CERT-EXPIRY": checktest.Pass, "CERT-KEY": checktest.Pass, "CERT-SIGNATURE": checktest.Pass, "CERT-LIFETIME": checktest.Pass,
			"GUARD-ANON": checktest.Pass, "GUARD-SUB-WILDCARD": checktest.Pass, "GUARD-MAX-PACKET": checktest.Pass, "GUARD-HEALTH": checktest.Skipped,
			"INGEST-UNAUTH": checktest.Skipped, "INGEST-WRONGCRED": checktest.Skipped,
			"GUARD-SUB-SYS": checktest.Pass, "GUARD-SUB-OTHER": checktest.Pass, "GUARD-PUB-OTHER": checktest.Pass, "GUARD-RATE": checktest.Skipped, "GUARD-UART": checktest.Skipped, "GUARD-MGMT": checktest.Skipped,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.shape, func(t *testing.T) {
			m := checktest.StartMosquitto(t, p, tc.shape)
			targets := check.Targets{
				Broker: check.Broker{Plain: m.Plain, TLS: m.TLS, ServerName: checktest.BrokerName, Trust: p.Pool},
				Probes: []check.Identity{probeA, probeB},
			}
			results := evaluatePeers(t, targets, "transport", "tls-depth", "broker-cert", "cert-policy", "ingest-auth", "guardrails", "guardrails-depth")
			checktest.AssertVerdicts(t, results, tc.want)
			got := checktest.ByControl(t, results)
			wantDelivery := map[string]string{"exposed": "delivered", "hardened": "filtered"}[tc.shape]
			if d := got["GUARD-SUB-WILDCARD"].Observed["delivery"]; d != wantDelivery {
				t.Errorf("wildcard delivery = %v, want %s (mosquitto grants # and filters by ACL at delivery)", d, wantDelivery)
			}
			if tc.shape == "exposed" {
				if v := got["TRANSPORT-TLS-LEGACY"].Observed["versions"].(map[string]any); v["TLS 1.1"] != "accepted" || v["TLS 1.0"] != "refused" {
					t.Errorf("exposed mosquitto versions = %v, want TLS 1.1 accepted and TLS 1.0 refused", v)
				}
			} else if got["TRANSPORT-CLIENT-AUTH"].Observed["posture"] != "required" {
				t.Errorf("hardened posture = %v", got["TRANSPORT-CLIENT-AUTH"].Observed["posture"])
			}
		})
	}
}

// TestOpenSSLServer points the transport checks at `openssl s_server`, which offers what neither
// Go nor mosquitto 2.0 will: TLS 1.0 alone, NULL and anonymous suites, optional client
// certificates. It does not speak MQTT.
func TestOpenSSLServer(t *testing.T) {
	p := checktest.NewOpenSSLPKI(t)
	tests := []struct {
		name    string
		flags   []string
		want    checktest.Verdicts
		posture string
	}{
		{"TLS 1.0 only with legacy suites", []string{"-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"}, checktest.Verdicts{
			"TRANSPORT-PLAINTEXT": checktest.Skipped, "TRANSPORT-TLS-LEGACY": checktest.Fail(record.SeverityMedium),
			"TRANSPORT-CIPHERS":  checktest.Fail(record.SeverityMedium), // CBC only: no forward-secret AEAD suite in TLS 1.0
			"TRANSPORT-TLS-MQTT": checktest.Fail(record.SeverityMedium), "TRANSPORT-CLIENT-AUTH": checktest.Fail(record.SeverityMedium),
		}, "none"},
		{"TLS 1.1 only", []string{"-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"}, checktest.Verdicts{
			"TRANSPORT-PLAINTEXT": checktest.Skipped, "TRANSPORT-TLS-LEGACY": checktest.Fail(record.SeverityMedium), "TRANSPORT-CIPHERS": checktest.Fail(record.SeverityMedium),
			"TRANSPORT-TLS-MQTT": checktest.Fail(record.SeverityMedium), "TRANSPORT-CLIENT-AUTH": checktest.Fail(record.SeverityMedium),
		}, "none"},
		{"NULL and anonymous suites", []string{"-cipher", "ALL:COMPLEMENTOFALL:@SECLEVEL=0"}, checktest.Verdicts{
			"TRANSPORT-PLAINTEXT": checktest.Skipped, "TRANSPORT-TLS-LEGACY": checktest.Fail(record.SeverityMedium), // SECLEVEL 0 lets TLS 1.0 and 1.1 in too
			"TRANSPORT-CIPHERS":  checktest.Fail(record.SeverityCritical),
			"TRANSPORT-TLS-MQTT": checktest.Fail(record.SeverityMedium), "TRANSPORT-CLIENT-AUTH": checktest.Fail(record.SeverityMedium),
		}, "none"},
		{"client certificate optional", []string{"-verify", "1", "-CAfile", p.Dir + "/ca.pem"}, checktest.Verdicts{
			"TRANSPORT-PLAINTEXT": checktest.Skipped, "TRANSPORT-TLS-LEGACY": checktest.Pass, "TRANSPORT-CIPHERS": checktest.Pass,
			"TRANSPORT-TLS-MQTT": checktest.Fail(record.SeverityMedium), "TRANSPORT-CLIENT-AUTH": checktest.Fail(record.SeverityMedium),
		}, "optional"},
		{"client certificate required", []string{"-Verify", "1", "-CAfile", p.Dir + "/ca.pem"}, checktest.Verdicts{
			"TRANSPORT-PLAINTEXT": checktest.Skipped, "TRANSPORT-TLS-LEGACY": checktest.Pass, "TRANSPORT-CIPHERS": checktest.Pass,
			"TRANSPORT-TLS-MQTT":    checktest.Skipped, // no probe identity with a certificate is named
			"TRANSPORT-CLIENT-AUTH": checktest.Pass,
		}, "required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := checktest.StartSServer(t, p, "good", tc.flags...)
			results := evaluatePeers(t, check.Targets{Broker: check.Broker{TLS: addr, ServerName: checktest.BrokerName}}, "transport", "tls-depth")
			checktest.AssertVerdicts(t, results, tc.want)
			if got := checktest.ByControl(t, results)["TRANSPORT-CLIENT-AUTH"].Observed["posture"]; got != tc.posture {
				t.Errorf("posture = %v, want %s", got, tc.posture)
			}
		})
	}
}

// TestBrokerCertOpenSSL serves each certificate case made with the openssl CLI from
// `openssl s_server` and asserts every broker-cert control.
func TestBrokerCertOpenSSL(t *testing.T) {
	p := checktest.NewOpenSSLPKI(t)
	tests := []struct {
		cert string
		want checktest.Verdicts
	}{
		{"good", checktest.Verdicts{"CERT-CHAIN": checktest.Pass, "CERT-SAN": checktest.Pass, "CERT-EXPIRY": checktest.Pass, "CERT-KEY": checktest.Pass, "CERT-SIGNATURE": checktest.Pass, "CERT-LIFETIME": checktest.Pass}},
		{"expired", checktest.Verdicts{"CERT-CHAIN": checktest.Pass, "CERT-SAN": checktest.Pass, "CERT-EXPIRY": checktest.Fail(record.SeverityCritical), "CERT-KEY": checktest.Pass, "CERT-SIGNATURE": checktest.Pass, "CERT-LIFETIME": checktest.Pass}},
		{"not-yet-valid", checktest.Verdicts{"CERT-CHAIN": checktest.Pass, "CERT-SAN": checktest.Pass, "CERT-EXPIRY": checktest.Fail(record.SeverityHigh), "CERT-KEY": checktest.Pass, "CERT-SIGNATURE": checktest.Pass, "CERT-LIFETIME": checktest.Pass}},
		{"expiring", checktest.Verdicts{"CERT-CHAIN": checktest.Pass, "CERT-SAN": checktest.Pass, "CERT-EXPIRY": checktest.Fail(record.SeverityHigh), "CERT-KEY": checktest.Pass, "CERT-SIGNATURE": checktest.Pass, "CERT-LIFETIME": checktest.Pass}},
		{"cn-only", checktest.Verdicts{"CERT-CHAIN": checktest.Pass, "CERT-SAN": checktest.Fail(record.SeverityHigh), "CERT-EXPIRY": checktest.Pass, "CERT-KEY": checktest.Pass, "CERT-SIGNATURE": checktest.Pass, "CERT-LIFETIME": checktest.Pass}},
		{"wrong-san", checktest.Verdicts{"CERT-CHAIN": checktest.Pass, "CERT-SAN": checktest.Fail(record.SeverityHigh), "CERT-EXPIRY": checktest.Pass, "CERT-KEY": checktest.Pass, "CERT-SIGNATURE": checktest.Pass, "CERT-LIFETIME": checktest.Pass}},
		{"rsa1024", checktest.Verdicts{"CERT-CHAIN": checktest.Pass, "CERT-SAN": checktest.Pass, "CERT-EXPIRY": checktest.Pass, "CERT-KEY": checktest.Fail(record.SeverityHigh), "CERT-SIGNATURE": checktest.Pass, "CERT-LIFETIME": checktest.Pass}},
		// crypto/x509 refuses SHA-1 signatures; CERT-CHAIN checks this one by signature and finds
		// the deployment CA: one cause (the hash), one finding (CERT-SIGNATURE).
		{"sha1", checktest.Verdicts{"CERT-CHAIN": checktest.Pass, "CERT-SAN": checktest.Pass, "CERT-EXPIRY": checktest.Pass, "CERT-KEY": checktest.Pass, "CERT-SIGNATURE": checktest.Fail(record.SeverityHigh), "CERT-LIFETIME": checktest.Pass}},
		// SHA-1 from another CA: two causes, two findings.
		{"sha1-foreign", checktest.Verdicts{"CERT-CHAIN": checktest.Fail(record.SeverityHigh), "CERT-SAN": checktest.Pass, "CERT-EXPIRY": checktest.Pass, "CERT-KEY": checktest.Pass, "CERT-SIGNATURE": checktest.Fail(record.SeverityHigh), "CERT-LIFETIME": checktest.Pass}},
		{"twenty-years", checktest.Verdicts{"CERT-CHAIN": checktest.Pass, "CERT-SAN": checktest.Pass, "CERT-EXPIRY": checktest.Pass, "CERT-KEY": checktest.Pass, "CERT-SIGNATURE": checktest.Pass, "CERT-LIFETIME": checktest.Fail(record.SeverityMedium)}},
		{"selfsigned", checktest.Verdicts{"CERT-CHAIN": checktest.Fail(record.SeverityHigh), "CERT-SAN": checktest.Fail(record.SeverityHigh), "CERT-EXPIRY": checktest.Fail(record.SeverityHigh), "CERT-KEY": checktest.Fail(record.SeverityHigh), "CERT-SIGNATURE": checktest.Pass, "CERT-LIFETIME": checktest.Pass}},
		// A device certificate (clientAuth only) presented by a broker does not chain for serverAuth.
		{"device-a", checktest.Verdicts{"CERT-CHAIN": checktest.Fail(record.SeverityHigh), "CERT-SAN": checktest.Fail(record.SeverityHigh), "CERT-EXPIRY": checktest.Pass, "CERT-KEY": checktest.Pass, "CERT-SIGNATURE": checktest.Pass, "CERT-LIFETIME": checktest.Pass}},
	}
	for _, tc := range tests {
		t.Run(tc.cert, func(t *testing.T) {
			// SECLEVEL 0 lets OpenSSL serve the weak cases (RSA-1024, SHA-1) at all.
			addr := checktest.StartSServer(t, p, tc.cert, "-cipher", "DEFAULT:@SECLEVEL=0")
			results := evaluatePeers(t, check.Targets{Broker: check.Broker{TLS: addr, ServerName: checktest.BrokerName, Trust: p.Pool, Anchors: p.Anchors}}, "broker-cert", "cert-policy")
			checktest.AssertVerdicts(t, results, tc.want)
		})
	}
}

// TestBrokerCertSHA1Chain: the SHA-1-signed certificate of the deployment CA is one finding with
// the right remediation, CERT-SIGNATURE's; CERT-CHAIN must not send the client to reissue it
// from the CA it already comes from. Without the anchors' certificates it cannot check the
// signature itself and says so (error), rather than guess.
func TestBrokerCertSHA1Chain(t *testing.T) {
	p := checktest.NewOpenSSLPKI(t)
	addr := checktest.StartSServer(t, p, "sha1", "-cipher", "DEFAULT:@SECLEVEL=0")
	tests := []struct {
		name    string
		anchors []*x509.Certificate
		want    checktest.Verdicts
	}{
		{"anchors named", p.Anchors, checktest.Verdicts{"CERT-CHAIN": checktest.Pass, "CERT-SIGNATURE": checktest.Fail(record.SeverityHigh), "CERT-LIFETIME": checktest.Pass,
			"CERT-SAN": checktest.Pass, "CERT-EXPIRY": checktest.Pass, "CERT-KEY": checktest.Pass}},
		{"trust pool only", nil, checktest.Verdicts{"CERT-CHAIN": checktest.Errored, "CERT-SIGNATURE": checktest.Fail(record.SeverityHigh), "CERT-LIFETIME": checktest.Pass,
			"CERT-SAN": checktest.Pass, "CERT-EXPIRY": checktest.Pass, "CERT-KEY": checktest.Pass}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			results := evaluatePeers(t, check.Targets{Broker: check.Broker{TLS: addr, ServerName: checktest.BrokerName, Trust: p.Pool, Anchors: tc.anchors}}, "broker-cert", "cert-policy")
			checktest.AssertVerdicts(t, results, tc.want)
			got := checktest.ByControl(t, results)
			var findings []string
			for _, r := range results {
				if r.Status == record.StatusFail {
					findings = append(findings, r.Control)
				}
			}
			if len(findings) != 1 || findings[0] != "CERT-SIGNATURE" {
				t.Errorf("findings %v, want only %s", findings, "CERT-SIGNATURE")
			}
			if tc.anchors != nil && got["CERT-CHAIN"].Observed["verified_by"] != "signature" {
				t.Errorf("CERT-CHAIN observed %v, want verified_by signature", got["CERT-CHAIN"].Observed)
			}
		})
	}
}

// TestLegacyOnlyCertificate: a server crypto/tls cannot handshake with (TLS 1.0 with a Camellia
// suite only) still shows its certificate to the certificate controls, through the clear-text
// Certificate message of a hand-built hello.
func TestLegacyOnlyCertificate(t *testing.T) {
	p := checktest.NewOpenSSLPKI(t)
	addr := checktest.StartSServer(t, p, "rsa1024", "-tls1", "-cipher", "CAMELLIA128-SHA:@SECLEVEL=0")
	if h := tlsprobe.Handshake(context.Background(), addr, checktest.BrokerName, tls.VersionTLS10, tls.VersionTLS13, time.Second); len(h.Certs) > 0 {
		t.Fatalf("crypto/tls got the certificate (%s): the case no longer exercises the fallback", h.Answer)
	}
	results := evaluatePeers(t, check.Targets{Broker: check.Broker{TLS: addr, ServerName: checktest.BrokerName, Trust: p.Pool}}, "broker-cert", "cert-policy")
	checktest.AssertVerdicts(t, results, checktest.Verdicts{
		"CERT-CHAIN": checktest.Pass, "CERT-SAN": checktest.Pass, "CERT-EXPIRY": checktest.Pass, "CERT-KEY": checktest.Fail(record.SeverityHigh),
		"CERT-SIGNATURE": checktest.Pass, "CERT-LIFETIME": checktest.Pass,
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
	s := mqtt.New(&mqtt.Options{Logger: checktest.QuietLogger()})
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
	probe := check.Identity{Name: "probe-a", ClientID: "probe-a", Username: "probe-a", Topic: "rig/devices/probe-a/telemetry"}
	t.Run("not opted in", func(t *testing.T) {
		results := evaluateWith(t, check.Targets{Broker: check.Broker{Plain: startRateBroker(t)}, Probes: []check.Identity{probe}}, false, "guardrails-depth")
		if r := checktest.ByControl(t, results)["GUARD-RATE"]; r.Status != record.StatusSkip {
			t.Errorf("%s without intrusive: %s (%s), want skip", "GUARD-RATE", r.Status, r.Reason)
		}
	})
	t.Run("mochi with a rate hook", func(t *testing.T) {
		results := evaluateWith(t, check.Targets{Broker: check.Broker{Plain: startRateBroker(t)}, Probes: []check.Identity{probe}}, true, "guardrails-depth")
		r := checktest.ByControl(t, results)["GUARD-RATE"]
		if r.Status != record.StatusPass {
			t.Errorf("%s: %s (%s), want pass", "GUARD-RATE", r.Status, r.Reason)
		}
	})
	t.Run("mosquitto", func(t *testing.T) {
		p := checktest.NewOpenSSLPKI(t)
		m := checktest.StartMosquitto(t, p, "exposed")
		results := evaluateWith(t, check.Targets{Broker: check.Broker{Plain: m.Plain}, Probes: []check.Identity{probe}}, true, "guardrails-depth")
		r := checktest.ByControl(t, results)["GUARD-RATE"]
		if r.Status != record.StatusFail || r.Severity != record.SeverityMedium {
			t.Errorf("%s: %s %s (%s), want fail medium (mosquitto has no per-client rate)", "GUARD-RATE", r.Status, r.Severity, r.Reason)
		}
	})
}
