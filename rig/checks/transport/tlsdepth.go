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
	ctlCiphers    = "TRANSPORT-CIPHERS"
	ctlTLSMQTT    = "TRANSPORT-TLS-MQTT"
	ctlClientAuth = "TRANSPORT-CLIENT-AUTH"
)

// tlsDepthCheck looks past the protocol versions: which suites, whether MQTT is behind the
// handshake, whether a client certificate is required. It is its own check, outside the
// audit-baseline bundle, so that the reference stack's demo story stays about the controls its
// profiles set.
func tlsDepthCheck() check.Check {
	return check.Check{
		ID:       "tls-depth",
		Title:    "Broker TLS depth",
		Controls: []string{ctlCiphers, ctlTLSMQTT, ctlClientAuth},
		// The key-exchange floors are those of testssl.sh and Mozilla's intermediate configuration.
		Thresholds: map[string][]string{ctlCiphers: {check.ThMaxProbes, check.ThMinDHBits, check.ThMinECDHBits, check.ThExportGradeDHBits}},
		Run: func(ctx context.Context, env *check.Env) map[string]check.Outcome {
			return map[string]check.Outcome{
				ctlCiphers:    check.Probe(env, ctlCiphers, func() check.Outcome { return probeCiphers(ctx, env) }),
				ctlTLSMQTT:    check.Probe(env, ctlTLSMQTT, func() check.Outcome { return probeTLSMQTT(ctx, env) }),
				ctlClientAuth: check.Probe(env, ctlClientAuth, func() check.Outcome { return probeClientAuth(ctx, env) }),
			}
		},
	}
}

// suiteFinding is one weakness of one accepted suite in the observed values.
type suiteFinding struct {
	Version     string `json:"version"`
	Suite       string `json:"suite"`
	Weakness    string `json:"weakness"`
	KeyExchange string `json:"key_exchange,omitempty"` // what the server used, e.g. "DH 1024 bits"
}

// Key-exchange weaknesses, judged from what the server used for an accepted suite.
const (
	kexExportGrade = "export-grade-key-exchange" // DH group below export_grade_dh_bits
	kexWeakDH      = "weak-dh-group"             // DH group below min_dh_bits
	kexWeakECDH    = "weak-ecdh-curve"           // ECDH curve below min_ecdh_bits
	kexStatic      = "static-key-exchange"       // RSA, DH or ECDH key exchange with the certificate's key: no forward secrecy
)

func weaknessSeverity(w string) record.Severity {
	switch w {
	case tlsscan.WeakNull, tlsscan.WeakExport, tlsscan.WeakAnon, kexExportGrade:
		return record.SeverityCritical
	case tlsscan.WeakRC4, tlsscan.WeakDES, tlsscan.WeakOther, kexWeakDH, kexWeakECDH:
		return record.SeverityHigh
	case tlsscan.Weak3DES, kexStatic:
		return record.SeverityMedium
	}
	return ""
}

// kexWeakness judges the key exchange of an accepted suite: its class and what the reason says
// of it, "" when it is strong enough. unseen is set when the suite's key exchange is ephemeral
// but the server's parameters were not seen: its strength cannot be judged.
func kexWeakness(s tlsscan.AcceptedSuite, f kexFloor) (class, detail string, unseen bool) {
	if !s.TLS13 && !s.ForwardSecret {
		switch s.Weakness {
		case tlsscan.WeakAnon, tlsscan.WeakExport:
			return "", "", false // already the graver finding
		}
		// RSA, DH_RSA, DH_DSS, ECDH_RSA, ECDH_ECDSA: the key exchange is the part before "_".
		kind, _, _ := strings.Cut(s.Kex, "_")
		return kexStatic, "static " + kind + " key exchange, no forward secrecy", false
	}
	k := s.KeyExchange
	if k == nil || k.Bits == 0 {
		return "", "", true
	}
	switch {
	case k.Kind == tlsscan.KexDH && k.Bits < f.exportDH:
		return kexExportGrade, fmt.Sprintf("%s, below %d", k, f.dh), false
	case k.Kind == tlsscan.KexDH && k.Bits < f.dh:
		return kexWeakDH, fmt.Sprintf("%s, below %d", k, f.dh), false
	case k.Kind == tlsscan.KexECDH && k.Bits < f.ecdh:
		return kexWeakECDH, fmt.Sprintf("%s, below %d", k, f.ecdh), false
	}
	return "", "", false
}

// kexFloor is what TRANSPORT-CIPHERS accepts of an ephemeral key exchange, in bits.
type kexFloor struct{ dh, ecdh, exportDH int }

func kexFloorOf(env *check.Env) kexFloor {
	return kexFloor{dh: env.Threshold(ctlCiphers, check.ThMinDHBits), ecdh: env.Threshold(ctlCiphers, check.ThMinECDHBits), exportDH: env.Threshold(ctlCiphers, check.ThExportGradeDHBits)}
}

// probeCiphers finds the accepted versions, then enumerates the suites of each.
func probeCiphers(ctx context.Context, env *check.Env) check.Outcome {
	addr := env.Targets.Broker.TLS
	if addr == "" {
		return check.Skip("no MQTT TLS endpoint named in the targets (broker tls); nothing to probe")
	}
	ev := check.NewEvidence(env, ctlCiphers)
	sc := newScanner(env, ctlCiphers, addr)
	floor := kexFloorOf(env)
	vres, err := sc.Versions(ctx, tlsscan.Versions)
	if err != nil {
		ev.JSON("versions.json", vres)
		return ev.Outcome(record.StatusError, nil, "could not scan the protocol versions of %s: %v (check the address in the targets and that the broker runs)", addr, err)
	}
	var all []tlsscan.SuiteResult
	var weak []suiteFinding
	var incomplete, unseen []string
	kexSeen := map[string][]string{} // version -> the key exchanges the server used
	fsAEAD := 0
	accepted := map[string]any{}
	worst := record.Severity("")
	for _, v := range vres {
		if !v.Accepted {
			continue
		}
		res, err := sc.Suites(ctx, v.Version)
		all = append(all, res)
		env.Log.Debug("suite enumeration", "control", ctlCiphers, "endpoint", addr, "version", v.Name, "accepted", len(res.Accepted), "probes", res.Probes, "complete", res.Complete)
		if err != nil || !res.Complete {
			incomplete = append(incomplete, fmt.Sprintf("%s: %s", v.Name, res.Stopped))
		}
		names := make([]string, 0, len(res.Accepted))
		for _, s := range res.Accepted {
			names = append(names, s.Name)
			kexClass, kexDetail, notSeen := kexWeakness(s, floor)
			if notSeen {
				unseen = append(unseen, fmt.Sprintf("%s under %s", s.Name, v.Name))
			}
			if s.ForwardSecret && s.AEAD && s.Weakness == "" && kexClass == "" && !notSeen {
				fsAEAD++
			}
			seen := ""
			if s.KeyExchange != nil {
				seen = s.KeyExchange.String()
				if !slices.Contains(kexSeen[v.Name], seen) {
					kexSeen[v.Name] = append(kexSeen[v.Name], seen)
				}
			}
			if sev := weaknessSeverity(s.Weakness); sev != "" {
				weak = append(weak, suiteFinding{Version: v.Name, Suite: s.Name, Weakness: s.Weakness, KeyExchange: seen})
				worst = check.Worse(worst, sev)
			}
			if kexClass != "" {
				weak = append(weak, suiteFinding{Version: v.Name, Suite: s.Name, Weakness: kexClass, KeyExchange: kexDetail})
				worst = check.Worse(worst, weaknessSeverity(kexClass))
			}
		}
		slices.Sort(names)
		accepted[v.Name] = names
	}
	ev.JSON("suites.json", all)
	keyExchanges := map[string]any{}
	suiteFacts, kexFacts := []string{}, []string{}
	for v, ks := range kexSeen {
		slices.Sort(ks)
		keyExchanges[v] = ks
		for _, k := range ks {
			kexFacts = append(kexFacts, v+" "+k)
		}
	}
	for v, names := range accepted {
		for _, n := range names.([]string) {
			suiteFacts = append(suiteFacts, v+" "+n)
		}
	}
	ev.Fact("tls.suites", suiteFacts)
	ev.Fact("tls.key_exchange", kexFacts)
	obs := map[string]any{"accepted": accepted, "forward_secret_aead": fsAEAD, "key_exchange": keyExchanges}
	weakObs := make([]any, 0, len(weak))
	for _, w := range weak {
		o := map[string]any{"version": w.Version, "suite": w.Suite, "weakness": w.Weakness}
		if w.KeyExchange != "" {
			o["key_exchange"] = w.KeyExchange
		}
		weakObs = append(weakObs, o)
	}
	obs["weak"] = weakObs
	switch {
	case len(accepted) == 0:
		return ev.Outcome(record.StatusError, obs, "no protocol version handshakes with %s: no suite to judge (is it a TLS listener?)", addr)
	case len(weak) > 0:
		var lines []string
		for _, w := range weak {
			what := w.Weakness
			if w.Weakness == kexStatic || w.Weakness == kexWeakDH || w.Weakness == kexWeakECDH || w.Weakness == kexExportGrade {
				what = w.KeyExchange
			}
			lines = append(lines, fmt.Sprintf("%s under %s (%s)", w.Suite, w.Version, what))
		}
		o := ev.Outcome(record.StatusFail, obs, "the TLS endpoint accepts weak cipher suites: %s", strings.Join(lines, "; "))
		o.Severity = worst
		return o
	case len(incomplete) > 0:
		return ev.Outcome(record.StatusError, obs, "the suite enumeration did not complete (%s): a weak suite may have gone unseen", strings.Join(incomplete, "; "))
	case len(unseen) > 0:
		return ev.Outcome(record.StatusError, obs, "the server's key-exchange parameters were not seen for %s: the strength of their DH group or ECDH curve cannot be judged", strings.Join(unseen, "; "))
	case fsAEAD == 0:
		o := ev.Outcome(record.StatusFail, obs, "the TLS endpoint accepts no forward-secret AEAD suite: every session is CBC-mode or without forward secrecy")
		o.Severity = record.SeverityMedium
		return o
	}
	return ev.Outcome(record.StatusPass, obs, "no weak suite or key exchange accepted; %d forward-secret AEAD suite(s) accepted", fsAEAD)
}

// clientCertIdentity is the first probe identity with a client certificate, if any.
func clientCertIdentity(env *check.Env) *check.Identity {
	for i := range env.Targets.Probes {
		if env.Targets.Probes[i].Cert != nil {
			return &env.Targets.Probes[i]
		}
	}
	return nil
}

// probeTLSMQTT completes a handshake, with a probe identity's client certificate when one is
// named, and sends an MQTT CONNECT inside the session.
func probeTLSMQTT(ctx context.Context, env *check.Env) check.Outcome {
	b := env.Targets.Broker
	if b.TLS == "" {
		return check.Skip("no MQTT TLS endpoint named in the targets (broker tls); nothing to probe")
	}
	ev := check.NewEvidence(env, ctlTLSMQTT)
	conf := tlsprobe.Config(b.TLS, b.ServerName, tls.VersionTLS10, tls.VersionTLS13, nil)
	id := clientCertIdentity(env)
	clientID := ""
	if id != nil {
		conf.Certificates = []tls.Certificate{*id.Cert}
		clientID = id.ClientID
	}
	x := mqttprobe.ConnectAs(ctx, b.TLS, conf, env.Limits.ProbeTimeout, clientID)
	ev.JSON("connect.json", x)
	obs := map[string]any{"answer": x.Answer, "stage": x.Stage, "client_certificate": id != nil}
	ev.Fact("mqtt.tls.answer", x.Answer)
	if x.ReturnCode != nil {
		ev.Fact("mqtt.tls.connack", int(*x.ReturnCode))
	}
	// A refusal of the client (an alert, or the close that raced it after a certificate request)
	// says nothing about what listens behind the handshake.
	refusal := ""
	switch {
	case x.Answer == probe.AnswerTLSAlert:
		refusal = fmt.Sprintf("alert %q", x.Alert)
	case x.RefusedAfterCertRequest():
		refusal = fmt.Sprintf("a close without CONNACK at %s right after it requested a client certificate", x.Stage)
	}
	switch {
	case x.Answer == probe.AnswerConnack:
		obs["connack_return_code"] = int(*x.ReturnCode)
		return ev.Outcome(record.StatusPass, obs, "the TLS endpoint answered CONNECT with CONNACK %d (%s) over %s", *x.ReturnCode, x.Meaning, x.TLSVersion)
	case x.Stage == "dial" || x.Answer == probe.AnswerInterrupted:
		return ev.Outcome(record.StatusError, obs, "could not reach the TLS endpoint %s: %s (check the address in the targets)", b.TLS, x.Error)
	case refusal != "" && id == nil:
		return check.Skip("the TLS endpoint refused the session (%s) and no probe identity with a client certificate is named in the targets (probes[].cert): cannot reach the MQTT layer", refusal)
	case refusal != "":
		return ev.Outcome(record.StatusError, obs, "the TLS endpoint refused the session (%s) although probe identity %q offered its certificate (sent: %v; check the identity's certificate and its CA)", refusal, id.Name, x.CertSent)
	case x.Stage == "tls-handshake":
		return ev.Outcome(record.StatusError, obs, "the TLS handshake with %s failed (%s: %s): cannot reach the MQTT layer", b.TLS, x.Answer, x.Error)
	case x.Answer == probe.AnswerNotMQTT || x.Answer == probe.AnswerMalformed:
		return ev.Outcome(record.StatusFail, obs, "after the TLS handshake the endpoint answered CONNECT with bytes that are not a CONNACK (%s): not an MQTT listener", x.ReceivedHex)
	case x.Answer == probe.AnswerSilent:
		return ev.Outcome(record.StatusFail, obs, "after the TLS handshake the endpoint sent nothing within %s in answer to CONNECT: not an MQTT listener (raise the probe timeout if the broker is slow)", env.Limits.ProbeTimeout)
	case x.Answer == probe.AnswerClosed:
		return ev.Outcome(record.StatusFail, obs, "after the TLS handshake the endpoint closed the connection on CONNECT without a CONNACK: not an MQTT listener")
	}
	return ev.Outcome(record.StatusError, obs, "could not tell whether the TLS endpoint speaks MQTT: %s at %s: %s", x.Answer, x.Stage, x.Error)
}

// Client-authentication postures.
const (
	postureNone     = "none"
	postureOptional = "optional"
	postureRequired = "required"
)

// probeClientAuth handshakes without a client certificate, noting whether one is requested, and
// sends a CONNECT to see whether the server goes on without it (TLS 1.3 servers refuse only after
// the client's Finished, at the first read).
func probeClientAuth(ctx context.Context, env *check.Env) check.Outcome {
	b := env.Targets.Broker
	if b.TLS == "" {
		return check.Skip("no MQTT TLS endpoint named in the targets (broker tls); nothing to probe")
	}
	ev := check.NewEvidence(env, ctlClientAuth)
	conf := tlsprobe.Config(b.TLS, b.ServerName, tls.VersionTLS10, tls.VersionTLS13, nil)
	var acceptable []string
	conf.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		for _, n := range cri.AcceptableCAs {
			acceptable = append(acceptable, fmt.Sprintf("%x", n))
		}
		return &tls.Certificate{}, nil // none: that is the probe
	}
	x := mqttprobe.Connect(ctx, b.TLS, conf, env.Limits.ProbeTimeout)
	requested := x.CertRequested
	obs := map[string]any{"requested": requested, "answer": x.Answer}
	ev.JSON("client-auth.json", map[string]any{"certificate_requested": requested, "acceptable_ca_names": len(acceptable), "exchange": x})
	refusedByAlert := x.Answer == probe.AnswerTLSAlert || x.RefusedAfterCertRequest()
	switch {
	case x.Stage == "dial" || x.Answer == probe.AnswerInterrupted:
		return ev.Outcome(record.StatusError, obs, "could not reach the TLS endpoint %s: %s (check the address in the targets)", b.TLS, x.Error)
	case x.Stage == "tls-handshake" && !refusedByAlert:
		return ev.Outcome(record.StatusError, obs, "the TLS handshake with %s failed (%s: %s): client authentication could not be judged", b.TLS, x.Answer, x.Error)
	case requested && refusedByAlert:
		obs["posture"] = postureRequired
		ev.Fact("tls.client_auth", postureRequired)
		refusal := fmt.Sprintf("alert %q at %s", x.Alert, x.Stage)
		if x.Alert == "" {
			refusal = "connection closed at " + x.Stage + " without a CONNACK"
		}
		return ev.Outcome(record.StatusPass, obs, "the endpoint requests a client certificate and refuses a client without one (%s)", refusal)
	case refusedByAlert:
		return ev.Outcome(record.StatusError, obs, "the endpoint refused the session with alert %q without requesting a client certificate: client authentication could not be judged", x.Alert)
	case requested:
		obs["posture"] = postureOptional
		ev.Fact("tls.client_auth", postureOptional)
		return ev.Outcome(record.StatusFail, obs, "the endpoint requests a client certificate but goes on without one (%s after CONNECT): client certificates are optional", x.Answer)
	}
	obs["posture"] = postureNone
	ev.Fact("tls.client_auth", postureNone)
	return ev.Outcome(record.StatusFail, obs, "the endpoint never requests a client certificate: any client reaches the MQTT layer (%s after CONNECT)", x.Answer)
}
