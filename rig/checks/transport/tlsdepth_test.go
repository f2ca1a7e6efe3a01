package transport

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/checktest"
	"github.com/pathrig/rig/rig/checks/probe/tlsscan"
	"github.com/pathrig/rig/rig/record"
)

// dropAfterCertRequest is a TLS 1.3 server that asks for a client certificate, completes the
// handshake without one and then resets the connection without a word: what a client sees from
// a server requiring certificates when its certificate_required alert is lost to the reset that
// the client's CONNECT, arriving after the close, provokes.
func dropAfterCertRequest(t *testing.T) string {
	t.Helper()
	conf := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{checktest.TestPKI(t).Good}, ClientAuth: tls.RequestClientCert}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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
				_ = tls.Server(c, conf).Handshake()
				_ = c.(*net.TCPConn).SetLinger(0) // RST, no close_notify
				_ = c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

// TestTLSMQTTClientCertRequired: a TLS endpoint that refuses a client without a certificate is
// not "not an MQTT listener", however its refusal reaches the probe (the alert, or a reset that
// raced it). Without a probe identity holding a certificate the MQTT layer is out of reach: skip,
// on every run.
func TestTLSMQTTClientCertRequired(t *testing.T) {
	tests := []struct {
		name string
		addr func(t *testing.T) string
		runs int
		want record.Status
	}{
		{"server that asks for a certificate and resets", dropAfterCertRequest, 5, record.StatusSkip},
		{"mosquitto requiring client certificates", func(t *testing.T) string {
			return checktest.StartMosquitto(t, checktest.NewOpenSSLPKI(t), "hardened").TLS
		}, 20, record.StatusSkip},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr(t)
			env, _ := checktest.NewEnv(t, check.Targets{Broker: check.Broker{TLS: addr, ServerName: checktest.ServerName}}, nil)
			env.Limits = env.Limits.WithDefaults()
			seen := map[record.Status]int{}
			for i := 0; i < tc.runs; i++ {
				o := probeTLSMQTT(context.Background(), env)
				seen[o.Status]++
				if o.Status != tc.want {
					t.Errorf("run %d: %s %s (%s), want %s", i+1, ctlTLSMQTT, o.Status, o.Reason, tc.want)
				}
			}
			t.Logf("%d runs: %v", tc.runs, seen)
		})
	}
}

// TestKexWeakness: the key-exchange floors of TRANSPORT-CIPHERS, one suite and observation at a
// time.
func TestKexWeakness(t *testing.T) {
	suite := func(id uint16, k *tlsscan.KeyExchange) tlsscan.AcceptedSuite {
		s, ok := tlsscan.SuiteByID(id)
		if !ok {
			t.Fatalf("suite 0x%04x unknown", id)
		}
		return tlsscan.AcceptedSuite{Suite: s, KeyExchange: k}
	}
	dh := func(bits int) *tlsscan.KeyExchange { return &tlsscan.KeyExchange{Kind: tlsscan.KexDH, Bits: bits} }
	ec := func(group string, bits int) *tlsscan.KeyExchange {
		return &tlsscan.KeyExchange{Kind: tlsscan.KexECDH, Group: group, Bits: bits}
	}
	tests := []struct {
		name     string
		suite    tlsscan.AcceptedSuite
		class    string
		severity record.Severity
		unseen   bool
	}{
		{"DHE with 2048 bits", suite(0x009E, dh(2048)), "", "", false},
		{"DHE with 1024 bits", suite(0x009E, dh(1024)), kexWeakDH, record.SeverityHigh, false},
		{"DHE with 1536 bits", suite(0x0033, dh(1536)), kexWeakDH, record.SeverityHigh, false},
		{"DHE with 768 bits", suite(0x009E, dh(768)), kexExportGrade, record.SeverityCritical, false},
		{"ECDHE on x25519", suite(0xC02F, ec("x25519", 256)), "", "", false},
		{"ECDHE on secp224r1", suite(0xC02F, ec("secp224r1", 224)), kexWeakECDH, record.SeverityHigh, false},
		{"ECDHE on an unknown curve", suite(0xC02F, ec("0x0777", 0)), "", "", true},
		{"ECDHE, parameters not seen", suite(0xC02F, nil), "", "", true},
		{"TLS 1.3 on x25519", suite(0x1301, ec("x25519", 256)), "", "", false},
		{"TLS 1.3 on ffdhe2048", suite(0x1301, dh(2048)), "", "", false},
		{"static RSA", suite(0x009C, nil), kexStatic, record.SeverityMedium, false},
		{"static ECDH", suite(0xC004, nil), kexStatic, record.SeverityMedium, false},
		{"anonymous DH: the anon finding is the graver", suite(0x00A6, dh(512)), "", "", false},
		{"RSA export: the export finding is the graver", suite(0x0003, nil), "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			class, detail, unseen := kexWeakness(tc.suite, kexFloorOf(&check.Env{}))
			if class != tc.class || unseen != tc.unseen {
				t.Errorf("got class %q unseen %v (%s), want %q unseen %v", class, unseen, detail, tc.class, tc.unseen)
			}
			if got := weaknessSeverity(class); class != "" && got != tc.severity {
				t.Errorf("severity %s, want %s", got, tc.severity)
			}
		})
	}
}

// TestWorse: a failure carries the worst class found, whatever the order.
func TestWorse(t *testing.T) {
	worst := record.Severity("")
	for _, w := range []string{"3des", "null-encryption", "rc4"} {
		worst = check.Worse(worst, weaknessSeverity(w))
	}
	if worst != record.SeverityCritical {
		t.Errorf("worst = %s, want critical", worst)
	}
	if got := check.Worse(record.SeverityHigh, record.SeverityMedium); got != record.SeverityHigh {
		t.Errorf("Worse(high, medium) = %s", got)
	}
}
