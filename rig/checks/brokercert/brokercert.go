// Package brokercert holds the broker certificate checks: broker-cert (chain to the deployment's
// trust anchor, SAN, expiry, key strength) and cert-policy (signature hash, lifetime), judged
// offline from the chain the broker presents.
package brokercert

import (
	"bytes"
	"context"
	"crypto"
	"crypto/md5"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/pathrig/rig/rig/checks/certjudge"
	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/probe/tlsprobe"
	"github.com/pathrig/rig/rig/record"
)

const (
	ctlCertChain  = "CERT-CHAIN"
	ctlCertSAN    = "CERT-SAN"
	ctlCertExpiry = "CERT-EXPIRY"
	ctlCertKey    = "CERT-KEY"
)

// Checks returns the family's checks in registry order.
func Checks() []check.Check { return []check.Check{brokerCertCheck(), certPolicyCheck()} }

func brokerCertCheck() check.Check {
	return check.Check{
		ID:       "broker-cert",
		Title:    "Broker certificate identity",
		Controls: []string{ctlCertChain, ctlCertSAN, ctlCertExpiry, ctlCertKey},
		Thresholds: map[string][]string{
			ctlCertExpiry: {check.ThExpiryWarnDays, check.ThExpiryHighDays},
			ctlCertKey:    {check.ThMinRSABits, check.ThMinECBits},
		},
		Run: runBrokerCert,
	}
}

// leafInfo is what the evidence says about the presented leaf.
type leafInfo struct {
	Endpoint     string    `json:"endpoint"`
	ServerName   string    `json:"server_name,omitempty"`
	Negotiated   string    `json:"negotiated"`
	Presented    int       `json:"certificates_presented"`
	Subject      string    `json:"subject"`
	Issuer       string    `json:"issuer"`
	SelfSigned   bool      `json:"self_signed"`
	Serial       string    `json:"serial"`
	DNSNames     []string  `json:"dns_names"`
	IPAddresses  []string  `json:"ip_addresses"`
	NotBefore    time.Time `json:"not_before"`
	NotAfter     time.Time `json:"not_after"`
	CheckedAt    time.Time `json:"checked_at"`
	DaysLeft     float64   `json:"days_left"`
	KeyAlgorithm string    `json:"key_algorithm"`
	KeyBits      int       `json:"key_bits"`
	Signature    string    `json:"signature_algorithm"`
	Handshake    string    `json:"handshake_answer"`
	HandshakeErr string    `json:"handshake_error,omitempty"`
}

// runBrokerCert fetches the broker's chain with one handshake (SNI = the name devices use) and
// judges it offline: the chain and the name with x509, the dates against now, the key by size.
func runBrokerCert(ctx context.Context, env *check.Env) map[string]check.Outcome {
	b := env.Targets.Broker
	all := []string{ctlCertChain, ctlCertSAN, ctlCertExpiry, ctlCertKey}
	outs := map[string]check.Outcome{}
	if b.TLS == "" {
		for _, c := range all {
			outs[c] = check.Skip("no MQTT TLS endpoint named in the targets (broker tls); no certificate to inspect")
		}
		return outs
	}
	// Versions down to SSL 3.0 (see fetchChain) so that a legacy-only broker still shows its
	// certificate; which versions it accepts is TRANSPORT-TLS-LEGACY's business.
	h := fetchChain(ctx, env)
	env.Log.Debug("certificate fetch", "endpoint", b.TLS, "answer", h.Answer, "certificates", len(h.Certs), "error", h.Error)
	if len(h.Certs) == 0 {
		ev := check.NewEvidence(env, ctlCertChain)
		ev.JSON("handshake.json", h)
		for _, c := range all {
			o := ev.Outcome(record.StatusError, map[string]any{"answer": h.Answer}, "could not obtain the broker certificate from %s: %s (check the address in the targets and that it is a TLS listener)", b.TLS, h.Error)
			outs[c] = o
		}
		return outs
	}
	now := time.Now()
	leaf := h.Certs[0]
	info := describeLeaf(h, leaf, b.ServerName, now)

	// One copy of the chain and the leaf summary backs all four controls.
	shared := check.NewEvidence(env, ctlCertChain)
	shared.Raw("chain.pem", chainPEM(h.Certs))
	shared.JSON("leaf.json", info)

	for _, c := range all {
		ev := check.NewEvidence(env, c)
		ev.Inherit(shared)
		leafFacts(ev, c, leaf)
		var o check.Outcome
		switch c {
		case ctlCertChain:
			o = judgeChain(ev, h.Certs, b.Trust, b.Anchors, now)
		case ctlCertSAN:
			o = judgeSAN(ev, leaf, b.ServerName)
		case ctlCertExpiry:
			o = judgeExpiry(ev, leaf, now)
		case ctlCertKey:
			o = judgeKey(ev, leaf)
		}
		outs[c] = o
	}
	return outs
}

func describeLeaf(h tlsprobe.Result, leaf *x509.Certificate, serverName string, now time.Time) leafInfo {
	alg, bits := certjudge.KeyStrength(leaf.PublicKey)
	info := leafInfo{
		Endpoint: h.Endpoint, ServerName: serverName, Negotiated: h.Negotiated, Presented: len(h.Certs),
		Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String(), SelfSigned: certjudge.IsSelfSigned(leaf),
		Serial: leaf.SerialNumber.Text(16), DNSNames: check.StrSlice(leaf.DNSNames), IPAddresses: []string{},
		NotBefore: leaf.NotBefore.UTC(), NotAfter: leaf.NotAfter.UTC(), CheckedAt: now.UTC(),
		DaysLeft:     float64(int(leaf.NotAfter.Sub(now).Hours()/24*10)) / 10,
		KeyAlgorithm: alg, KeyBits: bits, Signature: leaf.SignatureAlgorithm.String(),
		Handshake: h.Answer, HandshakeErr: h.Error,
	}
	for _, ip := range leaf.IPAddresses {
		info.IPAddresses = append(info.IPAddresses, ip.String())
	}
	return info
}

func chainPEM(certs []*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return buf.Bytes()
}

// judgeChain verifies the presented chain against the trust anchor for server authentication.
// Dates belong to CERT-EXPIRY: when the only fault is an expired (or not yet valid) certificate,
// the chain is verified again at the middle of the leaf's validity, so one expired certificate is
// one finding, not two. The signature algorithm belongs to CERT-SIGNATURE: a chain crypto/x509
// refuses for a SHA-1 or MD5 signature is checked again by signature (see chainBySignature).
func judgeChain(ev *check.EvidenceSet, certs []*x509.Certificate, trust *x509.CertPool, anchors []*x509.Certificate, now time.Time) check.Outcome {
	if trust == nil {
		return check.Skip("no trust anchor named in the targets (broker trust); cannot tell whom the chain should lead to")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	leaf := certs[0]
	opts := x509.VerifyOptions{Roots: trust, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	_, err := leaf.Verify(opts)
	at := "now"
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired && inv.Cert != nil && inv.Cert.Equal(leaf) {
		// Only the leaf's own dates are CERT-EXPIRY's; an expired intermediate or root stays a
		// chain failure here. Verify at the last (or first) moment the leaf was valid, when the
		// issuing CA most likely was too.
		opts.CurrentTime, at = leaf.NotAfter.Add(-time.Second), "the last second of the leaf's validity (its dates are judged by CERT-EXPIRY)"
		if now.Before(leaf.NotBefore) {
			opts.CurrentTime, at = leaf.NotBefore.Add(time.Second), "the first second of the leaf's validity (its dates are judged by CERT-EXPIRY)"
		}
		_, err = leaf.Verify(opts)
	}
	obs := map[string]any{"presented": len(certs), "self_signed": certjudge.IsSelfSigned(leaf)}
	if err == nil {
		obs["chains"] = true
		return ev.Outcome(record.StatusPass, obs, "the presented chain verifies against the trust anchor for server authentication (verified at %s)", at)
	}
	if refused := refusedSignatures(certs); len(refused) > 0 {
		// crypto/x509 stops at the first refused signature, so err says nothing about where the
		// chain leads.
		obs["refused_signature_algorithms"] = refused
		if chain := chainBySignature(leaf, certs[1:], anchors, opts); chain != nil {
			obs["chains"] = true
			obs["verified_by"] = "signature"
			return ev.Outcome(record.StatusPass, obs, "the presented chain leads to the trust anchor for server authentication, checked signature by signature (verified at %s): crypto/x509 refuses its %s signature, which CERT-SIGNATURE reports", at, strings.Join(refused, ", "))
		}
		if len(anchors) == 0 {
			return ev.Outcome(record.StatusError, obs, "the chain holds a %s signature, which crypto/x509 refuses to verify, and the trust anchor's certificates were not handed to the check, so whether it leads to the deployment CA cannot be told (CERT-SIGNATURE reports the algorithm)", strings.Join(refused, ", "))
		}
	}
	obs["chains"] = false
	obs["error"] = err.Error()
	return ev.Outcome(record.StatusFail, obs, "the broker certificate does not chain to the deployment's trust anchor: %v", err)
}

// refusedSignatures names the signature algorithms in the presented chain that crypto/x509
// refuses to verify (SHA-1, MD5), a self-signed certificate's own excepted: nobody verifies it.
func refusedSignatures(certs []*x509.Certificate) []string {
	var out []string
	for _, c := range certs {
		if refusedByVerifier(c.SignatureAlgorithm) && !certjudge.IsSelfSigned(c) && !slices.Contains(out, c.SignatureAlgorithm.String()) {
			out = append(out, c.SignatureAlgorithm.String())
		}
	}
	return out
}

func refusedByVerifier(a x509.SignatureAlgorithm) bool {
	switch a {
	case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.MD5WithRSA:
		return true
	}
	return false
}

// Bounds of chainBySignature, as crypto/x509 bounds its own path building: a server chooses how
// many certificates it presents.
const (
	maxChainDepth   = 8
	maxChainSigChks = 100
)

// chainBySignature builds the leaf's chain as crypto/x509 would, except that a SHA-1 or MD5
// signature is checked rather than refused: each issuer is a presented certificate or an anchor
// whose subject is the child's issuer, that may sign certificates, is valid at the verification
// time and whose key verifies the child's signature; every certificate below an anchor allows
// serverAuth. Where a certificate's own chain needs no refused signature, crypto/x509 verifies it
// from there. It returns the chain, or nil when there is none. Name constraints of a CA above a
// refused signature are not judged (the deployment CAs this control is about carry none).
func chainBySignature(leaf *x509.Certificate, presented, anchors []*x509.Certificate, opts x509.VerifyOptions) []*x509.Certificate {
	budget := maxChainSigChks
	var build func(c *x509.Certificate, depth int) []*x509.Certificate
	build = func(c *x509.Certificate, depth int) []*x509.Certificate {
		if slices.ContainsFunc(anchors, c.Equal) {
			return []*x509.Certificate{c}
		}
		if depth > maxChainDepth || budget <= 0 {
			return nil
		}
		if !refusedByVerifier(c.SignatureAlgorithm) {
			if chains, err := c.Verify(opts); err == nil && len(chains) > 0 {
				return chains[0]
			}
		}
		if !validAt(c, opts.CurrentTime) || !allowsServerAuth(c) {
			return nil
		}
		for _, p := range append(slices.Clone(anchors), presented...) {
			if p.Equal(c) || !bytes.Equal(p.RawSubject, c.RawIssuer) || !validAt(p, opts.CurrentTime) {
				continue
			}
			budget--
			if budget < 0 || signedBy(c, p) != nil {
				continue
			}
			if rest := build(p, depth+1); rest != nil {
				return append([]*x509.Certificate{c}, rest...)
			}
		}
		return nil
	}
	return build(leaf, 0)
}

// signedBy checks that parent may sign certificates and signed c, as CheckSignatureFrom does,
// except that a SHA-1 or MD5 signature is verified instead of refused.
func signedBy(c, parent *x509.Certificate) error {
	if !maySign(parent) {
		return errors.New("the issuer may not sign certificates")
	}
	if refusedByVerifier(c.SignatureAlgorithm) {
		return checkRefusedSignature(c, parent)
	}
	return c.CheckSignatureFrom(parent)
}

// checkRefusedSignature verifies c's SHA-1 or MD5 signature with parent's key.
func checkRefusedSignature(c, parent *x509.Certificate) error {
	if c.SignatureAlgorithm == x509.MD5WithRSA {
		pub, ok := parent.PublicKey.(*rsa.PublicKey)
		if !ok {
			return errors.New("MD5WithRSA signature from a non-RSA key")
		}
		sum := md5.Sum(c.RawTBSCertificate)
		return rsa.VerifyPKCS1v15(pub, crypto.MD5, sum[:], c.Signature)
	}
	// CheckSignature still verifies SHA-1 (CheckSignatureFrom and Verify refuse it).
	return parent.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature)
}

func validAt(c *x509.Certificate, t time.Time) bool {
	return !t.Before(c.NotBefore) && !t.After(c.NotAfter)
}

// maySign mirrors crypto/x509's constraints on an issuer: a CA, and keyCertSign when key usage
// is present.
func maySign(p *x509.Certificate) bool {
	if p.Version == 3 && !p.BasicConstraintsValid || p.BasicConstraintsValid && !p.IsCA {
		return false
	}
	return p.KeyUsage == 0 || p.KeyUsage&x509.KeyUsageCertSign != 0
}

// allowsServerAuth: no extended key usage (any use), serverAuth, or anyExtendedKeyUsage.
func allowsServerAuth(c *x509.Certificate) bool {
	if len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
		return true
	}
	return slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny)
}

// judgeSAN checks the server name against the SAN only: Go's VerifyHostname ignores the common
// name and compares an IP server name against IP SAN entries as addresses.
func judgeSAN(ev *check.EvidenceSet, leaf *x509.Certificate, serverName string) check.Outcome {
	if serverName == "" {
		return check.Skip("no server name named in the targets (broker server_name); cannot tell which name the SAN must cover")
	}
	ips := []string{}
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	obs := map[string]any{
		"server_name":  serverName,
		"dns_names":    check.StrSlice(slices.Clone(leaf.DNSNames)),
		"ip_addresses": ips,
		"common_name":  leaf.Subject.CommonName,
	}
	if err := leaf.VerifyHostname(serverName); err != nil {
		obs["covered"] = false
		why := "no SAN entry matches"
		if len(leaf.DNSNames) == 0 && len(leaf.IPAddresses) == 0 {
			why = "the certificate has no SAN at all"
		}
		if cn := leaf.Subject.CommonName; cn != "" && strings.EqualFold(strings.TrimSuffix(cn, "."), strings.TrimSuffix(serverName, ".")) {
			why += "; only the common name matches, which clients ignore"
		}
		return ev.Outcome(record.StatusFail, obs, "the broker certificate does not cover %q: %s", serverName, why)
	}
	obs["covered"] = true
	return ev.Outcome(record.StatusPass, obs, "the broker certificate's SAN covers %q", serverName)
}

func judgeExpiry(ev *check.EvidenceSet, leaf *x509.Certificate, now time.Time) check.Outcome {
	window, sev := certjudge.ExpiryWindow(leaf.NotBefore, leaf.NotAfter, now, certjudge.RenewalOf(ev.Env(), ev.Control()))
	// The window, not the date or the days left: observed values must not change from one run to
	// the next while the verdict stays the same. leaf.json holds the dates.
	obs := map[string]any{"window": window}
	if sev == "" {
		return ev.Outcome(record.StatusPass, obs, "broker certificate validity: %s", window)
	}
	o := ev.Outcome(record.StatusFail, obs, "broker certificate validity: %s (the dates are in the evidence, leaf.json)", window)
	o.Severity = sev
	return o
}

func judgeKey(ev *check.EvidenceSet, leaf *x509.Certificate) check.Outcome {
	alg, bits := certjudge.KeyStrength(leaf.PublicKey)
	obs := map[string]any{"algorithm": alg, "bits": bits}
	if bits == 0 {
		return ev.Outcome(record.StatusError, obs, "cannot judge the strength of a %s key (a key type the rig does not know)", alg)
	}
	if why := certjudge.WeakKey(alg, bits, certjudge.KeyFloorOf(ev.Env(), ev.Control())); why != "" {
		return ev.Outcome(record.StatusFail, obs, "the broker certificate has a weak key: %s", why)
	}
	return ev.Outcome(record.StatusPass, obs, "the broker certificate has a %d-bit %s key", bits, alg)
}

const (
	factCertFingerprint = "cert.fingerprint"
	factCertSerial      = "cert.serial"
	factCertIssuer      = "cert.issuer"
	factCertSubject     = "cert.subject"
	factCertSelfSigned  = "cert.self_signed"
	factCertSignature   = "cert.signature"
	factCertSAN         = "cert.san"
	factCertKey         = "cert.key"
)

// leafFacts records, for one broker-cert or cert-policy control, the facts of the presented leaf
// that control judges.
func leafFacts(ev *check.EvidenceSet, control string, leaf *x509.Certificate) {
	switch control {
	case ctlCertChain:
		sum := sha256.Sum256(leaf.Raw)
		ev.Fact(factCertFingerprint, "sha256:"+hex.EncodeToString(sum[:]))
		ev.Fact(factCertSerial, leaf.SerialNumber.Text(16))
		ev.Fact(factCertIssuer, leaf.Issuer.String())
		ev.Fact(factCertSubject, leaf.Subject.String())
		ev.Fact(factCertSelfSigned, certjudge.IsSelfSigned(leaf))
		ev.Fact(factCertSignature, leaf.SignatureAlgorithm.String())
	case ctlCertSAN:
		san := []string{}
		for _, n := range leaf.DNSNames {
			san = append(san, "DNS:"+strings.ToLower(n))
		}
		for _, ip := range leaf.IPAddresses {
			san = append(san, "IP:"+ip.String())
		}
		ev.Fact(factCertSAN, san)
	case ctlCertKey:
		ev.Fact(factCertKey, certjudge.KeyFact(leaf.PublicKey))
	}
}
