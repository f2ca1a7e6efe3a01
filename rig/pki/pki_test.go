package pki

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

var epoch = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return epoch }

func newTestPKI(t *testing.T) *PKI {
	t.Helper()
	p, err := New(Options{Name: "test CA", Validity: 365 * 24 * time.Hour, Now: fixedClock})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// verify checks a leaf against the CA pool at the fixed clock.
func verify(p *PKI, leaf *x509.Certificate, eku x509.ExtKeyUsage, name string) error {
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:       p.CAPool(),
		CurrentTime: epoch,
		KeyUsages:   []x509.ExtKeyUsage{eku},
		DNSName:     name,
	})
	return err
}

func TestCA(t *testing.T) {
	p := newTestPKI(t)
	ca := p.CA().Leaf
	if !ca.IsCA || ca.Subject.CommonName != "test CA" {
		t.Fatalf("CA: IsCA=%v CN=%q, want true, %q", ca.IsCA, ca.Subject.CommonName, "test CA")
	}
	if got, want := ca.NotAfter, epoch.Add(365*24*time.Hour); !got.Equal(want) {
		t.Errorf("CA NotAfter = %v, want %v (injected clock)", got, want)
	}
	block, _ := pem.Decode(p.CAPEM())
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("CAPEM: not a CERTIFICATE block")
	}
}

func TestServerVariants(t *testing.T) {
	p := newTestPKI(t)
	loopback := []net.IP{net.ParseIP("127.0.0.1")}
	tests := []struct {
		name  string
		opts  ServerOpts
		check func(t *testing.T, iss *Issued)
	}{
		{
			name: "good",
			opts: ServerOpts{DNSNames: []string{"localhost"}, IPs: loopback},
			check: func(t *testing.T, iss *Issued) {
				if err := verify(p, iss.Leaf, x509.ExtKeyUsageServerAuth, "localhost"); err != nil {
					t.Errorf("verify localhost: %v, want nil", err)
				}
				if err := iss.Leaf.VerifyHostname("127.0.0.1"); err != nil {
					t.Errorf("VerifyHostname 127.0.0.1: %v, want nil", err)
				}
				if k, ok := iss.Leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve.Params().BitSize != 256 {
					t.Errorf("key = %T, want ECDSA P-256", iss.Leaf.PublicKey)
				}
				if got, want := iss.Leaf.NotAfter, epoch.Add(DefaultServerValidity); !got.Equal(want) {
					t.Errorf("NotAfter = %v, want %v", got, want)
				}
			},
		},
		{
			name: "wrong SAN",
			opts: ServerOpts{DNSNames: []string{"broker.invalid"}},
			check: func(t *testing.T, iss *Issued) {
				if !slices.Equal(iss.Leaf.DNSNames, []string{"broker.invalid"}) || len(iss.Leaf.IPAddresses) != 0 {
					t.Errorf("SAN = %v %v, want [broker.invalid] []", iss.Leaf.DNSNames, iss.Leaf.IPAddresses)
				}
				for _, host := range []string{"127.0.0.1", "localhost"} {
					if err := verify(p, iss.Leaf, x509.ExtKeyUsageServerAuth, host); err == nil {
						t.Errorf("verify %s: nil, want a hostname error", host)
					}
				}
				if err := verify(p, iss.Leaf, x509.ExtKeyUsageServerAuth, "broker.invalid"); err != nil {
					t.Errorf("chain itself: %v, want nil (only the name is wrong)", err)
				}
			},
		},
		{
			name: "CN only",
			opts: ServerOpts{CommonName: "localhost", CNOnly: true},
			check: func(t *testing.T, iss *Issued) {
				if len(iss.Leaf.DNSNames)+len(iss.Leaf.IPAddresses) != 0 {
					t.Errorf("SAN = %v %v, want none", iss.Leaf.DNSNames, iss.Leaf.IPAddresses)
				}
				if iss.Leaf.Subject.CommonName != "localhost" {
					t.Errorf("CN = %q, want localhost", iss.Leaf.Subject.CommonName)
				}
				if err := verify(p, iss.Leaf, x509.ExtKeyUsageServerAuth, "localhost"); err == nil {
					t.Errorf("verify localhost: nil, want an error (Go ignores the CN)")
				}
			},
		},
		{
			name: "self-signed",
			opts: ServerOpts{DNSNames: []string{"localhost"}, SelfSigned: true},
			check: func(t *testing.T, iss *Issued) {
				err := verify(p, iss.Leaf, x509.ExtKeyUsageServerAuth, "localhost")
				var unknown x509.UnknownAuthorityError
				if !errors.As(err, &unknown) {
					t.Errorf("verify against CA pool: %v, want UnknownAuthorityError", err)
				}
				// CheckSignatureFrom would refuse a non-CA parent, so check the signature directly.
				if err := iss.Leaf.CheckSignature(iss.Leaf.SignatureAlgorithm, iss.Leaf.RawTBSCertificate, iss.Leaf.Signature); err != nil {
					t.Errorf("own key does not verify the signature: %v, want self-signed", err)
				}
				if iss.Leaf.Issuer.String() != iss.Leaf.Subject.String() {
					t.Errorf("issuer %q != subject %q, want equal", iss.Leaf.Issuer, iss.Leaf.Subject)
				}
			},
		},
		{
			name: "RSA 1024",
			opts: ServerOpts{DNSNames: []string{"localhost"}, RSABits: 1024},
			check: func(t *testing.T, iss *Issued) {
				k, ok := iss.Leaf.PublicKey.(*rsa.PublicKey)
				if !ok || k.N.BitLen() != 1024 {
					t.Errorf("key = %T, want RSA 1024 bits", iss.Leaf.PublicKey)
				}
			},
		},
		{
			name: "expiring in 10 days",
			opts: ServerOpts{DNSNames: []string{"localhost"}, Validity: Validity{ValidFor: 10 * 24 * time.Hour}},
			check: func(t *testing.T, iss *Issued) {
				left := iss.Leaf.NotAfter.Sub(epoch)
				if left != 10*24*time.Hour {
					t.Errorf("time left = %v, want 240h", left)
				}
				if left >= 30*24*time.Hour {
					t.Errorf("time left = %v, want < 30 days", left)
				}
			},
		},
		{
			name: "explicit window",
			opts: ServerOpts{DNSNames: []string{"localhost"}, Validity: Validity{NotBefore: epoch.Add(-48 * time.Hour), NotAfter: epoch.Add(-24 * time.Hour)}},
			check: func(t *testing.T, iss *Issued) {
				var inv x509.CertificateInvalidError
				err := verify(p, iss.Leaf, x509.ExtKeyUsageServerAuth, "localhost")
				if !errors.As(err, &inv) || inv.Reason != x509.Expired {
					t.Errorf("verify expired: %v, want Expired", err)
				}
			},
		},
		{
			name: "SHA-1 signed",
			opts: ServerOpts{DNSNames: []string{"localhost"}, SignatureSHA1: true},
			check: func(t *testing.T, iss *Issued) {
				if iss.Leaf.SignatureAlgorithm != x509.ECDSAWithSHA1 {
					t.Errorf("signature = %v, want ECDSA-SHA1", iss.Leaf.SignatureAlgorithm)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iss, err := p.IssueServer(tc.opts)
			if err != nil {
				t.Fatalf("IssueServer: %v", err)
			}
			if !slices.Contains(iss.Leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
				t.Errorf("EKU = %v, want serverAuth", iss.Leaf.ExtKeyUsage)
			}
			if _, err := tls.X509KeyPair(iss.CertPEM, iss.KeyPEM); err != nil {
				t.Errorf("PEM pair does not load: %v", err)
			}
			tc.check(t, iss)
		})
	}
}

func TestServerOptionErrors(t *testing.T) {
	p := newTestPKI(t)
	for name, o := range map[string]ServerOpts{
		"no SAN":         {CommonName: "x"},
		"CNOnly and SAN": {DNSNames: []string{"x"}, CNOnly: true},
		"RSA 512":        {DNSNames: []string{"x"}, RSABits: 512},
		"inverted":       {DNSNames: []string{"x"}, Validity: Validity{NotBefore: epoch, NotAfter: epoch.Add(-time.Hour)}},
	} {
		if _, err := p.IssueServer(o); err == nil {
			t.Errorf("%s: IssueServer err = nil, want an error", name)
		}
	}
}

func TestClientCerts(t *testing.T) {
	p := newTestPKI(t)
	const dev = "0123456789abcdef01234567"
	good, err := p.IssueClient(dev, ClientOpts{})
	if err != nil {
		t.Fatalf("IssueClient: %v", err)
	}
	if good.Leaf.Subject.CommonName != dev {
		t.Errorf("CN = %q, want %q", good.Leaf.Subject.CommonName, dev)
	}
	if !slices.Equal(good.Leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("EKU = %v, want [clientAuth]", good.Leaf.ExtKeyUsage)
	}
	if err := verify(p, good.Leaf, x509.ExtKeyUsageClientAuth, ""); err != nil {
		t.Errorf("verify clientAuth: %v", err)
	}

	noEKU, err := p.IssueClient(dev, ClientOpts{OmitClientAuthEKU: true})
	if err != nil {
		t.Fatalf("IssueClient OmitClientAuthEKU: %v", err)
	}
	if err := verify(p, noEKU.Leaf, x509.ExtKeyUsageClientAuth, ""); err == nil {
		t.Errorf("verify clientAuth without the EKU: nil, want an error")
	}

	self, err := p.IssueClient(dev, ClientOpts{SelfSigned: true})
	if err != nil {
		t.Fatalf("IssueClient SelfSigned: %v", err)
	}
	if err := verify(p, self.Leaf, x509.ExtKeyUsageClientAuth, ""); err == nil {
		t.Errorf("verify self-signed client: nil, want an error")
	}

	// Fleet-shared key: two devices, two certificates, one key.
	a, err := p.IssueClient("aaaaaaaaaaaaaaaaaaaaaaaa", ClientOpts{Key: good.Key})
	if err != nil {
		t.Fatalf("IssueClient shared key: %v", err)
	}
	if !a.Leaf.PublicKey.(*ecdsa.PublicKey).Equal(good.Leaf.PublicKey) {
		t.Errorf("shared key: public keys differ, want equal")
	}
	if a.Leaf.SerialNumber.Cmp(good.Leaf.SerialNumber) == 0 {
		t.Errorf("shared key: serials equal, want distinct certificates")
	}
	if _, err := p.IssueClient("", ClientOpts{}); err == nil {
		t.Errorf("IssueClient empty CN: nil error, want one")
	}
}

func TestWriteFiles(t *testing.T) {
	p := newTestPKI(t)
	dir := filepath.Join(t.TempDir(), "pki")
	if err := p.WriteFiles(dir); err != nil {
		t.Fatalf("WriteFiles: %v", err)
	}
	srv, err := p.IssueServer(ServerOpts{IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.WriteFiles(dir, "broker"); err != nil {
		t.Fatalf("Issued.WriteFiles: %v", err)
	}
	for name, want := range map[string]os.FileMode{"ca.crt": 0o644, "ca.key": 0o600, "broker.crt": 0o644, "broker.key": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("stat %s: %v", name, err)
			continue
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode = %v, want %v", name, got, want)
		}
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(dir, "broker.crt"), filepath.Join(dir, "broker.key")); err != nil {
		t.Errorf("LoadX509KeyPair: %v", err)
	}
	if err := srv.WriteFiles(dir, "../escape"); err == nil {
		t.Errorf("WriteFiles with a path name: nil error, want one")
	}
}
