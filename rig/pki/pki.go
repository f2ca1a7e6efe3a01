// Package pki owns the certificates of one rig run: a throwaway CA generated with crypto/x509, the
// broker's server certificate and per-device client certificates — including the deliberately bad
// variants the exposed hardening states need (self-signed, wrong SAN, CN-only, RSA-1024, about to
// expire, SHA-1 signed, fleet-shared key, no clientAuth EKU).
//
// Keys are ECDSA P-256 unless RSA bits are asked for. Validity windows come from an injectable clock
// so tests and golden files can pin them; keys and serial numbers are random on every run (Go's key
// generation ignores a caller-supplied random source, so there is no point pretending otherwise).
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Defaults used when an option is left zero.
const (
	DefaultCAName         = "rig run CA"
	DefaultCAValidity     = 30 * 24 * time.Hour
	DefaultServerValidity = 90 * 24 * time.Hour
	DefaultClientValidity = 90 * 24 * time.Hour
	// backdate absorbs small clock differences between the rig and a device that checks validity.
	backdate = 5 * time.Minute
	// MinRSABits is the smallest RSA key the package generates: Go's crypto/rsa refuses smaller
	// keys (GODEBUG rsa1024min), and 1024 is what the "weak key" variant needs.
	MinRSABits = 1024
)

// Options configure the CA.
type Options struct {
	Name     string           // CA common name; DefaultCAName if empty
	Validity time.Duration    // CA lifetime; DefaultCAValidity if zero
	RSABits  int              // 0 = ECDSA P-256
	Now      func() time.Time // clock for validity windows; time.Now if nil
}

// PKI is a CA plus the clock used to issue from it. Safe for concurrent use: its fields are only
// read after New.
type PKI struct {
	ca  *Issued
	now func() time.Time
}

// Issued is one certificate with its private key, in every form a caller needs.
type Issued struct {
	Cert    tls.Certificate   // leaf (and Leaf set), ready for tls.Config
	Leaf    *x509.Certificate // parsed leaf
	Key     crypto.Signer     // private key; pass it as ClientOpts.Key to share it (fleet-shared variant)
	CertPEM []byte            // leaf certificate, PEM
	KeyPEM  []byte            // private key, PKCS#8 PEM — a secret
}

// Fingerprint returns the SHA-256 of the leaf's DER, lowercase hex.
func (i *Issued) Fingerprint() string {
	sum := sha256.Sum256(i.Leaf.Raw)
	return fmt.Sprintf("%x", sum[:])
}

// Validity is a certificate lifetime: explicit bounds win over ValidFor.
type Validity struct {
	NotBefore time.Time     // zero = now - 5 min (backdated for clock skew)
	NotAfter  time.Time     // zero = (NotBefore if set, else now) + ValidFor
	ValidFor  time.Duration // zero = the kind's default; e.g. 10 days for the "expiring soon" variant
}

// ServerOpts describe a broker (or ingest) server certificate.
type ServerOpts struct {
	CommonName string   // default: first DNS name, else first IP, else "rig broker"
	DNSNames   []string // SAN DNS names
	IPs        []net.IP // SAN IP addresses
	// CNOnly puts the name only in the subject CN and leaves out the SAN extension: modern clients
	// (Go since 1.15) refuse such a certificate for host name verification.
	CNOnly bool
	// SelfSigned signs the certificate with its own key instead of the CA's: it then fails
	// verification against CAPool.
	SelfSigned bool
	RSABits    int // 0 = ECDSA P-256; e.g. 1024 for the weak-key variant
	Validity
	// SignatureSHA1 signs with SHA-1 (ECDSA-SHA1 or SHA1-RSA). Go still creates such certificates
	// (checked with Go 1.26) although it refuses to verify them.
	SignatureSHA1 bool
}

// ClientOpts describe a device client certificate.
type ClientOpts struct {
	SelfSigned bool // not issued by the CA
	RSABits    int  // 0 = ECDSA P-256 (ignored when Key is set)
	Validity
	SignatureSHA1 bool
	// Key reuses an existing key instead of generating one: issuing several devices' certificates
	// with the same Key builds the "fleet-shared key" variant.
	Key crypto.Signer
	// OmitClientAuthEKU issues the certificate with EKU serverAuth only: the variant a hygiene check
	// must flag, and one Go's TLS server refuses for client authentication.
	OmitClientAuthEKU bool
}

// New generates a CA.
func New(opts Options) (*PKI, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	name := opts.Name
	if name == "" {
		name = DefaultCAName
	}
	validity := opts.Validity
	if validity == 0 {
		validity = DefaultCAValidity
	}
	if validity < 0 {
		return nil, fmt.Errorf("pki: CA %q: validity %v is negative (give a positive duration)", name, validity)
	}
	key, err := newKey(opts.RSABits)
	if err != nil {
		return nil, fmt.Errorf("pki: CA %q: %w", name, err)
	}
	t := now()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name, Organization: []string{"pathrig"}},
		NotBefore:             t.Add(-backdate),
		NotAfter:              t.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true, // the CA signs leaves directly; no intermediates
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	ca, err := sign(tmpl, nil, key, false)
	if err != nil {
		return nil, fmt.Errorf("pki: CA %q: %w", name, err)
	}
	return &PKI{ca: ca, now: now}, nil
}

// CA returns the CA certificate and key.
func (p *PKI) CA() *Issued { return p.ca }

// CAPool returns a fresh pool holding only the CA: the trust anchor of the deployment.
func (p *PKI) CAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.Leaf)
	return pool
}

// CAPEM returns the CA certificate, PEM.
func (p *PKI) CAPEM() []byte { return append([]byte(nil), p.ca.CertPEM...) }

// IssueServer issues a server certificate (EKU serverAuth).
func (p *PKI) IssueServer(o ServerOpts) (*Issued, error) {
	cn := o.CommonName
	switch {
	case cn != "":
	case len(o.DNSNames) > 0:
		cn = o.DNSNames[0]
	case len(o.IPs) > 0:
		cn = o.IPs[0].String()
	default:
		cn = "rig broker"
	}
	if o.CNOnly && (len(o.DNSNames) > 0 || len(o.IPs) > 0) {
		return nil, fmt.Errorf("pki: server certificate %q: CNOnly with SAN names given (drop DNSNames/IPs or CNOnly)", cn)
	}
	if !o.CNOnly && len(o.DNSNames) == 0 && len(o.IPs) == 0 {
		return nil, fmt.Errorf("pki: server certificate %q: no SAN names (give DNSNames or IPs, or set CNOnly for the CN-only variant)", cn)
	}
	key, err := newKey(o.RSABits)
	if err != nil {
		return nil, fmt.Errorf("pki: server certificate %q: %w", cn, err)
	}
	nb, na, err := p.window(o.Validity, DefaultServerValidity)
	if err != nil {
		return nil, fmt.Errorf("pki: server certificate %q: %w", cn, err)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"pathrig"}},
		NotBefore:             nb,
		NotAfter:              na,
		KeyUsage:              leafKeyUsage(key),
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if !o.CNOnly {
		tmpl.DNSNames = append([]string(nil), o.DNSNames...)
		tmpl.IPAddresses = append([]net.IP(nil), o.IPs...)
	}
	parent := p.ca
	if o.SelfSigned {
		parent = nil
	}
	iss, err := sign(tmpl, parent, key, o.SignatureSHA1)
	if err != nil {
		return nil, fmt.Errorf("pki: server certificate %q: %w", cn, err)
	}
	return iss, nil
}

// IssueClient issues a device client certificate with CN = cn (the device id) and EKU clientAuth.
func (p *PKI) IssueClient(cn string, o ClientOpts) (*Issued, error) {
	if cn == "" {
		return nil, errors.New("pki: client certificate: empty common name (give the device id)")
	}
	key := o.Key
	if key == nil {
		var err error
		if key, err = newKey(o.RSABits); err != nil {
			return nil, fmt.Errorf("pki: client certificate %q: %w", cn, err)
		}
	}
	nb, na, err := p.window(o.Validity, DefaultClientValidity)
	if err != nil {
		return nil, fmt.Errorf("pki: client certificate %q: %w", cn, err)
	}
	eku := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if o.OmitClientAuthEKU {
		eku = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"pathrig devices"}},
		NotBefore:             nb,
		NotAfter:              na,
		KeyUsage:              leafKeyUsage(key),
		ExtKeyUsage:           eku,
		BasicConstraintsValid: true,
	}
	parent := p.ca
	if o.SelfSigned {
		parent = nil
	}
	iss, err := sign(tmpl, parent, key, o.SignatureSHA1)
	if err != nil {
		return nil, fmt.Errorf("pki: client certificate %q: %w", cn, err)
	}
	return iss, nil
}

// WriteFiles writes ca.crt and ca.key into dir (created 0700 if missing); keys are 0600.
func (p *PKI) WriteFiles(dir string) error { return p.ca.WriteFiles(dir, "ca") }

// WriteFiles writes <name>.crt (0644) and <name>.key (0600) into dir, creating dir 0700 if missing.
func (i *Issued) WriteFiles(dir, name string) error {
	if name == "" || filepath.Base(name) != name {
		return fmt.Errorf("pki: write files: name %q must be a plain file name", name)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pki: write files: create %s: %w", dir, err)
	}
	if err := writeFile(filepath.Join(dir, name+".crt"), i.CertPEM, 0o644); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, name+".key"), i.KeyPEM, 0o600)
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	// Write then chmod: WriteFile keeps the mode of an existing file, and a key must never stay
	// readable because an older file was.
	if err := os.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("pki: chmod %s: %w", path, err)
	}
	return nil
}

// window resolves a Validity against the clock.
func (p *PKI) window(v Validity, def time.Duration) (time.Time, time.Time, error) {
	t := p.now()
	nb := v.NotBefore
	if nb.IsZero() {
		nb = t.Add(-backdate)
	}
	na := v.NotAfter
	if na.IsZero() {
		d := v.ValidFor
		if d == 0 {
			d = def
		}
		start := t
		if !v.NotBefore.IsZero() {
			start = v.NotBefore
		}
		na = start.Add(d)
	}
	if !na.After(nb) {
		return time.Time{}, time.Time{}, fmt.Errorf("validity: not after %s is not after not before %s (fix NotBefore/NotAfter/ValidFor)",
			na.UTC().Format(time.RFC3339), nb.UTC().Format(time.RFC3339))
	}
	return nb, na, nil
}

func newKey(rsaBits int) (crypto.Signer, error) {
	if rsaBits == 0 {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate ECDSA P-256 key: %w", err)
		}
		return k, nil
	}
	if rsaBits < MinRSABits {
		return nil, fmt.Errorf("RSA key of %d bits: below %d, which Go refuses to generate (ask for at least %d)", rsaBits, MinRSABits, MinRSABits)
	}
	k, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		return nil, fmt.Errorf("generate RSA-%d key: %w", rsaBits, err)
	}
	return k, nil
}

func leafKeyUsage(key crypto.Signer) x509.KeyUsage {
	if _, ok := key.(*rsa.PrivateKey); ok {
		// RSA key transport in TLS 1.0-1.2 needs keyEncipherment; harmless otherwise.
		return x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	}
	return x509.KeyUsageDigitalSignature
}

// sign creates the certificate; parent nil means self-signed.
func sign(tmpl *x509.Certificate, parent *Issued, key crypto.Signer, sha1 bool) (*Issued, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	tmpl.SerialNumber = serial.Add(serial, big.NewInt(1)) // never zero
	ski := sha256.Sum256(publicKeyBytes(key))
	tmpl.SubjectKeyId = ski[:20]

	signer, parentCert := key, tmpl
	if parent != nil {
		signer, parentCert = parent.Key, parent.Leaf
	}
	if sha1 {
		switch signer.(type) {
		case *rsa.PrivateKey:
			tmpl.SignatureAlgorithm = x509.SHA1WithRSA
		case *ecdsa.PrivateKey:
			tmpl.SignatureAlgorithm = x509.ECDSAWithSHA1
		default:
			return nil, fmt.Errorf("SHA-1 signature: unsupported signer %T", signer)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse created certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return &Issued{
		Cert:    tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		Leaf:    leaf,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

func publicKeyBytes(key crypto.Signer) []byte {
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil
	}
	return der
}
