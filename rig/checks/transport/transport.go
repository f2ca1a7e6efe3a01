// Package transport holds the broker transport checks: transport (plaintext MQTT reachable, legacy
// TLS versions) and tls-depth (cipher suites and key exchange, MQTT behind the handshake, client
// authentication).
package transport

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"strings"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/probe"
	"github.com/pathrig/rig/rig/checks/probe/mqttprobe"
	"github.com/pathrig/rig/rig/checks/probe/tlsprobe"
	"github.com/pathrig/rig/rig/checks/probe/tlsscan"
	"github.com/pathrig/rig/rig/record"
)

const (
	ctlPlaintext = "TRANSPORT-PLAINTEXT"
	ctlTLSLegacy = "TRANSPORT-TLS-LEGACY"
)

// Checks returns the family's checks in registry order.
func Checks() []check.Check { return []check.Check{transportCheck(), tlsDepthCheck()} }

func transportCheck() check.Check {
	return check.Check{
		ID:         "transport",
		Title:      "Broker transport posture",
		Controls:   []string{ctlPlaintext, ctlTLSLegacy},
		Thresholds: map[string][]string{ctlTLSLegacy: {check.ThMaxProbes}},
		Run: func(ctx context.Context, env *check.Env) map[string]check.Outcome {
			return map[string]check.Outcome{
				ctlPlaintext: check.Probe(env, ctlPlaintext, func() check.Outcome { return probePlaintext(ctx, env) }),
				ctlTLSLegacy: check.Probe(env, ctlTLSLegacy, func() check.Outcome { return probeTLSVersions(ctx, env) }),
			}
		},
	}
}

// probePlaintext sends one anonymous CONNECT to the plaintext endpoint. Any CONNACK, accepted or
// not, proves an MQTT listener reachable without TLS.
func probePlaintext(ctx context.Context, env *check.Env) check.Outcome {
	addr := env.Targets.Broker.Plain
	if addr == "" {
		return check.Skip("no plaintext MQTT endpoint named in the targets (broker plain); nothing to probe")
	}
	timeout := env.Limits.ProbeTimeout
	ev := check.NewEvidence(env, ctlPlaintext)
	x := mqttprobe.Connect(ctx, addr, nil, timeout)
	env.Log.Debug("anonymous CONNECT", "control", ctlPlaintext, "endpoint", addr, "answer", x.Answer, "error", x.Error)
	ev.JSON("connect.json", x)
	obs := map[string]any{"answer": x.Answer}
	ev.Fact("mqtt.plain.answer", x.Answer)
	switch x.Answer {
	case probe.AnswerConnack:
		obs["connack_return_code"] = int(*x.ReturnCode)
		ev.Fact("mqtt.plain.connack", int(*x.ReturnCode))
		obs["connack_meaning"] = x.Meaning
		return ev.Outcome(record.StatusFail, obs, "plaintext MQTT listener answered CONNECT with CONNACK return code %d (%s): credentials and telemetry can cross the network in clear text", *x.ReturnCode, x.Meaning)
	case probe.AnswerRefusedTCP, probe.AnswerNoTCP:
		// Nothing answering proves no listener only while the broker host is shown to be up:
		// a broker that is down refuses every port.
		if alive, why := brokerAlive(ctx, env); !alive {
			return ev.Outcome(record.StatusError, obs, "the plaintext endpoint did not answer (%s), but the broker could not be shown to be up either (%s): cannot tell a closed listener from a broker that is down", x.Answer, why)
		}
		if x.Answer == probe.AnswerNoTCP {
			return ev.Outcome(record.StatusPass, obs, "nothing answered a TCP connect to the plaintext endpoint within %s while the broker's TLS endpoint is up: no reachable plaintext MQTT listener", timeout)
		}
		return ev.Outcome(record.StatusPass, obs, "the plaintext endpoint refuses TCP connections while the broker's TLS endpoint is up: no plaintext MQTT listener")
	case probe.AnswerTLSAlert, probe.AnswerNotMQTT:
		return ev.Outcome(record.StatusPass, obs, "the plaintext endpoint accepts TCP but answered CONNECT with something other than MQTT (%s): not a plaintext MQTT listener", x.Answer)
	case probe.AnswerClosed:
		// A TLS listener closes on a plaintext CONNECT; so may a plaintext broker that drops
		// anonymous clients. A TLS handshake on the same port tells them apart.
		h := tlsprobe.Handshake(ctx, addr, env.Targets.Broker.ServerName, tls.VersionTLS10, tls.VersionTLS13, timeout)
		ev.JSON("tls-on-plaintext-endpoint.json", h)
		if h.Accepted || h.Answer == probe.AnswerTLSAlert {
			obs["speaks_tls"] = true
			return ev.Outcome(record.StatusPass, obs, "the endpoint closed the plaintext CONNECT and answers a TLS handshake: a TLS listener, not plaintext MQTT")
		}
		return ev.Outcome(record.StatusError, obs, "the plaintext endpoint accepts TCP but closed the connection without a CONNACK and does not speak TLS: a plaintext MQTT listener that drops anonymous clients looks the same, so this cannot be decided without sending credentials in clear text")
	case probe.AnswerSilent:
		return ev.Outcome(record.StatusError, obs, "the plaintext endpoint accepts TCP but sent nothing within %s: cannot tell whether it speaks MQTT (raise the probe timeout if the broker is slow)", timeout)
	case probe.AnswerMalformed:
		return ev.Outcome(record.StatusError, obs, "the plaintext endpoint answered with a malformed CONNACK (%s): cannot tell whether it is an MQTT listener", x.Error)
	}
	return ev.Outcome(record.StatusError, obs, "could not probe plaintext endpoint %s: %s (check the address in the targets)", addr, x.Error)
}

// probeTLSVersions offers each protocol version from SSL 3.0 to TLS 1.3 alone, in a hand-built
// ClientHello carrying every suite the scanner knows for it, and records whether the server
// answers with a ServerHello for that version. crypto/tls could not offer SSL 3.0 nor most of
// the suites an old OpenSSL broker would pick.
func probeTLSVersions(ctx context.Context, env *check.Env) check.Outcome {
	addr := env.Targets.Broker.TLS
	if addr == "" {
		return check.Skip("no MQTT TLS endpoint named in the targets (broker tls); nothing to probe")
	}
	ev := check.NewEvidence(env, ctlTLSLegacy)
	sc := newScanner(env, ctlTLSLegacy, addr)
	res, err := sc.Versions(ctx, tlsscan.Versions)
	ev.JSON("versions.json", res)
	versions := map[string]any{}
	alerts := map[string]any{}
	var legacy, modern, unsure []string
	sslv3 := false
	for _, r := range res {
		env.Log.Debug("TLS version probe", "control", ctlTLSLegacy, "endpoint", addr, "version", r.Name, "accepted", r.Accepted, "answer", r.Answer, "alert", r.Alert)
		switch {
		case r.Accepted:
			versions[r.Name] = "accepted"
			if r.Version < tlsscan.VersionTLS12 {
				legacy = append(legacy, r.Name)
				sslv3 = sslv3 || r.Version == tlsscan.VersionSSL30
			} else {
				modern = append(modern, r.Name)
			}
		case r.Answer == tlsscan.ReplyAlert || r.Answer == tlsscan.ReplyClosed || r.Answer == tlsscan.ReplyServerHello || r.Answer == tlsscan.ReplyHelloRetry:
			// A ServerHello for another version than the one offered is a refusal of it too.
			versions[r.Name] = "refused"
			if r.Alert != "" {
				alerts[r.Name] = r.Alert
			}
		default:
			versions[r.Name] = "unknown"
			unsure = append(unsure, fmt.Sprintf("%s: %s %s", r.Name, r.Answer, r.Probe.Error))
		}
	}
	if err != nil {
		return ev.Outcome(record.StatusError, map[string]any{"versions": versions}, "could not complete the version scan of %s: %v (check the address in the targets and that the broker runs)", addr, err)
	}
	obs := map[string]any{"versions": versions, "legacy_accepted": check.StrSlice(legacy)}
	ev.Fact("tls.versions", append(slices.Clone(legacy), modern...))
	if len(alerts) > 0 {
		obs["alerts"] = alerts
	}
	switch {
	case len(legacy) > 0:
		o := ev.Outcome(record.StatusFail, obs, "the TLS endpoint accepts %s: deprecated protocol versions (RFC 7568, RFC 8996)", strings.Join(legacy, " and "))
		// SSL 3.0 is broken (POODLE), the catalog's worst case; TLS 1.0 and 1.1 are deprecated.
		if !sslv3 {
			o.Severity = record.SeverityMedium
		}
		return o
	case len(unsure) > 0:
		return ev.Outcome(record.StatusError, obs, "could not tell whether the TLS endpoint accepts some versions (%s)", strings.Join(unsure, "; "))
	case len(modern) == 0:
		return ev.Outcome(record.StatusError, obs, "no protocol version from SSL 3.0 to TLS 1.3 handshakes with %s: the endpoint is not usable over TLS (is it a TLS listener?)", addr)
	}
	return ev.Outcome(record.StatusPass, obs, "SSL 3.0, TLS 1.0 and 1.1 refused; %s accepted", strings.Join(modern, " and "))
}

// newScanner returns a scanner of addr bounded by the control's max_probes: the hand-built
// hellos one control may send to one endpoint.
func newScanner(env *check.Env, control, addr string) *tlsscan.Scanner {
	return &tlsscan.Scanner{Addr: addr, ServerName: env.Targets.Broker.ServerName, Timeout: env.Limits.ProbeTimeout, MaxProbes: env.Threshold(control, check.ThMaxProbes)}
}

// brokerAlive shows that the broker host is up by completing a TCP connect to its TLS endpoint.
// With no TLS endpoint named there is nothing to compare with, and a refused plaintext port is
// taken at face value (the reason says so).
func brokerAlive(ctx context.Context, env *check.Env) (bool, string) {
	addr := env.Targets.Broker.TLS
	if addr == "" {
		return true, "no TLS endpoint named to compare with"
	}
	conn, answer, err := probe.Dial(ctx, addr, env.Limits.ProbeTimeout)
	if err != nil {
		return false, fmt.Sprintf("TLS endpoint %s: %s", answer, err)
	}
	_ = conn.Close()
	return true, "TLS endpoint accepts TCP"
}
