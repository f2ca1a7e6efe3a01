package transport

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/checktest"
	"github.com/pathrig/rig/rig/record"
)

// TestKeyExchangeStrength: TRANSPORT-CIPHERS judges the key exchange of every accepted suite as
// testssl.sh and Mozilla's intermediate configuration do: a DH group below 2048 bits, an ECDH
// curve below 256 bits and a static RSA key exchange fail, whatever the cipher. The servers are
// openssl s_server with an RSA certificate, TLS 1.3 off so that the suites under test are all
// there is; the DH groups are in testdata (dh1024.pem from `openssl dhparam 1024`, ffdhe2048.pem
// from `openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048`).
func TestKeyExchangeStrength(t *testing.T) {
	p := checktest.NewOpenSSLPKI(t)
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	dhe := "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:@SECLEVEL=0"
	tests := []struct {
		name   string
		flags  []string
		want   checktest.Want
		reason string // the failure names the key exchange
	}{
		{"DHE with a 1024-bit group", []string{"-dhparam", filepath.Join(testdata, "dh1024.pem"), "-cipher", dhe}, checktest.Fail(record.SeverityHigh), "DH 1024 bits"},
		{"DHE with ffdhe2048", []string{"-dhparam", filepath.Join(testdata, "ffdhe2048.pem"), "-cipher", dhe}, checktest.Pass, ""},
		{"static RSA key exchange", []string{"-cipher", "AES128-GCM-SHA256:AES256-GCM-SHA384:@SECLEVEL=0"}, checktest.Fail(record.SeverityMedium), "static RSA key exchange"},
		{"ECDHE on P-224", []string{"-groups", "P-224", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0"}, checktest.Fail(record.SeverityHigh), "ECDH secp224r1 (224 bits)"},
		{"ECDHE on X25519", []string{"-groups", "X25519", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"}, checktest.Pass, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := checktest.StartSServer(t, p, "rsa2048", append([]string{"-no_tls1_3", "-no_ssl3", "-no_tls1", "-no_tls1_1"}, tc.flags...)...)
			// TRANSPORT-CIPHERS alone: the other tls-depth controls would wait out their timeouts on
			// a peer that does not speak MQTT.
			env, _ := checktest.NewEnv(t, check.Targets{Broker: check.Broker{TLS: addr, ServerName: checktest.BrokerName}}, nil)
			env.Limits = env.Limits.WithDefaults()
			r := probeCiphers(context.Background(), env) // a failure carries its effective severity
			t.Logf("%s %s: %s", r.Status, r.Severity, r.Reason)
			if r.Status != tc.want.Status || (tc.want.Severity != "" && r.Severity != tc.want.Severity) {
				t.Errorf("%s: got %s %s (%s), want %s %s", ctlCiphers, r.Status, r.Severity, r.Reason, tc.want.Status, tc.want.Severity)
			}
			if !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("%s: reason %q does not name %q", ctlCiphers, r.Reason, tc.reason)
			}
		})
	}
}
