package tlsscan

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Kinds of server reply to one hello.
const (
	ReplyServerHello  = "server-hello"  // a ServerHello (see Version and Suite)
	ReplyHelloRetry   = "hello-retry"   // a TLS 1.3 HelloRetryRequest: TLS 1.3 accepted, other group wanted
	ReplyAlert        = "alert"         // a TLS alert (see Alert)
	ReplyClosed       = "closed"        // the connection closed before any record
	ReplyNotTLS       = "not-tls"       // bytes that are not a TLS record (HTTP, MQTT, SSLv2, ...)
	ReplyMalformed    = "malformed"     // a TLS record or handshake message that does not decode
	ReplyUnexpected   = "unexpected"    // a well-formed record that is not a ServerHello or alert
	ReplyTimeout      = "timeout"       // nothing within the probe timeout
	ReplyRefusedTCP   = "tcp-refused"   // nothing listens
	ReplyUnreachable  = "unreachable"   // the address could not be dialled
	ReplyInterrupted  = "interrupted"   // the run's context ended
	ReplyLocalFailure = "local-failure" // the probe itself could not be built
)

// Alert is a TLS alert as received.
type Alert struct {
	Level       uint8  `json:"level"`
	Description uint8  `json:"description"`
	Name        string `json:"name"`
}

// Reply is what the server sent in clear text in answer to one hello.
type Reply struct {
	Kind    string `json:"kind"`
	Version uint16 `json:"-"` // negotiated version (supported_versions for TLS 1.3)
	Suite   uint16 `json:"-"`
	Alert   *Alert `json:"alert,omitempty"`
	// Certificates is the DER chain of a Certificate message (TLS 1.2 and older only: TLS 1.3
	// encrypts it).
	Certificates [][]byte `json:"-"`
	// CertificateRequest: the server asked for a client certificate (TLS 1.2 and older only).
	CertificateRequest bool `json:"certificate_request,omitempty"`
	// KeyExchange: the server's ephemeral key-exchange parameters, from its ServerKeyExchange
	// (TLS 1.2 and older) or the group of its key share or HelloRetryRequest (TLS 1.3); nil for a
	// static key exchange or when the server sent none.
	KeyExchange *KeyExchange `json:"key_exchange,omitempty"`
	Detail      string       `json:"detail,omitempty"`
}

// hrrRandom marks a ServerHello as a HelloRetryRequest (RFC 8446 §4.1.3).
var hrrRandom = []byte{
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
}

// Bounds on what a server can make the reader consume.
const (
	maxRecord     = 1<<14 + 2048 // RFC 5246 §6.2.3: ciphertext may exceed 2^14 by 2048
	maxFlightSize = 256 << 10    // ServerHello through ServerHelloDone, certificate chain included
)

// errMalformed marks a reply that is TLS-shaped but does not decode.
var errMalformed = errors.New("malformed")

// ReadReply reads the server's answer to one hello from r: records until the ServerHello is
// decoded and, below TLS 1.3, until ServerHelloDone (for the certificate chain and whether a
// client certificate is requested), or an alert, or the end of the stream. A read error after a
// ServerHello was decoded keeps the ServerHello; the error is returned for the evidence only.
// It never reads more than maxFlightSize bytes.
func ReadReply(r io.Reader) (Reply, error) {
	r = io.LimitReader(r, maxFlightSize)
	var rep Reply
	var hs []byte // handshake bytes not yet decoded
	first := true
	for {
		var hdr [5]byte
		n, err := io.ReadFull(r, hdr[:])
		if err != nil {
			if rep.Kind != "" {
				return rep, err
			}
			if first && n == 0 && errors.Is(err, io.EOF) {
				return Reply{Kind: ReplyClosed}, err
			}
			if first && n > 0 && !plausibleRecord(hdr[:n]) {
				return Reply{Kind: ReplyNotTLS, Detail: fmt.Sprintf("first bytes % x", hdr[:n])}, nil
			}
			return Reply{Kind: ReplyClosed, Detail: fmt.Sprintf("connection ended after %d bytes of a record header", n)}, err
		}
		if first && !plausibleRecord(hdr[:]) {
			return Reply{Kind: ReplyNotTLS, Detail: fmt.Sprintf("first bytes % x", hdr[:])}, nil
		}
		first = false
		typ, length := hdr[0], int(binary.BigEndian.Uint16(hdr[3:]))
		if hdr[1] != 3 || length == 0 || length > maxRecord {
			return malformed(rep, "record header % x", hdr[:])
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(r, body); err != nil {
			if rep.Kind != "" {
				return rep, err
			}
			return Reply{Kind: ReplyClosed, Detail: "connection ended inside a record"}, err
		}
		switch typ {
		case recordAlert:
			if len(body) < 2 {
				return malformed(rep, "alert record of %d bytes", len(body))
			}
			a := &Alert{Level: body[0], Description: body[1], Name: AlertName(body[1])}
			if rep.Kind == "" {
				return Reply{Kind: ReplyAlert, Alert: a}, nil
			}
			rep.Alert = a // after the ServerHello, e.g. a refusal while the client stays silent
			return rep, nil
		case recordHandshake:
			hs = append(hs, body...)
			done, err := decodeHandshakes(&rep, &hs)
			if err != nil {
				return malformed(rep, "%v", err)
			}
			if done {
				return rep, nil
			}
		case recordChangeCipherSpec, recordApplicationData:
			if rep.Kind != "" { // TLS 1.3: the rest of the flight is encrypted
				return rep, nil
			}
			return Reply{Kind: ReplyUnexpected, Detail: fmt.Sprintf("record type %d before any ServerHello", typ)}, nil
		default:
			return malformed(rep, "record type %d", typ)
		}
	}
}

func malformed(rep Reply, format string, args ...any) (Reply, error) {
	err := fmt.Errorf("%w: "+format, append([]any{errMalformed}, args...)...)
	if rep.Kind != "" {
		return rep, err
	}
	return Reply{Kind: ReplyMalformed, Detail: err.Error()}, err
}

// plausibleRecord reports whether b (1 to 5 bytes) may start a TLS record.
func plausibleRecord(b []byte) bool {
	if b[0] < recordChangeCipherSpec || b[0] > recordApplicationData {
		return false
	}
	return len(b) < 2 || b[1] == 3
}

// decodeHandshakes consumes the complete handshake messages in *buf. done reports that nothing
// more is worth reading: a TLS 1.3 ServerHello or HelloRetryRequest, or ServerHelloDone.
func decodeHandshakes(rep *Reply, buf *[]byte) (done bool, err error) {
	for len(*buf) >= 4 {
		b := *buf
		typ, n := b[0], int(b[1])<<16|int(b[2])<<8|int(b[3])
		if n > maxFlightSize {
			return false, fmt.Errorf("handshake message of %d bytes", n)
		}
		if len(b) < 4+n {
			return false, nil
		}
		msg := b[4 : 4+n]
		*buf = b[4+n:]
		if rep.Kind == "" && typ != hsServerHello {
			return false, fmt.Errorf("handshake message type %d before ServerHello", typ)
		}
		switch typ {
		case hsServerHello:
			if rep.Kind != "" {
				return false, errors.New("second ServerHello")
			}
			if err := decodeServerHello(rep, msg); err != nil {
				return false, err
			}
			if rep.Kind == ReplyHelloRetry || rep.Version >= VersionTLS13 {
				return true, nil
			}
		case hsCertificate:
			certs, err := decodeCertificates(msg)
			if err != nil {
				return false, err
			}
			rep.Certificates = certs
		case hsCertificateReq:
			rep.CertificateRequest = true
		case hsServerHelloDone:
			return true, nil
		case hsServerKeyExchange:
			suite, _ := SuiteByID(rep.Suite)
			k, err := decodeServerKeyExchange(msg, suite.Kex)
			if err != nil {
				return false, err
			}
			rep.KeyExchange = k
		default:
			// Certificate status, session tickets and the like: nothing the scan needs.
		}
	}
	return false, nil
}

func decodeServerHello(out *Reply, m []byte) error {
	rep := *out
	if err := decodeServerHelloInto(&rep, m); err != nil {
		return err
	}
	*out = rep
	return nil
}

func decodeServerHelloInto(rep *Reply, m []byte) error {
	if len(m) < 2+32+1 {
		return fmt.Errorf("ServerHello of %d bytes", len(m))
	}
	version := binary.BigEndian.Uint16(m)
	random := m[2:34]
	sidLen := int(m[34])
	p := 35 + sidLen
	if sidLen > 32 || len(m) < p+3 {
		return fmt.Errorf("ServerHello session id of %d bytes in %d", sidLen, len(m))
	}
	rep.Kind, rep.Version, rep.Suite = ReplyServerHello, version, binary.BigEndian.Uint16(m[p:])
	if bytes.Equal(random, hrrRandom) {
		rep.Kind = ReplyHelloRetry
	}
	p += 3 // suite, compression
	if p == len(m) {
		return nil // no extensions (SSL 3.0, old TLS)
	}
	if len(m) < p+2 {
		return errors.New("ServerHello extensions length cut short")
	}
	extLen := int(binary.BigEndian.Uint16(m[p:]))
	p += 2
	if len(m) != p+extLen {
		return fmt.Errorf("ServerHello extensions of %d bytes in %d", extLen, len(m)-p)
	}
	for exts := m[p:]; len(exts) > 0; {
		if len(exts) < 4 {
			return errors.New("ServerHello extension header cut short")
		}
		typ, n := binary.BigEndian.Uint16(exts), int(binary.BigEndian.Uint16(exts[2:]))
		if len(exts) < 4+n {
			return fmt.Errorf("ServerHello extension 0x%04x of %d bytes in %d", typ, n, len(exts)-4)
		}
		switch typ {
		case extSupportedVersions:
			if n != 2 {
				return fmt.Errorf("supported_versions of %d bytes in a ServerHello (want 2)", n)
			}
			rep.Version = binary.BigEndian.Uint16(exts[4:])
		case extKeyShare:
			// TLS 1.3: the server's share (group, key) or, in a HelloRetryRequest, the group it
			// wants. Either names the group the key exchange uses.
			if n < 2 {
				return fmt.Errorf("key_share of %d bytes in a ServerHello", n)
			}
			rep.KeyExchange = groupKeyExchange(binary.BigEndian.Uint16(exts[4:]))
		}
		exts = exts[4+n:]
	}
	return nil
}

// decodeCertificates decodes a TLS 1.2-and-older Certificate message: a 3-byte length, then
// 3-byte-length-prefixed DER certificates.
func decodeCertificates(m []byte) ([][]byte, error) {
	if len(m) < 3 {
		return nil, errors.New("Certificate message cut short")
	}
	total := int(m[0])<<16 | int(m[1])<<8 | int(m[2])
	if total != len(m)-3 {
		return nil, fmt.Errorf("Certificate list of %d bytes in %d", total, len(m)-3)
	}
	var certs [][]byte
	for p := m[3:]; len(p) > 0; {
		if len(p) < 3 {
			return nil, errors.New("certificate length cut short")
		}
		n := int(p[0])<<16 | int(p[1])<<8 | int(p[2])
		if n == 0 || len(p) < 3+n {
			return nil, fmt.Errorf("certificate of %d bytes in %d", n, len(p)-3)
		}
		certs = append(certs, bytes.Clone(p[3:3+n]))
		p = p[3+n:]
	}
	return certs, nil
}

// AlertName names an alert description (RFC 8446 §6, RFC 5246 §7.2).
func AlertName(d uint8) string {
	switch d {
	case 0:
		return "close_notify"
	case 10:
		return "unexpected_message"
	case 20:
		return "bad_record_mac"
	case 21:
		return "decryption_failed"
	case 22:
		return "record_overflow"
	case 30:
		return "decompression_failure"
	case 40:
		return "handshake_failure"
	case 41:
		return "no_certificate"
	case 42:
		return "bad_certificate"
	case 43:
		return "unsupported_certificate"
	case 44:
		return "certificate_revoked"
	case 45:
		return "certificate_expired"
	case 46:
		return "certificate_unknown"
	case 47:
		return "illegal_parameter"
	case 48:
		return "unknown_ca"
	case 49:
		return "access_denied"
	case 50:
		return "decode_error"
	case 51:
		return "decrypt_error"
	case 60:
		return "export_restriction"
	case 70:
		return "protocol_version"
	case 71:
		return "insufficient_security"
	case 80:
		return "internal_error"
	case 86:
		return "inappropriate_fallback"
	case 90:
		return "user_canceled"
	case 100:
		return "no_renegotiation"
	case 109:
		return "missing_extension"
	case 110:
		return "unsupported_extension"
	case 112:
		return "unrecognized_name"
	case 113:
		return "bad_certificate_status_response"
	case 115:
		return "unknown_psk_identity"
	case 116:
		return "certificate_required"
	case 120:
		return "no_application_protocol"
	}
	return fmt.Sprintf("alert_%d", d)
}
