package transport_test

import (
	"encoding/binary"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/checktest"
	"github.com/pathrig/rig/rig/record"
)

// sslv3Server answers like an SSL 3.0-only server that supports one suite: a ServerHello for
// SSL 3.0 with TLS_RSA_WITH_3DES_EDE_CBC_SHA when the hello offers both, a handshake_failure or
// protocol_version alert otherwise. Debian's OpenSSL is built without SSL 3.0, so no real peer
// can show this; the bytes follow RFC 6101.
func sslv3Server(t *testing.T) string {
	t.Helper()
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
			go func(c net.Conn) {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(2 * time.Second))
				hdr := make([]byte, 5)
				if _, err := io.ReadFull(c, hdr); err != nil {
					return
				}
				body := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
				if _, err := io.ReadFull(c, body); err != nil || len(body) < 39 {
					return
				}
				version := binary.BigEndian.Uint16(body[4:])
				p := 38 + int(body[38]) + 1 // after random and session id
				n := int(binary.BigEndian.Uint16(body[p:]))
				var suites []uint16
				for i := 0; i < n; i += 2 {
					suites = append(suites, binary.BigEndian.Uint16(body[p+2+i:]))
				}
				switch {
				case version != 0x0300:
					_, _ = c.Write([]byte{21, 3, 0, 0, 2, 2, 70})
				case !slices.Contains(suites, 0x000A):
					_, _ = c.Write([]byte{21, 3, 0, 0, 2, 2, 40})
				default:
					sh := []byte{3, 0}
					sh = append(sh, make([]byte, 32)...)
					sh = append(sh, 0, 0x00, 0x0A, 0)
					hs := append([]byte{2, 0, 0, byte(len(sh))}, sh...)
					hs = append(hs, 14, 0, 0, 0) // ServerHelloDone
					_, _ = c.Write(append([]byte{22, 3, 0, 0, byte(len(hs))}, hs...))
				}
			}(c)
		}
	}()
	return ln.Addr().String()
}

func TestSSLv3Only(t *testing.T) {
	results := evaluatePeers(t, check.Targets{Broker: check.Broker{TLS: sslv3Server(t)}}, "transport", "tls-depth")
	got := checktest.ByControl(t, results)
	if r := got["TRANSPORT-TLS-LEGACY"]; r.Status != record.StatusFail || r.Severity != record.SeverityHigh {
		t.Errorf("%s: %s %s (%s), want fail high (SSL 3.0 accepted)", "TRANSPORT-TLS-LEGACY", r.Status, r.Severity, r.Reason)
	}
	r := got["TRANSPORT-CIPHERS"]
	if r.Status != record.StatusFail || r.Severity != record.SeverityMedium {
		t.Errorf("%s: %s %s (%s), want fail medium (3DES)", "TRANSPORT-CIPHERS", r.Status, r.Severity, r.Reason)
	}
	if acc, _ := r.Observed["accepted"].(map[string]any); !slices.Equal(acc["SSLv3"].([]string), []string{"TLS_RSA_WITH_3DES_EDE_CBC_SHA"}) {
		t.Errorf("accepted suites = %v", acc)
	}
}
