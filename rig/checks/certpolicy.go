package checks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/pathrig/rig/rig/checks/tlsscan"
	"github.com/pathrig/rig/rig/record"
)

const (
	ctlCertSignature = "CERT-SIGNATURE"
	ctlCertLifetime  = "CERT-LIFETIME"
)

// certPolicyCheck judges the broker certificate against issuance policy: how it is signed and
// for how long. It is apart from broker-cert so that the audit-baseline bundle keeps to what the
// reference stack's profiles vary.
func certPolicyCheck() Check {
	return Check{
		ID:       "cert-policy",
		Title:    "Broker certificate policy",
		Controls: []string{ctlCertSignature, ctlCertLifetime},
		// The lifetime policy: the CA/Browser Forum's limit for server certificates, which devices
		// should not be asked to trust beyond either.
		Thresholds: map[string][]string{ctlCertLifetime: {thMaxLifetimeDays}},
		Run:        runCertPolicy,
	}
}

// fetchChain returns the chain the broker presents: through crypto/tls first, then, for a server
// only a legacy hello reaches (SSL 3.0, or suites crypto/tls does not offer), from the clear-text
// Certificate message of a hand-built hello.
func fetchChain(ctx context.Context, env *Env) handshake {
	b := env.Targets.Broker
	h := tlsHandshake(ctx, b.TLS, b.ServerName, tls.VersionTLS10, tls.VersionTLS13, env.Limits.ProbeTimeout)
	if len(h.certs) > 0 {
		return h
	}
	sc := &tlsscan.Scanner{Addr: b.TLS, ServerName: b.ServerName, Timeout: env.Limits.ProbeTimeout, MaxProbes: 4}
	for _, v := range []uint16{tlsscan.VersionTLS12, tlsscan.VersionTLS11, tlsscan.VersionTLS10, tlsscan.VersionSSL30} {
		res, err := sc.Versions(ctx, []uint16{v})
		if err != nil || len(res) == 0 || !res[0].Accepted {
			continue
		}
		var certs []*x509.Certificate
		for _, der := range res[0].Probe.Reply.Certificates {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				break
			}
			certs = append(certs, c)
		}
		if len(certs) > 0 {
			h.certs, h.Accepted, h.Negotiated = certs, true, tlsscan.VersionName(v)
			h.Answer = "certificate from a hand-built " + tlsscan.VersionName(v) + " hello"
			return h
		}
	}
	return h
}

func runCertPolicy(ctx context.Context, env *Env) map[string]Outcome {
	b := env.Targets.Broker
	all := []string{ctlCertSignature, ctlCertLifetime}
	outs := map[string]Outcome{}
	if b.TLS == "" {
		for _, c := range all {
			outs[c] = skip("no MQTT TLS endpoint named in the targets (broker tls); no certificate to inspect")
		}
		return outs
	}
	h := fetchChain(ctx, env)
	if len(h.certs) == 0 {
		ev := newEvidence(env, ctlCertSignature)
		ev.json("handshake.json", h)
		for _, c := range all {
			outs[c] = ev.outcome(record.StatusError, map[string]any{"answer": h.Answer}, "could not obtain the broker certificate from %s: %s (check the address in the targets and that it is a TLS listener)", b.TLS, h.Error)
		}
		return outs
	}
	shared := newEvidence(env, ctlCertSignature)
	shared.raw("chain.pem", chainPEM(h.certs))
	shared.json("leaf.json", describeLeaf(h, h.certs[0], b.ServerName, time.Now()))
	for _, c := range all {
		ev := newEvidence(env, c)
		ev.ref(shared.paths...)
		ev.err = shared.err
		switch c {
		case ctlCertSignature:
			ev.fact("cert.chain_signatures", chainSignatures(h.certs))
			outs[c] = judgeSignature(ev, h.certs)
		case ctlCertLifetime:
			ev.fact("cert.lifetime_days", int(h.certs[0].NotAfter.Sub(h.certs[0].NotBefore).Hours()/24))
			outs[c] = judgeLifetime(ev, h.certs[0])
		}
	}
	return outs
}

// weakSignature reports whether a signature algorithm rests on a broken hash.
func weakSignature(a x509.SignatureAlgorithm) bool {
	switch a {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		return true
	}
	return false
}

// judgeSignature looks at every certificate the broker presents except a self-signed root,
// whose signature nobody verifies.
func judgeSignature(ev *evidenceSet, certs []*x509.Certificate) Outcome {
	var weak, seen []string
	for i, c := range certs {
		if i > 0 && isSelfSigned(c) {
			continue
		}
		alg := c.SignatureAlgorithm.String()
		seen = append(seen, alg)
		if weakSignature(c.SignatureAlgorithm) {
			weak = append(weak, fmt.Sprintf("%s (%s)", c.Subject.CommonName, alg))
		}
	}
	obs := map[string]any{"signature_algorithms": strSlice(seen)}
	if len(weak) > 0 {
		return ev.outcome(record.StatusFail, obs, "the broker presents certificates signed with a broken hash: %s (SHA-1 and MD5 collisions are practical)", strings.Join(weak, ", "))
	}
	return ev.outcome(record.StatusPass, obs, "every presented certificate is signed with %s", strings.Join(seen, ", "))
}

func judgeLifetime(ev *evidenceSet, leaf *x509.Certificate) Outcome {
	policy := ev.env.threshold(ev.control, thMaxLifetimeDays)
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	n := int(life.Hours() / 24)
	obs := map[string]any{"over_policy": life > days(policy), "policy_days": policy}
	if life > days(policy) {
		return ev.outcome(record.StatusFail, obs, "the broker certificate is valid for %d days, over the %d-day policy: a leaked key stays usable for years and renewal is never exercised", n, policy)
	}
	return ev.outcome(record.StatusPass, obs, "the broker certificate is valid for %d days, within the %d-day policy", n, policy)
}
