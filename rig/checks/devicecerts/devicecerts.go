// Package devicecerts holds the device-certificate hygiene check (device-certs): the fleet's
// certificates, from the scenario's inventory and as presented to the broker, against the device
// CA, renewal window, key floor, signature hash, client-auth usage, uniqueness and binding to the
// client id.
package devicecerts

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"github.com/pathrig/rig/rig/infile"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pathrig/rig/rig/checks/certjudge"
	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/record"
)

const (
	ctlDevChain     = "DEVCERT-CHAIN"
	ctlDevExpiry    = "DEVCERT-EXPIRY"
	ctlDevKey       = "DEVCERT-KEY"
	ctlDevSignature = "DEVCERT-SIGNATURE"
	ctlDevEKU       = "DEVCERT-EKU"
	ctlDevUnique    = "DEVCERT-UNIQUE"
	ctlDevBinding   = "DEVCERT-BINDING"
)

// MaxInventoryFiles bounds the certificate files LoadInventory reads: a fleet of 100,000 devices
// with one file each, far above what an audit names, far below what would exhaust memory.
const MaxInventoryFiles = 100_000

// LoadInventory reads every PEM certificate under dir (files ending .pem or .crt), each a
// regular file of at most infile.MaxPEM bytes and at most MaxInventoryFiles of them.
func LoadInventory(dir string) ([]check.DeviceCert, error) {
	var out []check.DeviceCert
	files := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !(strings.HasSuffix(p, ".pem") || strings.HasSuffix(p, ".crt")) {
			return nil
		}
		if files++; files > MaxInventoryFiles {
			return fmt.Errorf("more than %d certificate files (name the folder of one fleet)", MaxInventoryFiles)
		}
		data, err := infile.Read(p, "device certificate", infile.MaxPEM)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		for n := 0; ; n++ {
			var b *pem.Block
			b, data = pem.Decode(data)
			if b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue // keys beside the certificates are not the inventory
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return fmt.Errorf("device inventory %s: certificate %d: %w", p, n, err)
			}
			out = append(out, check.DeviceCert{Source: "inventory:" + rel, Cert: c})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("device inventory %s: %w (name a folder of PEM certificates)", dir, err)
	}
	return out, nil
}

// Checks returns the family's checks in registry order.
func Checks() []check.Check { return []check.Check{deviceCertsCheck()} }

func deviceCertsCheck() check.Check {
	return check.Check{
		ID:       "device-certs",
		Title:    "Device certificate hygiene",
		Controls: []string{ctlDevChain, ctlDevExpiry, ctlDevKey, ctlDevSignature, ctlDevEKU, ctlDevUnique, ctlDevBinding},
		Thresholds: map[string][]string{
			ctlDevExpiry: {check.ThExpiryWarnDays, check.ThExpiryHighDays},
			ctlDevKey:    {check.ThMinRSABits, check.ThMinECBits},
		},
		Run: runDeviceCerts,
	}
}

// devRow is one certificate in the evidence.
type devRow struct {
	Source      string    `json:"source"`
	ClientID    string    `json:"client_id,omitempty"`
	Subject     string    `json:"subject"`
	Issuer      string    `json:"issuer"`
	Serial      string    `json:"serial"`
	Fingerprint string    `json:"sha256"`
	KeyID       string    `json:"public_key_sha256"`
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after"`
	Key         string    `json:"key"`
	Signature   string    `json:"signature_algorithm"`
	EKU         []string  `json:"extended_key_usage"`
}

func ekuNames(c *x509.Certificate) []string {
	names := map[x509.ExtKeyUsage]string{x509.ExtKeyUsageClientAuth: "clientAuth", x509.ExtKeyUsageServerAuth: "serverAuth", x509.ExtKeyUsageAny: "any"}
	out := []string{}
	for _, u := range c.ExtKeyUsage {
		if n, ok := names[u]; ok {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("eku-%d", u))
		}
	}
	return out
}

func keyID(c *x509.Certificate) string {
	s := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(s[:])
}

func runDeviceCerts(ctx context.Context, env *check.Env) map[string]check.Outcome {
	f := env.Targets.Fleet
	all := deviceCertsCheck().Controls
	certs := slices.Clone(f.Inventory)
	if f.Presented != nil {
		certs = append(certs, f.Presented()...)
	}
	outs := map[string]check.Outcome{}
	if len(certs) == 0 {
		for _, c := range all {
			outs[c] = check.Skip("no device certificate named or seen (targets device_certs folder, or certificates presented to the reference broker in mTLS)")
		}
		return outs
	}
	now := time.Now()
	// Distinct certificates by fingerprint; the same certificate seen twice is one certificate.
	byFP := map[[32]byte]int{}
	var uniq []check.DeviceCert
	rows := []devRow{}
	for _, d := range certs {
		fp := sha256.Sum256(d.Cert.Raw)
		if _, ok := byFP[fp]; !ok {
			byFP[fp] = len(uniq)
			uniq = append(uniq, d)
		}
		alg, bits := certjudge.KeyStrength(d.Cert.PublicKey)
		rows = append(rows, devRow{Source: d.Source, ClientID: d.ClientID, Subject: d.Cert.Subject.String(), Issuer: d.Cert.Issuer.String(),
			Serial: d.Cert.SerialNumber.Text(16), Fingerprint: hex.EncodeToString(fp[:]), KeyID: keyID(d.Cert),
			NotBefore: d.Cert.NotBefore.UTC(), NotAfter: d.Cert.NotAfter.UTC(), Key: fmt.Sprintf("%s-%d", alg, bits),
			Signature: d.Cert.SignatureAlgorithm.String(), EKU: ekuNames(d.Cert)})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Source+rows[i].ClientID < rows[j].Source+rows[j].ClientID })
	shared := check.NewEvidence(env, ctlDevChain)
	shared.JSON("fleet.json", rows)
	label := func(d check.DeviceCert) string {
		if d.ClientID != "" {
			return fmt.Sprintf("%s (%s, client %s)", d.Cert.Subject.CommonName, d.Source, d.ClientID)
		}
		return fmt.Sprintf("%s (%s)", d.Cert.Subject.CommonName, d.Source)
	}
	per := func(ctl string, bad func(check.DeviceCert) string, what string) check.Outcome {
		ev := check.NewEvidence(env, ctl)
		ev.Inherit(shared)
		var findings []string
		for _, d := range uniq {
			if why := bad(d); why != "" {
				findings = append(findings, label(d)+": "+why)
			}
		}
		obs := map[string]any{"certificates": len(uniq), "failing": len(findings)}
		if len(findings) > 0 {
			return ev.Outcome(record.StatusFail, obs, "%d of %d device certificates %s: %s", len(findings), len(uniq), what, strings.Join(findings, "; "))
		}
		return ev.Outcome(record.StatusPass, obs, "all %d device certificates pass", len(uniq))
	}
	if f.Trust == nil {
		outs[ctlDevChain] = check.Skip("no device CA named in the targets (device_trust); cannot tell whom device certificates should chain to")
	} else {
		outs[ctlDevChain] = per(ctlDevChain, func(d check.DeviceCert) string {
			at := now
			if now.After(d.Cert.NotAfter) || now.Before(d.Cert.NotBefore) {
				at = d.Cert.NotBefore.Add(d.Cert.NotAfter.Sub(d.Cert.NotBefore) / 2) // dates are DEVCERT-EXPIRY's
			}
			if _, err := d.Cert.Verify(x509.VerifyOptions{Roots: f.Trust, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				return err.Error()
			}
			return ""
		}, "do not chain to the device CA")
	}
	worst := record.Severity("")
	window, floor := certjudge.RenewalOf(env, ctlDevExpiry), certjudge.KeyFloorOf(env, ctlDevKey)
	exp := per(ctlDevExpiry, func(d check.DeviceCert) string {
		w, sev := certjudge.ExpiryWindow(d.Cert.NotBefore, d.Cert.NotAfter, now, window)
		if sev == "" {
			return ""
		}
		worst = check.Worse(worst, sev)
		return w
	}, "are expired, not yet valid or due for renewal")
	if exp.Status == record.StatusFail {
		exp.Severity = worst
	}
	outs[ctlDevExpiry] = exp
	outs[ctlDevKey] = per(ctlDevKey, func(d check.DeviceCert) string {
		alg, bits := certjudge.KeyStrength(d.Cert.PublicKey)
		return certjudge.WeakKey(alg, bits, floor)
	}, "have weak keys")
	outs[ctlDevSignature] = per(ctlDevSignature, func(d check.DeviceCert) string {
		if certjudge.WeakSignature(d.Cert.SignatureAlgorithm) {
			return d.Cert.SignatureAlgorithm.String()
		}
		return ""
	}, "are signed with a broken hash")
	outs[ctlDevEKU] = per(ctlDevEKU, func(d check.DeviceCert) string {
		if slices.Contains(d.Cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || slices.Contains(d.Cert.ExtKeyUsage, x509.ExtKeyUsageAny) {
			return ""
		}
		return fmt.Sprintf("extended key usage %v lacks clientAuth", ekuNames(d.Cert))
	}, "cannot authenticate a TLS client")
	outs[ctlDevUnique] = judgeUnique(env, shared, uniq)
	outs[ctlDevBinding] = judgeBinding(env, shared, certs, f.UID)
	return outs
}

// judgeUnique finds certificates of different devices that share a key, a serial (per issuer)
// or a subject.
func judgeUnique(env *check.Env, shared *check.EvidenceSet, uniq []check.DeviceCert) check.Outcome {
	ev := check.NewEvidence(env, ctlDevUnique)
	ev.Inherit(shared)
	groups := map[string][]string{}
	for _, d := range uniq {
		groups["public key "+keyID(d.Cert)[:16]] = append(groups["public key "+keyID(d.Cert)[:16]], d.Cert.Subject.CommonName)
		groups["serial "+d.Cert.SerialNumber.Text(16)+" of "+d.Cert.Issuer.CommonName] = append(groups["serial "+d.Cert.SerialNumber.Text(16)+" of "+d.Cert.Issuer.CommonName], d.Cert.Subject.CommonName)
		groups["subject "+d.Cert.Subject.String()] = append(groups["subject "+d.Cert.Subject.String()], d.Cert.Subject.CommonName)
	}
	var dup []string
	kinds := map[string]int{}
	for k, v := range groups {
		if len(v) > 1 {
			dup = append(dup, fmt.Sprintf("%s shared by %s", k, strings.Join(v, ", ")))
			kinds[strings.Fields(k)[0]]++
		}
	}
	sort.Strings(dup)
	obs := map[string]any{"certificates": len(uniq), "shared_keys": kinds["public"], "shared_serials": kinds["serial"], "shared_subjects": kinds["subject"]}
	if len(dup) > 0 {
		return ev.Outcome(record.StatusFail, obs, "device certificates are not unique: %s (one leaked key or clone impersonates the whole fleet)", strings.Join(dup, "; "))
	}
	return ev.Outcome(record.StatusPass, obs, "%d device certificates, no shared key, serial or subject", len(uniq))
}

// judgeBinding checks, for every certificate a client presented, that its subject names the MQTT
// client id it connected with, and that the device read over UART presented its own.
func judgeBinding(env *check.Env, shared *check.EvidenceSet, certs []check.DeviceCert, uid string) check.Outcome {
	var presented []check.DeviceCert
	for _, d := range certs {
		if d.ClientID != "" {
			presented = append(presented, d)
		}
	}
	if len(presented) == 0 {
		return check.Skip("no certificate presented by an MQTT client was seen (only the reference broker records them): subject and client id cannot be compared")
	}
	ev := check.NewEvidence(env, ctlDevBinding)
	ev.Inherit(shared)
	var bad []string
	deviceSeen := false
	for _, d := range presented {
		cn := d.Cert.Subject.CommonName
		if !strings.EqualFold(cn, d.ClientID) {
			bad = append(bad, fmt.Sprintf("client %s presented a certificate for %s", d.ClientID, cn))
		}
		if uid != "" && strings.EqualFold(d.ClientID, uid) && strings.EqualFold(cn, uid) {
			deviceSeen = true
		}
	}
	obs := map[string]any{"presented": len(presented), "mismatched": len(bad)}
	if uid != "" {
		obs["device_uid_bound"] = deviceSeen
		if !deviceSeen {
			bad = append(bad, fmt.Sprintf("the device read over UART (UID %s) presented no certificate naming its UID under its UID as client id", uid))
		}
	}
	if len(bad) > 0 {
		return ev.Outcome(record.StatusFail, obs, "certificate subjects are not bound to client identities: %s", strings.Join(bad, "; "))
	}
	return ev.Outcome(record.StatusPass, obs, "every presented certificate names the client id it connected with%s", map[bool]string{true: ", the device's UID among them", false: ""}[uid != ""])
}
