package tlsscan

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"slices"
	"testing"
	"time"
)

// goServer starts a crypto/tls server on 127.0.0.1:0 that completes handshakes and closes.
func goServer(t testing.TB, conf *tls.Config) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "scan.test"}, DNSNames: []string{"scan.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	conf.Certificates = []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.SetDeadline(time.Now().Add(2 * time.Second))
				_ = c.(*tls.Conn).Handshake()
				_ = c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

func TestVersionsAgainstCryptoTLS(t *testing.T) {
	tests := []struct {
		name     string
		min, max uint16
		want     map[uint16]bool
	}{
		{"tls10-to-13", tls.VersionTLS10, tls.VersionTLS13, map[uint16]bool{VersionSSL30: false, VersionTLS10: true, VersionTLS11: true, VersionTLS12: true, VersionTLS13: true}},
		{"tls12-only", tls.VersionTLS12, tls.VersionTLS12, map[uint16]bool{VersionSSL30: false, VersionTLS10: false, VersionTLS11: false, VersionTLS12: true, VersionTLS13: false}},
		{"tls13-only", tls.VersionTLS13, tls.VersionTLS13, map[uint16]bool{VersionSSL30: false, VersionTLS10: false, VersionTLS11: false, VersionTLS12: false, VersionTLS13: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := goServer(t, &tls.Config{MinVersion: tc.min, MaxVersion: tc.max})
			s := &Scanner{Addr: addr, ServerName: "scan.test", Timeout: 2 * time.Second}
			res, err := s.Versions(context.Background(), Versions)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if r.Accepted != tc.want[r.Version] {
					t.Errorf("%s: accepted = %v, want %v (answer %s, alert %s, error %s)", r.Name, r.Accepted, tc.want[r.Version], r.Answer, r.Alert, r.Probe.Error)
				}
			}
		})
	}
}

func TestSuitesAgainstCryptoTLS(t *testing.T) {
	want := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305}
	addr := goServer(t, &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: want})
	s := &Scanner{Addr: addr, Timeout: 2 * time.Second}
	res, err := s.Suites(context.Background(), VersionTLS12)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint16
	for _, su := range res.Accepted {
		got = append(got, su.ID)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) || !res.Complete || res.Probes != len(want)+1 {
		t.Errorf("accepted %v complete %v probes %d stopped %q; want %v complete after %d probes", got, res.Complete, res.Probes, res.Stopped, want, len(want)+1)
	}
}

// TestSuiteNamesMatchCryptoTLS keeps the table honest against the names crypto/tls knows.
func TestSuiteNamesMatchCryptoTLS(t *testing.T) {
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		name, ok := suiteNames[s.ID]
		if !ok {
			t.Errorf("suite %s (0x%04X) missing from the table", s.Name, s.ID)
			continue
		}
		// crypto/tls shortens the ChaCha20 names.
		if name != s.Name && name != s.Name+"_SHA256" {
			t.Errorf("0x%04X: table says %s, crypto/tls %s", s.ID, name, s.Name)
		}
	}
}

func TestBudget(t *testing.T) {
	addr := goServer(t, &tls.Config{})
	s := &Scanner{Addr: addr, MaxProbes: 2, Timeout: time.Second}
	_, err := s.Versions(context.Background(), Versions)
	if err == nil {
		t.Fatal("three probes with a budget of two: want ErrBudget")
	}
	if !errors.Is(err, ErrBudget) {
		t.Fatalf("err = %v, want ErrBudget", err)
	}
}

func TestClosedPort(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	_ = ln.Close()
	s := &Scanner{Addr: addr, Timeout: time.Second}
	res, err := s.Versions(context.Background(), Versions)
	if err == nil || len(res) != 1 || res[0].Answer != ReplyRefusedTCP {
		t.Fatalf("got %+v, %v; want one tcp-refused probe and an error", res, err)
	}
}

func TestHelloSizes(t *testing.T) {
	for _, v := range Versions {
		msg, err := Hello{Version: v, Suites: offerable(v), ServerName: "broker.rig.test"}.Build()
		if err != nil {
			t.Fatal(err)
		}
		// SSL 3.0 hellos carry no extensions, so no padding; SSL 3.0 servers predate the bug.
		if n := len(msg) - 5; v != VersionSSL30 && n >= 256 && n < 512 {
			t.Errorf("%s: hello of %d bytes (want outside 256..511)", VersionName(v), n)
		}
		rec := int(msg[3])<<8 | int(msg[4])
		if rec != len(msg)-5 {
			t.Errorf("%s: record length %d, have %d bytes", VersionName(v), rec, len(msg)-5)
		}
	}
}

// BenchmarkVersions: one full version scan (five hellos) of a crypto/tls server on loopback.
func BenchmarkVersions(b *testing.B) {
	addr := goServer(b, &tls.Config{MinVersion: tls.VersionTLS10})
	s := &Scanner{Addr: addr, Timeout: 2 * time.Second, MaxProbes: 1 << 30}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Versions(context.Background(), Versions); err != nil {
			b.Fatal(err)
		}
	}
}
