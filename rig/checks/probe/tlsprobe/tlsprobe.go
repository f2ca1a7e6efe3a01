// Package tlsprobe runs TLS handshakes with crypto/tls against a broker under audit and records
// them for the evidence. Versions and suites crypto/tls cannot offer are tlsscan's.
package tlsprobe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"time"

	"github.com/pathrig/rig/rig/checks/probe"
)

// AllCipherSuites is every suite crypto/tls implements, insecure ones included: a version probe
// must not see a legacy-only server refuse it for want of a suite it would have accepted from an
// old client.
var AllCipherSuites = func() []uint16 {
	var ids []uint16
	for _, s := range tls.CipherSuites() {
		ids = append(ids, s.ID)
	}
	for _, s := range tls.InsecureCipherSuites() {
		ids = append(ids, s.ID)
	}
	return ids
}()

// Config is the client side of every broker TLS probe. InsecureSkipVerify is deliberate:
// these probes ask which versions the server speaks, what it presents, or what it lets a client do
// once connected; whether its identity is right is judged, with x509.Verify against the
// deployment's trust anchor, by the CERT-* controls. The broker certificate seen is captured by
// VerifyConnection as soon as the server sends it, before a client-certificate refusal can end the
// handshake.
func Config(addr, serverName string, minV, maxV uint16, seen *tls.ConnectionState) *tls.Config {
	return &tls.Config{
		ServerName:         SNIName(addr, serverName),
		InsecureSkipVerify: true,
		MinVersion:         minV,
		MaxVersion:         maxV,
		CipherSuites:       AllCipherSuites,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if seen != nil {
				*seen = cs
			}
			return nil
		},
	}
}

// SNIName is the SNI a device would send: the named server name, else the host of addr when it
// is a name (SNI cannot carry an IP address).
func SNIName(addr, serverName string) string {
	if serverName != "" {
		return serverName
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || net.ParseIP(host) != nil {
		return ""
	}
	return host
}

// Result is one TLS handshake attempt as written to the evidence.
type Result struct {
	Endpoint   string    `json:"endpoint"`
	ServerName string    `json:"server_name,omitempty"`
	Offered    string    `json:"offered"`
	Started    time.Time `json:"started"`
	DurationMs float64   `json:"duration_ms"`
	// Accepted: the server answered with its certificate under the offered version. A server that
	// then refuses the client for want of a client certificate has still accepted the version.
	Accepted   bool   `json:"accepted"`
	Answer     string `json:"answer"` // handshake-complete, certificate-then-refused, or a probe.Answer* kind
	Negotiated string `json:"negotiated,omitempty"`
	Cipher     string `json:"cipher_suite,omitempty"`
	Alert      string `json:"tls_alert,omitempty"`
	Error      string `json:"error,omitempty"`

	// Certs are the certificates the server presented (also when it then refused the client).
	Certs []*x509.Certificate `json:"-"`
}

// Handshake dials addr and runs one client handshake offering versions minV..maxV.
func Handshake(ctx context.Context, addr, serverName string, minV, maxV uint16, timeout time.Duration) (h Result) {
	h = Result{Endpoint: addr, ServerName: SNIName(addr, serverName), Offered: versionRange(minV, maxV), Started: time.Now().UTC()}
	defer func() { h.DurationMs = probe.MsSince(h.Started) }()
	ctx, cancel := probe.Context(ctx, timeout)
	defer cancel()

	conn, answer, err := probe.Dial(ctx, addr, timeout)
	if err != nil {
		h.Answer, h.Error = answer, err.Error()
		return h
	}
	defer conn.Close()
	var seen tls.ConnectionState
	tc := tls.Client(conn, Config(addr, serverName, minV, maxV, &seen))
	err = tc.HandshakeContext(ctx)
	if seen.Version != 0 {
		h.Accepted = true
		h.Negotiated = tls.VersionName(seen.Version)
		h.Certs = seen.PeerCertificates
	}
	if err != nil {
		h.Answer, h.Alert, h.Error = probe.ClassifyIOError(ctx, err, probe.AnswerTLSFailed)
		if h.Accepted {
			h.Answer = "certificate-then-refused"
		}
		return h
	}
	cs := tc.ConnectionState()
	h.Answer, h.Cipher = "handshake-complete", tls.CipherSuiteName(cs.CipherSuite)
	_ = tc.Close()
	return h
}

func versionRange(minV, maxV uint16) string {
	if minV == maxV {
		return tls.VersionName(minV)
	}
	return tls.VersionName(minV) + " to " + tls.VersionName(maxV)
}
