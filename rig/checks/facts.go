package checks

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Facts are what a control saw of the path's configuration, in a form two runs compare value by
// value: the verdict may stay the same while they change (a renewed certificate, a suite turned
// on, another broker build), and rig/delta reports that as drift or, for the names below marked
// routine, as expected churn. The names, one place for all checks:
//
//	mqtt.plain.answer, mqtt.plain.connack   TRANSPORT-PLAINTEXT: what the plaintext endpoint answered
//	tls.versions                            TRANSPORT-TLS-LEGACY: accepted protocol versions
//	tls.suites, tls.key_exchange            TRANSPORT-CIPHERS: "<version> <suite>", "<version> <key exchange>"
//	mqtt.tls.answer, mqtt.tls.connack       TRANSPORT-TLS-MQTT
//	tls.client_auth                         TRANSPORT-CLIENT-AUTH: none, optional, required
//	cert.fingerprint, cert.serial           CERT-CHAIN (routine: a renewal changes them; the dates are
//	                                        left to leaf.json: a time in the results would not diff
//	                                        cleanly from run to run)
//	cert.issuer, cert.subject, cert.self_signed, cert.signature   CERT-CHAIN
//	cert.san                                CERT-SAN: "DNS:name", "IP:addr"
//	cert.key                                CERT-KEY: "RSA 2048", "ECDSA P-256", "Ed25519"
//	cert.chain_signatures, cert.lifetime_days   CERT-SIGNATURE, CERT-LIFETIME
//	http.status.<credential>                the ingest's status code per credential: none, valid_token,
//	                                        wrong_token, other_tenant, expired_token
//	http.oversize, http.plaintext, http.server   INGEST-OVERSIZE, INGEST-PLAINTEXT, the ingest's Server header
//	mqtt.anonymous.plain, mqtt.anonymous.tls     GUARD-ANON: admitted, refused, unreachable, …
//	mqtt.suback.wildcard, mqtt.suback.sys   GUARD-SUB-WILDCARD, GUARD-SUB-SYS: the SUBACK code
//	mqtt.oversize                           GUARD-MAX-PACKET: what the broker did with the oversize publish
//	broker.version                          GUARD-SUB-SYS: $SYS/broker/version, when the broker lets it be read
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

// normalizeFacts returns a copy of facts with every list sorted (lists of strings only) and nil
// values dropped, so that the same configuration always records the same value; nil when empty.
func normalizeFacts(facts map[string]any) map[string]any {
	if len(facts) == 0 {
		return nil
	}
	out := make(map[string]any, len(facts))
	for k, v := range facts {
		switch x := v.(type) {
		case nil:
			continue
		case []string:
			s := slices.Clone(x)
			if s == nil {
				s = []string{}
			}
			slices.Sort(s)
			out[k] = slices.Compact(s)
		default:
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// keyFact names a public key by type and size, the way CERT-KEY and drift compare it: "RSA 2048",
// "ECDSA P-256", "Ed25519".
func keyFact(pub any) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}

// leafFacts records, for one broker-cert or cert-policy control, the facts of the presented leaf
// that control judges.
func leafFacts(ev *evidenceSet, control string, leaf *x509.Certificate) {
	switch control {
	case ctlCertChain:
		sum := sha256.Sum256(leaf.Raw)
		ev.fact(factCertFingerprint, "sha256:"+hex.EncodeToString(sum[:]))
		ev.fact(factCertSerial, leaf.SerialNumber.Text(16))
		ev.fact(factCertIssuer, leaf.Issuer.String())
		ev.fact(factCertSubject, leaf.Subject.String())
		ev.fact(factCertSelfSigned, isSelfSigned(leaf))
		ev.fact(factCertSignature, leaf.SignatureAlgorithm.String())
	case ctlCertSAN:
		san := []string{}
		for _, n := range leaf.DNSNames {
			san = append(san, "DNS:"+strings.ToLower(n))
		}
		for _, ip := range leaf.IPAddresses {
			san = append(san, "IP:"+ip.String())
		}
		ev.fact(factCertSAN, san)
	case ctlCertKey:
		ev.fact(factCertKey, keyFact(leaf.PublicKey))
	}
}

// credentialFact is the fact name of the ingest's answer to one credential of the status matrix.
func credentialFact(credential string) string {
	return "http.status." + strings.NewReplacer(" ", "_", "-", "_").Replace(strings.ToLower(credential))
}

// chainSignatures lists the signature algorithms CERT-SIGNATURE judges: every presented
// certificate's but a self-signed root's.
func chainSignatures(certs []*x509.Certificate) []string {
	out := []string{}
	for i, c := range certs {
		if i > 0 && isSelfSigned(c) {
			continue
		}
		out = append(out, c.SignatureAlgorithm.String())
	}
	return out
}

// serverFact records the ingest's Server header, which names its software (and often its
// version) when the ingest sends one.
func serverFact(ev *evidenceSet, x *httpExchange) {
	if x == nil || x.Response == nil {
		return
	}
	for k, v := range x.Response.Headers {
		if strings.EqualFold(k, "Server") && v != "" {
			ev.fact("http.server", v)
		}
	}
}
