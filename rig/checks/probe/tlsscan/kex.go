package tlsscan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Kinds of key exchange a server's parameters describe.
const (
	KexDH   = "DH"   // finite-field Diffie-Hellman (DHE suites, ffdhe groups)
	KexECDH = "ECDH" // elliptic-curve Diffie-Hellman (ECDHE suites, TLS 1.3 EC groups)
	KexRSA  = "RSA"  // the temporary RSA key of an RSA_EXPORT suite
)

// KeyExchange is the server's ephemeral key-exchange parameters: from its ServerKeyExchange
// (TLS 1.2 and older) or the group of its TLS 1.3 key share.
type KeyExchange struct {
	Kind string `json:"kind"` // KexDH, KexECDH or KexRSA
	// Group names a named group ("x25519", "secp256r1", "ffdhe2048"); "explicit-prime" or
	// "explicit-char2" for curves sent in full; "" for DH parameters sent in full.
	Group string `json:"group,omitempty"`
	// Bits is the group's size: the DH prime's bit length, the curve's size (X25519 counts as 256,
	// with P-256: both give 128-bit security, and OpenSSL's security levels and Mozilla's
	// configurations treat them alike), the temporary RSA modulus's bit length. 0 when unknown.
	Bits int `json:"bits"`
}

// String is the form the evidence and reasons use: "DH 1024 bits", "ECDH x25519 (256 bits)".
func (k KeyExchange) String() string {
	switch {
	case k.Group != "" && k.Bits > 0:
		return fmt.Sprintf("%s %s (%d bits)", k.Kind, k.Group, k.Bits)
	case k.Group != "":
		return fmt.Sprintf("%s %s", k.Kind, k.Group)
	}
	return fmt.Sprintf("%s %d bits", k.Kind, k.Bits)
}

// namedGroup is one entry of the IANA TLS Supported Groups registry.
type namedGroup struct {
	name string
	kind string
	bits int
}

var namedGroups = map[uint16]namedGroup{
	0x0001: {"sect163k1", KexECDH, 163}, 0x0002: {"sect163r1", KexECDH, 163}, 0x0003: {"sect163r2", KexECDH, 163},
	0x0004: {"sect193r1", KexECDH, 193}, 0x0005: {"sect193r2", KexECDH, 193},
	0x0006: {"sect233k1", KexECDH, 233}, 0x0007: {"sect233r1", KexECDH, 233}, 0x0008: {"sect239k1", KexECDH, 239},
	0x0009: {"sect283k1", KexECDH, 283}, 0x000a: {"sect283r1", KexECDH, 283},
	0x000b: {"sect409k1", KexECDH, 409}, 0x000c: {"sect409r1", KexECDH, 409},
	0x000d: {"sect571k1", KexECDH, 571}, 0x000e: {"sect571r1", KexECDH, 571},
	0x000f: {"secp160k1", KexECDH, 160}, 0x0010: {"secp160r1", KexECDH, 160}, 0x0011: {"secp160r2", KexECDH, 160},
	0x0012: {"secp192k1", KexECDH, 192}, 0x0013: {"secp192r1", KexECDH, 192},
	0x0014: {"secp224k1", KexECDH, 224}, 0x0015: {"secp224r1", KexECDH, 224},
	0x0016: {"secp256k1", KexECDH, 256}, 0x0017: {"secp256r1", KexECDH, 256},
	0x0018: {"secp384r1", KexECDH, 384}, 0x0019: {"secp521r1", KexECDH, 521},
	0x001a: {"brainpoolP256r1", KexECDH, 256}, 0x001b: {"brainpoolP384r1", KexECDH, 384}, 0x001c: {"brainpoolP512r1", KexECDH, 512},
	groupX25519: {"x25519", KexECDH, 256}, 0x001e: {"x448", KexECDH, 448},
	0x0100: {"ffdhe2048", KexDH, 2048}, 0x0101: {"ffdhe3072", KexDH, 3072}, 0x0102: {"ffdhe4096", KexDH, 4096},
	0x0103: {"ffdhe6144", KexDH, 6144}, 0x0104: {"ffdhe8192", KexDH, 8192},
}

// groupKeyExchange describes a named group; an unknown one keeps its code and no size.
func groupKeyExchange(id uint16) *KeyExchange {
	if g, ok := namedGroups[id]; ok {
		return &KeyExchange{Kind: g.kind, Group: g.name, Bits: g.bits}
	}
	kind := KexECDH
	if id >= 0x0100 && id <= 0x01ff {
		kind = KexDH
	}
	return &KeyExchange{Kind: kind, Group: fmt.Sprintf("0x%04x", id)}
}

// serverKexKind says which parameters a ServerKeyExchange carries for a suite's key exchange
// (the Kex of its Suite): DH params for DHE and DH_anon, EC params for ECDHE and ECDH_anon, a
// temporary RSA key for RSA_EXPORT; "" for the static key exchanges, which send none.
func serverKexKind(kex string) string {
	switch {
	case strings.HasPrefix(kex, "DHE_") || strings.HasPrefix(kex, "DH_anon"):
		return KexDH
	case strings.HasPrefix(kex, "ECDHE_") || strings.HasPrefix(kex, "ECDH_anon"):
		return KexECDH
	case kex == "RSA_EXPORT":
		return KexRSA
	}
	return ""
}

var errShort = errors.New("cut short")

// reader is a bounds-checked cursor over a message.
type reader struct{ b []byte }

func (r *reader) u8() (int, error) {
	if len(r.b) < 1 {
		return 0, errShort
	}
	v := r.b[0]
	r.b = r.b[1:]
	return int(v), nil
}

func (r *reader) u16() (int, error) {
	if len(r.b) < 2 {
		return 0, errShort
	}
	v := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return int(v), nil
}

// vec reads a vector with a 1- or 2-byte length that must hold at least one byte.
func (r *reader) vec(lenBytes int) ([]byte, error) {
	var n int
	var err error
	if lenBytes == 1 {
		n, err = r.u8()
	} else {
		n, err = r.u16()
	}
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errors.New("empty vector")
	}
	if len(r.b) < n {
		return nil, errShort
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v, nil
}

// bitLen is the bit length of a big-endian unsigned integer.
func bitLen(b []byte) int {
	for i, x := range b {
		if x != 0 {
			n := 0
			for ; x != 0; x >>= 1 {
				n++
			}
			return (len(b)-i-1)*8 + n
		}
	}
	return 0
}

// decodeServerKeyExchange reads the key-exchange parameters at the start of a ServerKeyExchange
// (RFC 5246 §7.4.3, RFC 4492 and RFC 8422 §5.4, RFC 2246 for RSA_EXPORT) for a suite whose key
// exchange is kex. The signature after them is not read: the scan judges the parameters, and the
// signature is over randoms it does not keep. A suite whose key exchange sends no parameters
// gives nil.
func decodeServerKeyExchange(msg []byte, kex string) (*KeyExchange, error) {
	r := &reader{b: msg}
	switch serverKexKind(kex) {
	case KexDH:
		p, err := r.vec(2)
		if err != nil {
			return nil, fmt.Errorf("ServerKeyExchange DH prime: %w", err)
		}
		for _, field := range []string{"generator", "public value"} {
			if _, err := r.vec(2); err != nil {
				return nil, fmt.Errorf("ServerKeyExchange DH %s: %w", field, err)
			}
		}
		bits := bitLen(p)
		if bits == 0 {
			return nil, errors.New("ServerKeyExchange DH prime is zero")
		}
		return &KeyExchange{Kind: KexDH, Bits: bits}, nil
	case KexECDH:
		curveType, err := r.u8()
		if err != nil {
			return nil, fmt.Errorf("ServerKeyExchange curve type: %w", err)
		}
		var k *KeyExchange
		switch curveType {
		case 3: // named_curve
			id, err := r.u16()
			if err != nil {
				return nil, fmt.Errorf("ServerKeyExchange named curve: %w", err)
			}
			k = groupKeyExchange(uint16(id))
			if k.Kind != KexECDH {
				return nil, fmt.Errorf("ServerKeyExchange names group %s for an ECDH suite", k.Group)
			}
		case 1: // explicit_prime: prime p, then the curve, base point, order, cofactor
			p, err := r.vec(1)
			if err != nil {
				return nil, fmt.Errorf("ServerKeyExchange explicit prime: %w", err)
			}
			return &KeyExchange{Kind: KexECDH, Group: "explicit-prime", Bits: bitLen(p)}, nil
		case 2: // explicit_char2: the field is GF(2^m)
			m, err := r.u16()
			if err != nil {
				return nil, fmt.Errorf("ServerKeyExchange explicit char2 field: %w", err)
			}
			return &KeyExchange{Kind: KexECDH, Group: "explicit-char2", Bits: m}, nil
		default:
			return nil, fmt.Errorf("ServerKeyExchange curve type %d", curveType)
		}
		if _, err := r.vec(1); err != nil {
			return nil, fmt.Errorf("ServerKeyExchange EC point: %w", err)
		}
		return k, nil
	case KexRSA:
		mod, err := r.vec(2)
		if err != nil {
			return nil, fmt.Errorf("ServerKeyExchange RSA modulus: %w", err)
		}
		if _, err := r.vec(2); err != nil {
			return nil, fmt.Errorf("ServerKeyExchange RSA exponent: %w", err)
		}
		return &KeyExchange{Kind: KexRSA, Bits: bitLen(mod)}, nil
	}
	return nil, nil
}
