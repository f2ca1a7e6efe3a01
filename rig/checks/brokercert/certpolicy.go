package brokercert

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/pathrig/rig/rig/checks/certjudge"
	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/probe/tlsprobe"
	"github.com/pathrig/rig/rig/checks/probe/tlsscan"
	"github.com/pathrig/rig/rig/record"
)

const (
	ctlCertSignature = "CERT-SIGNATURE"
	ctlCertLifetime  = "CERT-LIFETIME"
)

// certPolicyCheck judges the broker certificate against issuance policy: how it is signed and
// for how long. It is apart from broker-cert so that the audit-baseline bundle keeps to what the
// reference stack's profiles vary.
func certPolicyCheck() check.Check {
	return check.Check{
		ID:       "cert-policy",
		Title:    "Broker certificate policy",
		Controls: []string{ctlCertSignature, ctlCertLifetime},
		// The lifetime policy: the CA/Browser Forum's limit for server certificates, which devices
		// should not be asked to trust beyond either.
		Thresholds: map[string][]string{ctlCertLifetime: {check.ThMaxLifetimeDays}},
		Run:        runCertPolicy,
	}
}

// fetchChain returns the chain the broker presents: through crypto/tls first, then, for a server
// only a legacy hello reaches (SSL 3.0, or suites crypto/tls does not offer), from the clear-text
// Certificate message of a hand-built hello.
func fetchChain(ctx context.Context, env *check.Env) tlsprobe.Result {
	b := env.Targets.Broker
	h := tlsprobe.Handshake(ctx, b.TLS, b.ServerName, tls.VersionTLS10, tls.VersionTLS13, env.Limits.ProbeTimeout)
	if len(h.Certs) > 0 {
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
			h.Certs, h.Accepted, h.Negotiated = certs, true, tlsscan.VersionName(v)
			h.Answer = "certificate from a hand-built " + tlsscan.VersionName(v) + " hello"
			return h
		}
	}
	return h
}

func runCertPolicy(ctx context.Context, env *check.Env) map[string]check.Outcome {
	b := env.Targets.Broker
	all := []string{ctlCertSignature, ctlCertLifetime}
	outs := map[string]check.Outcome{}
	if b.TLS == "" {
		for _, c := range all {
			outs[c] = check.Skip("no MQTT TLS endpoint named in the targets (broker tls); no certificate to inspect")
		}
		return outs
	}
	h := fetchChain(ctx, env)
	if len(h.Certs) == 0 {
		ev := check.NewEvidence(env, ctlCertSignature)
		ev.JSON("handshake.json", h)
		for _, c := range all {
			outs[c] = ev.Outcome(record.StatusError, map[string]any{"answer": h.Answer}, "could not obtain the broker certificate from %s: %s (check the address in the targets and that it is a TLS listener)", b.TLS, h.Error)
		}
		return outs
	}
	shared := check.NewEvidence(env, ctlCertSignature)
	shared.Raw("chain.pem", chainPEM(h.Certs))
	shared.JSON("leaf.json", describeLeaf(h, h.Certs[0], b.ServerName, time.Now()))
	for _, c := range all {
		ev := check.NewEvidence(env, c)
		ev.Inherit(shared)
		switch c {
		case ctlCertSignature:
			ev.Fact("cert.chain_signatures", certjudge.ChainSignatures(h.Certs))
			outs[c] = judgeSignature(ev, h.Certs)
		case ctlCertLifetime:
			ev.Fact("cert.lifetime_days", int(h.Certs[0].NotAfter.Sub(h.Certs[0].NotBefore).Hours()/24))
			outs[c] = judgeLifetime(ev, h.Certs[0])
		}
	}
	return outs
}

// judgeSignature looks at every certificate the broker presents except a self-signed root,
// whose signature nobody verifies.
func judgeSignature(ev *check.EvidenceSet, certs []*x509.Certificate) check.Outcome {
	var weak, seen []string
	for i, c := range certs {
		if i > 0 && certjudge.IsSelfSigned(c) {
			continue
		}
		alg := c.SignatureAlgorithm.String()
		seen = append(seen, alg)
		if certjudge.WeakSignature(c.SignatureAlgorithm) {
			weak = append(weak, fmt.Sprintf("%s (%s)", c.Subject.CommonName, alg))
		}
	}
	obs := map[string]any{"signature_algorithms": check.StrSlice(seen)}
	if len(weak) > 0 {
		return ev.Outcome(record.StatusFail, obs, "the broker presents certificates signed with a broken hash: %s (SHA-1 and MD5 collisions are practical)", strings.Join(weak, ", "))
	}
	return ev.Outcome(record.StatusPass, obs, "every presented certificate is signed with %s", strings.Join(seen, ", "))
}

func judgeLifetime(ev *check.EvidenceSet, leaf *x509.Certificate) check.Outcome {
	policy := ev.Env().Threshold(ev.Control(), check.ThMaxLifetimeDays)
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	n := int(life.Hours() / 24)
	obs := map[string]any{"over_policy": life > certjudge.Days(policy), "policy_days": policy}
	if life > certjudge.Days(policy) {
		return ev.Outcome(record.StatusFail, obs, "the broker certificate is valid for %d days, over the %d-day policy: a leaked key stays usable for years and renewal is never exercised", n, policy)
	}
	return ev.Outcome(record.StatusPass, obs, "the broker certificate is valid for %d days, within the %d-day policy", n, policy)
}
