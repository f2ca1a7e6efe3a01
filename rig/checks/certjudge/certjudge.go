// Package certjudge judges X.509 certificates the way the certificate controls of several check
// families do (the broker's certificate, the fleet's device certificates): key strength against
// a floor, validity against a renewal window, the signature's hash, and the facts drift compares.
package certjudge

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/record"
)

// Renewal is the renewal window of an expiry control, in days.
type Renewal struct{ WarnDays, HighDays int }

// RenewalOf reads control's renewal window from the catalog.
func RenewalOf(env *check.Env, control string) Renewal {
	return Renewal{WarnDays: env.Threshold(control, check.ThExpiryWarnDays), HighDays: env.Threshold(control, check.ThExpiryHighDays)}
}

// KeyFloor is the weakest key a key-strength control accepts, in bits.
type KeyFloor struct{ RSA, EC int }

// KeyFloorOf reads control's key floor from the catalog.
func KeyFloorOf(env *check.Env, control string) KeyFloor {
	return KeyFloor{RSA: env.Threshold(control, check.ThMinRSABits), EC: env.Threshold(control, check.ThMinECBits)}
}

// Days is n days.
func Days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

// IsSelfSigned reports whether c is signed by its own key. CheckSignatureFrom would refuse a
// self-signed leaf that is not marked as a CA, which is exactly the careless kind.
func IsSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// ExpiryWindow classifies a validity window at now against a renewal window; the severity is
// empty when it passes.
func ExpiryWindow(notBefore, notAfter, now time.Time, r Renewal) (window string, sev record.Severity) {
	left := notAfter.Sub(now)
	switch {
	case !now.Before(notAfter):
		return "expired", record.SeverityCritical
	case now.Before(notBefore):
		return "not yet valid", record.SeverityHigh
	case left < Days(r.HighDays):
		return fmt.Sprintf("expires within %d days", r.HighDays), record.SeverityHigh
	case left < Days(r.WarnDays):
		return fmt.Sprintf("expires within %d days", r.WarnDays), record.SeverityMedium
	}
	return fmt.Sprintf("valid for %d days or more", r.WarnDays), ""
}

// KeyStrength names a public key's algorithm and size in bits.
func KeyStrength(pub any) (string, int) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		return "ECDSA", k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return "Ed25519", 256
	}
	return fmt.Sprintf("%T", pub), 0
}

// WeakKey says why a key is below the floor, or "" when it is strong enough.
func WeakKey(alg string, bits int, f KeyFloor) string {
	switch alg {
	case "RSA":
		if bits < f.RSA {
			return fmt.Sprintf("RSA key of %d bits (want at least %d)", bits, f.RSA)
		}
	case "ECDSA":
		if bits < f.EC {
			return fmt.Sprintf("EC key of %d bits (want at least %d)", bits, f.EC)
		}
	case "Ed25519":
	default:
		return fmt.Sprintf("unrecognised key type %s", alg)
	}
	return ""
}

// WeakSignature reports whether a signature algorithm rests on a broken hash.
func WeakSignature(a x509.SignatureAlgorithm) bool {
	switch a {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		return true
	}
	return false
}

// KeyFact names a public key by type and size, the way CERT-KEY and drift compare it: "RSA 2048",
// "ECDSA P-256", "Ed25519".
func KeyFact(pub any) string {
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

// ChainSignatures lists the signature algorithms CERT-SIGNATURE judges: every presented
// certificate's but a self-signed root's.
func ChainSignatures(certs []*x509.Certificate) []string {
	out := []string{}
	for i, c := range certs {
		if i > 0 && IsSelfSigned(c) {
			continue
		}
		out = append(out, c.SignatureAlgorithm.String())
	}
	return out
}
