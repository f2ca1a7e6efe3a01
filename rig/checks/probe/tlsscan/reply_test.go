package tlsscan

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// serverHello builds a ServerHello record for the wire vectors below.
func serverHello(version, suite uint16, random []byte, exts []byte) []byte {
	if random == nil {
		random = bytes.Repeat([]byte{0x42}, 32)
	}
	var m []byte
	legacy := version
	if version == VersionTLS13 {
		legacy = VersionTLS12
	}
	m = binary.BigEndian.AppendUint16(m, legacy)
	m = append(m, random...)
	m = append(m, 0) // session id
	m = binary.BigEndian.AppendUint16(m, suite)
	m = append(m, 0)
	if version == VersionTLS13 {
		sv := []byte{0x00, 0x2b, 0x00, 0x02, 0x03, 0x04}
		exts = append(sv, exts...)
	}
	if exts != nil {
		m = binary.BigEndian.AppendUint16(m, uint16(len(exts)))
		m = append(m, exts...)
	}
	hs := append([]byte{hsServerHello, 0, byte(len(m) >> 8), byte(len(m))}, m...)
	rv := VersionTLS12
	if version == VersionSSL30 {
		rv = VersionSSL30
	}
	return append([]byte{recordHandshake, byte(rv >> 8), byte(rv & 0xff), byte(len(hs) >> 8), byte(len(hs))}, hs...)
}

func handshakeRecord(typ byte, body []byte) []byte {
	hs := append([]byte{typ, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{recordHandshake, 3, 3, byte(len(hs) >> 8), byte(len(hs))}, hs...)
}

// vec16 and vec8 prefix data with its 2- or 1-byte length.
func vec16(data []byte) []byte { return append([]byte{byte(len(data) >> 8), byte(len(data))}, data...) }
func vec8(data []byte) []byte  { return append([]byte{byte(len(data))}, data...) }

// prime returns an n-byte big-endian number whose top byte is top.
func prime(n int, top byte) []byte {
	p := bytes.Repeat([]byte{0xa5}, n)
	p[0] = top
	return p
}

// signature is what follows the parameters of a TLS 1.2 ServerKeyExchange: an algorithm and a
// signature the scanner does not read.
var signature = append([]byte{0x04, 0x01}, vec16(bytes.Repeat([]byte{0x5a}, 64))...)

// dheParams, ecdheNamed and rsaExportParams are ServerKeyExchange bodies.
func dheParams(p []byte) []byte {
	return bytes.Join([][]byte{vec16(p), vec16([]byte{2}), vec16(prime(len(p), 0x33)), signature}, nil)
}

func ecdheNamed(group uint16, point int) []byte {
	return bytes.Join([][]byte{{3, byte(group >> 8), byte(group)}, vec8(prime(point, 0x04)), signature}, nil)
}

func rsaExportParams(modulus int) []byte {
	return bytes.Join([][]byte{vec16(prime(modulus, 0xc1)), vec16([]byte{1, 0, 1}), signature}, nil)
}

// flight is a TLS 1.2 ServerHello for suite, a ServerKeyExchange and ServerHelloDone.
func flight(suite uint16, ske []byte) []byte {
	return bytes.Join([][]byte{serverHello(VersionTLS12, suite, nil, nil), handshakeRecord(hsServerKeyExchange, ske), handshakeRecord(hsServerHelloDone, nil)}, nil)
}

// keyShare is a TLS 1.3 ServerHello key_share extension; a HelloRetryRequest's (group only)
// when key is 0 bytes.
func keyShare(group uint16, key int) []byte {
	body := []byte{byte(group >> 8), byte(group)}
	if key > 0 {
		body = append(body, vec16(prime(key, 0x09))...)
	}
	return append([]byte{0x00, 0x33, byte(len(body) >> 8), byte(len(body))}, body...)
}

// wireVectors are server answers, well-formed and not, with what ReadReply must make of them.
var wireVectors = []struct {
	name    string
	data    []byte
	kind    string
	version uint16
	suite   uint16
	alert   string
	certs   int
	certReq bool
	kex     string // the key exchange seen, as KeyExchange.String(); "" for none
}{
	{name: "SSL 3.0 ServerHello, no extensions", data: append(serverHello(VersionSSL30, 0x0005, nil, nil), handshakeRecord(hsServerHelloDone, nil)...), kind: ReplyServerHello, version: VersionSSL30, suite: 0x0005},
	{name: "TLS 1.2 ServerHello then done", data: append(serverHello(VersionTLS12, 0xC02F, nil, []byte{0xff, 0x01, 0x00, 0x01, 0x00}), handshakeRecord(hsServerHelloDone, nil)...), kind: ReplyServerHello, version: VersionTLS12, suite: 0xC02F},
	{name: "TLS 1.2 with certificate request", data: bytes.Join([][]byte{serverHello(VersionTLS12, 0x009C, nil, nil), handshakeRecord(hsCertificate, []byte{0, 0, 4, 0, 0, 1, 0x30}), handshakeRecord(hsCertificateReq, []byte{1, 1, 0, 0}), handshakeRecord(hsServerHelloDone, nil)}, nil), kind: ReplyServerHello, version: VersionTLS12, suite: 0x009C, certs: 1, certReq: true},
	{name: "TLS 1.3 ServerHello", data: serverHello(VersionTLS13, 0x1301, nil, nil), kind: ReplyServerHello, version: VersionTLS13, suite: 0x1301},
	{name: "TLS 1.3 HelloRetryRequest", data: serverHello(VersionTLS13, 0x1302, hrrRandom, nil), kind: ReplyHelloRetry, version: VersionTLS13, suite: 0x1302},
	{name: "ServerHello split across two records", data: func() []byte {
		r := serverHello(VersionTLS12, 0xC030, nil, nil)
		hs := r[5:]
		a := append([]byte{recordHandshake, 3, 3, 0, 10}, hs[:10]...)
		rest := hs[10:]
		b := append([]byte{recordHandshake, 3, 3, byte(len(rest) >> 8), byte(len(rest))}, rest...)
		return append(append(a, b...), handshakeRecord(hsServerHelloDone, nil)...)
	}(), kind: ReplyServerHello, version: VersionTLS12, suite: 0xC030},
	{name: "handshake_failure alert", data: []byte{recordAlert, 3, 1, 0, 2, 2, 40}, kind: ReplyAlert, alert: "handshake_failure"},
	{name: "protocol_version alert", data: []byte{recordAlert, 3, 3, 0, 2, 2, 70}, kind: ReplyAlert, alert: "protocol_version"},
	{name: "empty", data: nil, kind: ReplyClosed},
	{name: "HTTP answer", data: []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), kind: ReplyNotTLS},
	{name: "MQTT CONNACK", data: []byte{0x20, 0x02, 0x00, 0x05}, kind: ReplyNotTLS},
	{name: "SSLv2 server hello", data: []byte{0x80, 0x2e, 0x04, 0x00, 0x01, 0x00, 0x02}, kind: ReplyNotTLS},
	{name: "truncated header", data: []byte{recordHandshake, 3}, kind: ReplyClosed},
	{name: "record too long", data: []byte{recordHandshake, 3, 3, 0xff, 0xff}, kind: ReplyMalformed},
	{name: "zero-length record", data: []byte{recordHandshake, 3, 3, 0, 0}, kind: ReplyMalformed},
	{name: "short alert", data: []byte{recordAlert, 3, 3, 0, 1, 2}, kind: ReplyMalformed},
	{name: "certificate before ServerHello", data: handshakeRecord(hsCertificate, []byte{0, 0, 0}), kind: ReplyMalformed},
	{name: "ServerHello too short", data: handshakeRecord(hsServerHello, []byte{3, 3, 1}), kind: ReplyMalformed},
	{name: "ServerHello bad session id length", data: handshakeRecord(hsServerHello, append(append([]byte{3, 3}, make([]byte, 32)...), 200, 0, 0, 0)), kind: ReplyMalformed},
	{name: "supported_versions of 3 bytes", data: serverHello(VersionTLS12, 0x1301, nil, []byte{0x00, 0x2b, 0x00, 0x03, 3, 4, 0}), kind: ReplyMalformed},
	{name: "application data first", data: []byte{recordApplicationData, 3, 3, 0, 1, 0}, kind: ReplyUnexpected},
	{name: "unknown record type", data: []byte{recordHandshake, 3, 3, 0, 4, hsServerHello, 0, 0, 0, 99, 3, 3, 0, 1, 0}, kind: ReplyMalformed},
	// Key exchange parameters.
	{name: "DHE with a 1024-bit group", data: flight(0x009E, dheParams(prime(128, 0xff))), kind: ReplyServerHello, version: VersionTLS12, suite: 0x009E, kex: "DH 1024 bits"},
	{name: "DHE with a 2048-bit group", data: flight(0x0033, dheParams(prime(256, 0x80))), kind: ReplyServerHello, version: VersionTLS12, suite: 0x0033, kex: "DH 2048 bits"},
	{name: "DHE prime with leading zeros", data: flight(0x009E, dheParams(append([]byte{0, 0}, prime(96, 0x01)...))), kind: ReplyServerHello, version: VersionTLS12, suite: 0x009E, kex: "DH 761 bits"},
	{name: "DH_anon parameters", data: flight(0x00A6, dheParams(prime(64, 0xff))), kind: ReplyServerHello, version: VersionTLS12, suite: 0x00A6, kex: "DH 512 bits"},
	{name: "ECDHE on secp224r1", data: flight(0xC02F, ecdheNamed(0x0015, 57)), kind: ReplyServerHello, version: VersionTLS12, suite: 0xC02F, kex: "ECDH secp224r1 (224 bits)"},
	{name: "ECDHE on x25519", data: flight(0xC02B, ecdheNamed(groupX25519, 32)), kind: ReplyServerHello, version: VersionTLS12, suite: 0xC02B, kex: "ECDH x25519 (256 bits)"},
	{name: "ECDHE on an unknown curve", data: flight(0xC030, ecdheNamed(0x0777, 65)), kind: ReplyServerHello, version: VersionTLS12, suite: 0xC030, kex: "ECDH 0x0777"},
	{name: "ECDHE on an explicit prime curve", data: flight(0xC013, append([]byte{1}, vec8(prime(20, 0xff))...)), kind: ReplyServerHello, version: VersionTLS12, suite: 0xC013, kex: "ECDH explicit-prime (160 bits)"},
	{name: "ECDHE on an explicit char2 curve", data: flight(0xC013, []byte{2, 0, 163, 1}), kind: ReplyServerHello, version: VersionTLS12, suite: 0xC013, kex: "ECDH explicit-char2 (163 bits)"},
	{name: "RSA_EXPORT temporary key", data: flight(0x0003, rsaExportParams(64)), kind: ReplyServerHello, version: VersionTLS12, suite: 0x0003, kex: "RSA 512 bits"},
	{name: "static RSA sends no parameters", data: append(serverHello(VersionTLS12, 0x009C, nil, nil), handshakeRecord(hsServerHelloDone, nil)...), kind: ReplyServerHello, version: VersionTLS12, suite: 0x009C},
	{name: "TLS 1.3 key share on x25519", data: serverHello(VersionTLS13, 0x1301, nil, keyShare(groupX25519, 32)), kind: ReplyServerHello, version: VersionTLS13, suite: 0x1301, kex: "ECDH x25519 (256 bits)"},
	{name: "TLS 1.3 key share on ffdhe2048", data: serverHello(VersionTLS13, 0x1302, nil, keyShare(0x0100, 256)), kind: ReplyServerHello, version: VersionTLS13, suite: 0x1302, kex: "DH ffdhe2048 (2048 bits)"},
	{name: "HelloRetryRequest for secp256r1", data: serverHello(VersionTLS13, 0x1301, hrrRandom, keyShare(0x0017, 0)), kind: ReplyHelloRetry, version: VersionTLS13, suite: 0x1301, kex: "ECDH secp256r1 (256 bits)"},
	// Broken parameters keep the ServerHello (the version and suite were accepted) and see no
	// key exchange.
	{name: "DH parameters cut short", data: flight(0x009E, vec16(prime(128, 0xff))[:100]), kind: ReplyServerHello, version: VersionTLS12, suite: 0x009E},
	{name: "DH prime of zeros", data: flight(0x009E, dheParams(make([]byte, 16))), kind: ReplyServerHello, version: VersionTLS12, suite: 0x009E},
	{name: "ECDH suite naming an ffdhe group", data: flight(0xC02F, ecdheNamed(0x0100, 65)), kind: ReplyServerHello, version: VersionTLS12, suite: 0xC02F},
	{name: "unknown curve type", data: flight(0xC02F, []byte{9, 0, 23}), kind: ReplyServerHello, version: VersionTLS12, suite: 0xC02F},
	{name: "key share of 1 byte", data: serverHello(VersionTLS13, 0x1301, nil, []byte{0x00, 0x33, 0x00, 0x01, 0x00}), kind: ReplyMalformed},
}

func TestReadReplyVectors(t *testing.T) {
	for _, v := range wireVectors {
		t.Run(v.name, func(t *testing.T) {
			rep, _ := ReadReply(bytes.NewReader(v.data))
			if rep.Kind != v.kind {
				t.Fatalf("kind = %s (%s), want %s", rep.Kind, rep.Detail, v.kind)
			}
			if rep.Version != v.version || rep.Suite != v.suite {
				t.Errorf("version/suite = %s/%s, want %s/%s", VersionName(rep.Version), SuiteName(rep.Suite), VersionName(v.version), SuiteName(v.suite))
			}
			if v.alert != "" && (rep.Alert == nil || rep.Alert.Name != v.alert) {
				t.Errorf("alert = %+v, want %s", rep.Alert, v.alert)
			}
			if len(rep.Certificates) != v.certs || rep.CertificateRequest != v.certReq {
				t.Errorf("certificates %d, request %v; want %d, %v", len(rep.Certificates), rep.CertificateRequest, v.certs, v.certReq)
			}
			if got := kexString(rep.KeyExchange); got != v.kex {
				t.Errorf("key exchange %q, want %q", got, v.kex)
			}
		})
	}
}

// TestReadReplyCaptured decodes flights captured from Debian's openssl s_server (OpenSSL 3.0):
// -tls1 -cipher DEFAULT:@SECLEVEL=0 (the *openssl-* files) and a default one asking for a client
// certificate (openssl13-*).
func TestReadReplyCaptured(t *testing.T) {
	tests := []struct {
		file    string
		kind    string
		version uint16
		certReq bool
		alert   string
		kex     string
	}{
		{"openssl-tls10-flight.bin", ReplyServerHello, VersionTLS10, false, "", ""},
		{"openssl-tls10-answer-to-tls12.bin", ReplyServerHello, VersionTLS10, false, "", ""},
		{"openssl-tls13-alert.bin", ReplyAlert, 0, false, "protocol_version", ""},
		{"openssl-sslv3-alert.bin", ReplyAlert, 0, false, "handshake_failure", ""},
		{"openssl13-tls13-hello.bin", ReplyServerHello, VersionTLS13, false, "", "ECDH x25519 (256 bits)"},
		{"openssl13-tls12-flight.bin", ReplyServerHello, VersionTLS12, true, "", ""},
		// openssl s_server -no_tls1_3 -dhparam dh1024.pem -cipher 'DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0'
		{"openssl-dhe1024-tls12-flight.bin", ReplyServerHello, VersionTLS12, false, "", "DH 1024 bits"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			rep, _ := ReadReply(bytes.NewReader(data))
			if rep.Kind != tc.kind || rep.Version != tc.version || rep.CertificateRequest != tc.certReq {
				t.Errorf("got %s %s request=%v (%s), want %s %s request=%v", rep.Kind, VersionName(rep.Version), rep.CertificateRequest, rep.Detail, tc.kind, VersionName(tc.version), tc.certReq)
			}
			if tc.alert != "" && (rep.Alert == nil || rep.Alert.Name != tc.alert) {
				t.Errorf("alert = %+v, want %s", rep.Alert, tc.alert)
			}
			if got := kexString(rep.KeyExchange); got != tc.kex {
				t.Errorf("key exchange %q, want %q", got, tc.kex)
			}
			if rep.Kind == ReplyServerHello && rep.Version < VersionTLS13 && len(rep.Certificates) == 0 {
				t.Error("no certificate decoded from a TLS 1.2-or-older flight")
			}
		})
	}
}

func kexString(k *KeyExchange) string {
	if k == nil {
		return ""
	}
	return k.String()
}

// fuzzKexes are the key exchanges FuzzServerKeyExchange decodes a message for.
var fuzzKexes = []string{"DHE_RSA", "ECDHE_ECDSA", "RSA_EXPORT", "DH_anon", "ECDH_anon", "RSA"}

// FuzzServerKeyExchange: whatever parameters a server sends, the decoder never panics, never
// reads past the message, and what it returns is a size it could have read from it. The seed
// corpus in testdata/fuzz/FuzzServerKeyExchange holds the wire vectors' parameters and the
// ServerKeyExchange of the captured openssl DHE flight.
func FuzzServerKeyExchange(f *testing.F) {
	f.Add(dheParams(prime(128, 0xff)), uint8(0))
	f.Add(ecdheNamed(0x0015, 57), uint8(1))
	f.Add(rsaExportParams(64), uint8(2))
	f.Fuzz(func(t *testing.T, msg []byte, which uint8) {
		kex := fuzzKexes[int(which)%len(fuzzKexes)]
		k, err := decodeServerKeyExchange(msg, kex)
		if err != nil {
			if k != nil {
				t.Fatalf("%s: both a key exchange %v and an error %v", kex, k, err)
			}
			return
		}
		if k == nil {
			if serverKexKind(kex) != "" {
				t.Fatalf("%s: no key exchange and no error for % x", kex, msg)
			}
			return
		}
		if k.Kind != serverKexKind(kex) || k.Bits < 0 || k.Bits > 8*len(msg) && k.Group == "" {
			t.Fatalf("%s: %+v from %d bytes", kex, *k, len(msg))
		}
		if k.Kind == KexDH && k.Bits == 0 {
			t.Fatalf("%s: a DH group of 0 bits", kex)
		}
	})
}

// FuzzReadReply: whatever a server sends, the reader returns a kind, never panics and never
// reads past its bound.
func FuzzReadReply(f *testing.F) {
	for _, v := range wireVectors {
		f.Add(v.data)
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.bin"))
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		rep, _ := ReadReply(r)
		if rep.Kind == "" {
			t.Fatalf("no kind for % x", data)
		}
		if int(r.Size())-r.Len() > maxFlightSize {
			t.Fatalf("read %d bytes, bound is %d", int(r.Size())-r.Len(), maxFlightSize)
		}
		if rep.Kind != ReplyServerHello && rep.Kind != ReplyHelloRetry && rep.Version != 0 {
			t.Fatalf("kind %s with version %04x", rep.Kind, rep.Version)
		}
	})
}
