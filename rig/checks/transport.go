package checks

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/pathrig/rig/rig/record"
)

const (
	ctlPlaintext = "TRANSPORT-PLAINTEXT"
	ctlTLSLegacy = "TRANSPORT-TLS-LEGACY"
)

func transportCheck() Check {
	return Check{
		ID:       "transport",
		Title:    "Broker transport posture",
		Controls: []string{ctlPlaintext, ctlTLSLegacy},
		Run: func(ctx context.Context, env *Env) map[string]Outcome {
			return map[string]Outcome{
				ctlPlaintext: probePlaintext(ctx, env),
				ctlTLSLegacy: probeTLSVersions(ctx, env),
			}
		},
	}
}

// probePlaintext sends one anonymous CONNECT to the plaintext endpoint. Any CONNACK, accepted or
// not, proves an MQTT listener reachable without TLS.
func probePlaintext(ctx context.Context, env *Env) Outcome {
	addr := env.Targets.Broker.Plain
	if addr == "" {
		return skip("no plaintext MQTT endpoint named in the targets (broker plain); nothing to probe")
	}
	timeout := env.Limits.ProbeTimeout
	ev := newEvidence(env, ctlPlaintext)
	x := exchangeConnect(ctx, addr, nil, timeout)
	env.Log.Debug("anonymous CONNECT", "control", ctlPlaintext, "endpoint", addr, "answer", x.Answer, "error", x.Error)
	ev.json("connect.json", x)
	obs := map[string]any{"answer": x.Answer}
	switch x.Answer {
	case answerConnack:
		obs["connack_return_code"] = int(*x.ReturnCode)
		obs["connack_meaning"] = x.Meaning
		return ev.outcome(record.StatusFail, obs, "plaintext MQTT listener answered CONNECT with CONNACK return code %d (%s): credentials and telemetry can cross the network in clear text", *x.ReturnCode, x.Meaning)
	case answerRefusedTCP, answerNoTCP:
		// Nothing answering proves no listener only while the broker host is shown to be up:
		// a broker that is down refuses every port.
		if alive, why := brokerAlive(ctx, env); !alive {
			return ev.outcome(record.StatusError, obs, "the plaintext endpoint did not answer (%s), but the broker could not be shown to be up either (%s): cannot tell a closed listener from a broker that is down", x.Answer, why)
		}
		if x.Answer == answerNoTCP {
			return ev.outcome(record.StatusPass, obs, "nothing answered a TCP connect to the plaintext endpoint within %s while the broker's TLS endpoint is up: no reachable plaintext MQTT listener", timeout)
		}
		return ev.outcome(record.StatusPass, obs, "the plaintext endpoint refuses TCP connections while the broker's TLS endpoint is up: no plaintext MQTT listener")
	case answerTLSAlert, answerNotMQTT:
		return ev.outcome(record.StatusPass, obs, "the plaintext endpoint accepts TCP but answered CONNECT with something other than MQTT (%s): not a plaintext MQTT listener", x.Answer)
	case answerClosed:
		// A TLS listener closes on a plaintext CONNECT; so may a plaintext broker that drops
		// anonymous clients. A TLS handshake on the same port tells them apart.
		h := tlsHandshake(ctx, addr, env.Targets.Broker.ServerName, tls.VersionTLS10, tls.VersionTLS13, timeout)
		ev.json("tls-on-plaintext-endpoint.json", h)
		if h.Accepted || h.Answer == answerTLSAlert {
			obs["speaks_tls"] = true
			return ev.outcome(record.StatusPass, obs, "the endpoint closed the plaintext CONNECT and answers a TLS handshake: a TLS listener, not plaintext MQTT")
		}
		return ev.outcome(record.StatusError, obs, "the plaintext endpoint accepts TCP but closed the connection without a CONNACK and does not speak TLS: a plaintext MQTT listener that drops anonymous clients looks the same, so this cannot be decided without sending credentials in clear text")
	case answerSilent:
		return ev.outcome(record.StatusError, obs, "the plaintext endpoint accepts TCP but sent nothing within %s: cannot tell whether it speaks MQTT (raise the probe timeout if the broker is slow)", timeout)
	case answerMalformed:
		return ev.outcome(record.StatusError, obs, "the plaintext endpoint answered with a malformed CONNACK (%s): cannot tell whether it is an MQTT listener", x.Error)
	}
	return ev.outcome(record.StatusError, obs, "could not probe plaintext endpoint %s: %s (check the address in the targets)", addr, x.Error)
}

// tlsVersions are probed one at a time, oldest first. SSL 3.0 is out of reach of crypto/tls and is
// not probed.
var tlsVersions = []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13}

func isLegacy(v uint16) bool { return v < tls.VersionTLS12 }

// probeTLSVersions offers each TLS version alone and records whether the server negotiates it.
func probeTLSVersions(ctx context.Context, env *Env) Outcome {
	addr := env.Targets.Broker.TLS
	if addr == "" {
		return skip("no MQTT TLS endpoint named in the targets (broker tls); nothing to probe")
	}
	timeout := env.Limits.ProbeTimeout
	ev := newEvidence(env, ctlTLSLegacy)
	var probes []handshake
	versions := map[string]any{}
	alerts := map[string]any{}
	var legacy, modern, unsure []string
	for _, v := range tlsVersions {
		h := tlsHandshake(ctx, addr, env.Targets.Broker.ServerName, v, v, timeout)
		probes = append(probes, h)
		name := tls.VersionName(v)
		env.Log.Debug("TLS version probe", "control", ctlTLSLegacy, "endpoint", addr, "version", name, "accepted", h.Accepted, "answer", h.Answer, "alert", h.Alert)
		switch {
		case h.Accepted:
			versions[name] = "accepted"
			if isLegacy(v) {
				legacy = append(legacy, name)
			} else {
				modern = append(modern, name)
			}
		case versionRefused(h):
			versions[name] = "refused"
			if h.Alert != "" {
				alerts[name] = h.Alert
			}
		case h.Answer == answerTLSAlert || h.Answer == answerClosed || h.Answer == answerTLSFailed:
			// A handshake_failure alert or a closed connection may only mean the server shares no
			// cipher suite with what Go can offer (e.g. DHE-only TLS 1.0): not proof the version
			// is refused.
			versions[name] = "unknown"
			if h.Alert != "" {
				alerts[name] = h.Alert
			}
			unsure = append(unsure, fmt.Sprintf("%s: %s (not a protocol_version refusal; the server may accept %s with suites this probe cannot offer)", name, firstNonEmpty(h.Alert, h.Error, h.Answer), name))
		case h.Answer == answerRefusedTCP || h.Answer == answerNoTCP || h.Answer == answerUnreachable || h.Answer == answerInterrupted:
			// The endpoint is gone, not the version: further versions would say the same.
			ev.json("versions.json", probes)
			return ev.outcome(record.StatusError, map[string]any{"answer": h.Answer}, "could not reach the TLS endpoint %s: %s (check the address in the targets and that the broker runs)", addr, h.Error)
		default:
			versions[name] = "unknown"
			unsure = append(unsure, fmt.Sprintf("%s: %s", name, h.Error))
		}
	}
	ev.json("versions.json", probes)
	obs := map[string]any{"versions": versions, "legacy_accepted": strSlice(legacy)}
	if len(alerts) > 0 {
		obs["alerts"] = alerts
	}
	switch {
	case len(legacy) > 0:
		return ev.outcome(record.StatusFail, obs, "the TLS endpoint accepts %s: deprecated protocol versions (RFC 8996)", strings.Join(legacy, " and "))
	case len(unsure) > 0:
		return ev.outcome(record.StatusError, obs, "could not tell whether the TLS endpoint accepts some versions (%s)", strings.Join(unsure, "; "))
	case len(modern) == 0:
		return ev.outcome(record.StatusError, obs, "no TLS version from 1.0 to 1.3 handshakes with %s: the endpoint is not usable over TLS (is it a TLS listener?)", addr)
	}
	return ev.outcome(record.StatusPass, obs, "TLS 1.0 and 1.1 refused; %s accepted", strings.Join(modern, " and "))
}

// strSlice keeps an empty list an empty JSON array rather than null.
func strSlice(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Remote alerts reach us only as text (crypto/tls keeps its alert type unexported for TCP), so the
// refusal is recognised by Go's fixed alert wording; the hand-built ClientHello probe reads the code.
//
// versionRefused reports whether a failed handshake was a refusal of the offered version itself:
// a protocol_version alert, or a ServerHello choosing a version we did not offer.
func versionRefused(h handshake) bool {
	if h.Accepted {
		return false
	}
	return strings.Contains(h.Alert, "protocol version") ||
		strings.Contains(h.Error, "protocol version not supported") ||
		strings.Contains(h.Error, "unsupported protocol version") ||
		strings.Contains(h.Error, "server selected unsupported")
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// brokerAlive shows that the broker host is up by completing a TCP connect to its TLS endpoint.
// With no TLS endpoint named there is nothing to compare with, and a refused plaintext port is
// taken at face value (the reason says so).
func brokerAlive(ctx context.Context, env *Env) (bool, string) {
	addr := env.Targets.Broker.TLS
	if addr == "" {
		return true, "no TLS endpoint named to compare with"
	}
	conn, answer, err := dial(ctx, addr, env.Limits.ProbeTimeout)
	if err != nil {
		return false, fmt.Sprintf("TLS endpoint %s: %s", answer, err)
	}
	_ = conn.Close()
	return true, "TLS endpoint accepts TCP"
}
