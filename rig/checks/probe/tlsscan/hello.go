// Package tlsscan probes a TLS endpoint with hand-built ClientHellos and reads what the server
// answers in clear text (ServerHello, its certificate chain before TLS 1.3, or an alert), one
// TCP connection per probe and no handshake beyond that. It reaches what crypto/tls cannot
// offer (SSL 3.0, export, NULL, anonymous, RC4, single-DES suites), which is what a broker built
// on OpenSSL may still accept.
package tlsscan

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
)

// Protocol versions on the wire.
const (
	VersionSSL30 uint16 = 0x0300
	VersionTLS10 uint16 = 0x0301
	VersionTLS11 uint16 = 0x0302
	VersionTLS12 uint16 = 0x0303
	VersionTLS13 uint16 = 0x0304
)

// Versions are the versions a scan probes, oldest first.
var Versions = []uint16{VersionSSL30, VersionTLS10, VersionTLS11, VersionTLS12, VersionTLS13}

// VersionName names a protocol version as crypto/tls does ("SSLv3", "TLS 1.0", ...).
func VersionName(v uint16) string {
	switch v {
	case VersionSSL30:
		return "SSLv3"
	case VersionTLS10:
		return "TLS 1.0"
	case VersionTLS11:
		return "TLS 1.1"
	case VersionTLS12:
		return "TLS 1.2"
	case VersionTLS13:
		return "TLS 1.3"
	}
	return fmt.Sprintf("0x%04X", v)
}

// Record and handshake types (RFC 8446 §5.1, §4).
const (
	recordChangeCipherSpec = 20
	recordAlert            = 21
	recordHandshake        = 22
	recordApplicationData  = 23

	hsClientHello       = 1
	hsServerHello       = 2
	hsCertificate       = 11
	hsServerKeyExchange = 12
	hsCertificateReq    = 13
	hsServerHelloDone   = 14
)

// Extensions the hellos carry.
const (
	extServerName          = 0x0000
	extSupportedGroups     = 0x000a
	extECPointFormats      = 0x000b
	extSignatureAlgorithms = 0x000d
	extExtendedMasterSec   = 0x0017
	extSupportedVersions   = 0x002b
	extPSKModes            = 0x002d
	extKeyShare            = 0x0033
	extPadding             = 0x0015
	extRenegotiationInfo   = 0xff01
)

const groupX25519 = 0x001d

// groups: X25519, P-256, P-384, P-521, then P-224 and P-192 last, so that a server that knows
// nothing better picks a weak curve and shows it (TRANSPORT-CIPHERS judges the curve) rather than
// refusing the ECDHE suites. No finite-field groups: naming them would restrict which DHE
// parameters an OpenSSL server may use, and DHE suites are offered anyway.
var groups = []uint16{groupX25519, 0x0017, 0x0018, 0x0019, 0x0015, 0x0013}

// sigAlgs: modern first, SHA-1 last for old servers.
var sigAlgs = []uint16{0x0403, 0x0503, 0x0603, 0x0807, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0201, 0x0203, 0x0202, 0x0402}

// Hello is what one ClientHello offers.
type Hello struct {
	Version    uint16   // the one version offered (TLS 1.3 via supported_versions)
	Suites     []uint16 // in preference order
	ServerName string   // SNI; empty sends none (an IP address is never sent as SNI)
}

// maxSuites bounds a hello to what a 2-byte length and a sane server take.
const maxSuites = 200

// Build encodes h as one handshake record. SSL 3.0 hellos carry no extensions, as SSL 3.0
// clients did; TLS hellos carry SNI, groups and point formats (ECDHE suites need them),
// signature algorithms from TLS 1.2 and, for TLS 1.3, supported_versions and an X25519 key share.
func (h Hello) Build() ([]byte, error) {
	if len(h.Suites) == 0 || len(h.Suites) > maxSuites {
		return nil, fmt.Errorf("tlsscan: a hello offers 1 to %d cipher suites, not %d", maxSuites, len(h.Suites))
	}
	legacy := h.Version
	switch h.Version {
	case VersionSSL30, VersionTLS10, VersionTLS11, VersionTLS12:
	case VersionTLS13:
		legacy = VersionTLS12
	default:
		return nil, fmt.Errorf("tlsscan: cannot offer version 0x%04x (want SSL 3.0 to TLS 1.3)", h.Version)
	}
	if len(h.ServerName) > 255 {
		return nil, errors.New("tlsscan: server name longer than 255 bytes")
	}
	var body []byte
	body = binary.BigEndian.AppendUint16(body, legacy)
	random := make([]byte, 32)
	_, _ = rand.Read(random)
	body = append(body, random...)
	if h.Version == VersionTLS13 { // middlebox compatibility: a 32-byte legacy session id
		sid := make([]byte, 32)
		_, _ = rand.Read(sid)
		body = append(body, 32)
		body = append(body, sid...)
	} else {
		body = append(body, 0)
	}
	body = binary.BigEndian.AppendUint16(body, uint16(2*len(h.Suites)))
	for _, s := range h.Suites {
		body = binary.BigEndian.AppendUint16(body, s)
	}
	body = append(body, 1, 0) // compression: null only
	if h.Version != VersionSSL30 {
		ext, err := h.extensions()
		if err != nil {
			return nil, err
		}
		// Some TLS terminators hang on a hello of 256 to 511 bytes (the bug RFC 7685's padding
		// extension works around): pad such a hello to 512.
		if n := 4 + len(body) + 2 + len(ext); n >= 256 && n < 512 {
			pad := 512 - n - 4
			if pad < 1 {
				pad = 1
			}
			ext = binary.BigEndian.AppendUint16(ext, extPadding)
			ext = binary.BigEndian.AppendUint16(ext, uint16(pad))
			ext = append(ext, make([]byte, pad)...)
		}
		body = binary.BigEndian.AppendUint16(body, uint16(len(ext)))
		body = append(body, ext...)
	}
	hs := []byte{hsClientHello, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}
	hs = append(hs, body...)
	recVersion := VersionTLS10 // what clients put on the first record, whatever they offer
	if h.Version == VersionSSL30 {
		recVersion = VersionSSL30
	}
	rec := []byte{recordHandshake, byte(recVersion >> 8), byte(recVersion & 0xff), byte(len(hs) >> 8), byte(len(hs))}
	return append(rec, hs...), nil
}

func (h Hello) extensions() ([]byte, error) {
	var ext []byte
	add := func(typ uint16, data []byte) {
		ext = binary.BigEndian.AppendUint16(ext, typ)
		ext = binary.BigEndian.AppendUint16(ext, uint16(len(data)))
		ext = append(ext, data...)
	}
	if h.ServerName != "" {
		n := []byte(h.ServerName)
		var d []byte
		d = binary.BigEndian.AppendUint16(d, uint16(len(n)+3))
		d = append(d, 0) // host_name
		d = binary.BigEndian.AppendUint16(d, uint16(len(n)))
		add(extServerName, append(d, n...))
	}
	add(extSupportedGroups, u16List(groups))
	add(extECPointFormats, []byte{1, 0}) // uncompressed
	if h.Version >= VersionTLS12 {
		add(extSignatureAlgorithms, u16List(sigAlgs))
	}
	add(extExtendedMasterSec, nil)
	add(extRenegotiationInfo, []byte{0})
	if h.Version == VersionTLS13 {
		add(extSupportedVersions, []byte{2, 0x03, 0x04})
		add(extPSKModes, []byte{1, 1}) // psk_dhe_ke
		key, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("tlsscan: key share: %w", err)
		}
		pub := key.PublicKey().Bytes()
		var ks []byte
		ks = binary.BigEndian.AppendUint16(ks, uint16(4+len(pub)))
		ks = binary.BigEndian.AppendUint16(ks, groupX25519)
		ks = binary.BigEndian.AppendUint16(ks, uint16(len(pub)))
		add(extKeyShare, append(ks, pub...))
	}
	return ext, nil
}

// u16List encodes a list of uint16 with its 2-byte length.
func u16List(v []uint16) []byte {
	out := binary.BigEndian.AppendUint16(nil, uint16(2*len(v)))
	for _, x := range v {
		out = binary.BigEndian.AppendUint16(out, x)
	}
	return out
}
