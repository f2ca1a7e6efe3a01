package supply

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
)

// MaxSecurityTxt bounds what is read of a security.txt: a real one is well under 4 KiB.
const MaxSecurityTxt = 64 << 10

// maxProblems bounds the problems one file reports.
const maxProblems = 20

const signedHeader = "-----BEGIN PGP SIGNED MESSAGE-----"

// SecurityTxt is an RFC 9116 security.txt as the supplier check reads it.
type SecurityTxt struct {
	Signed bool // an OpenPGP cleartext-signed message (RFC 9116 §2.3)
	// Fields holds each field's values in file order, by its name in lower case.
	Fields  map[string][]string
	Expires time.Time // the single, valid Expires; zero otherwise
	// Problems are departures from RFC 9116 found while reading (a line that is not a field, a
	// field given twice that may appear once, a web URI that is not https, a bad date).
	Problems []string
}

// Contacts are the Contact values that are URIs (mailto:, tel:, https:, …; not http:).
func (s *SecurityTxt) Contacts() []string { return s.uris("contact") }

// Policies are the Policy values that are https URIs.
func (s *SecurityTxt) Policies() []string { return s.uris("policy") }

func (s *SecurityTxt) uris(field string) []string {
	var out []string
	for _, v := range s.Fields[field] {
		if uriProblem(field, v) == "" {
			out = append(out, v)
		}
	}
	return out
}

// webOnly are the fields whose value is a web URI (RFC 9116 §2.5); contact may also be mailto:
// or tel:.
var webOnly = map[string]bool{"acknowledgments": true, "canonical": true, "encryption": true, "hiring": true, "policy": true, "csaf": true}

// uriProblem says what is wrong with a URI field's value, "" when nothing is.
func uriProblem(field, v string) string {
	u, err := url.Parse(v)
	switch {
	case err != nil || u.Scheme == "":
		return fmt.Sprintf("%s %q is not a URI", fieldName(field), v)
	case u.Scheme == "http":
		return fmt.Sprintf("%s %q is a web URI without https (RFC 9116 §2.5: it must begin with https://)", fieldName(field), v)
	case webOnly[field] && u.Scheme != "https" && !(field == "encryption" && (u.Scheme == "openpgp4fpr" || u.Scheme == "dns")):
		return fmt.Sprintf("%s %q is not an https URI", fieldName(field), v)
	case (u.Scheme == "https") && u.Host == "":
		return fmt.Sprintf("%s %q has no host", fieldName(field), v)
	}
	return ""
}

// fieldName writes a field's name as RFC 9116 does (Preferred-Languages, CSAF).
func fieldName(lower string) string {
	if lower == "csaf" {
		return "CSAF"
	}
	parts := strings.Split(lower, "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "-")
}

// ParseSecurityTxt reads a security.txt. It returns an error only for what is not a text file at
// all (over MaxSecurityTxt, not UTF-8, NUL bytes, a signed message that does not decode);
// everything RFC 9116 forbids inside a text file is a Problem.
func ParseSecurityTxt(b []byte) (*SecurityTxt, error) {
	if len(b) > MaxSecurityTxt {
		return nil, fmt.Errorf("larger than %d bytes: not a security.txt", MaxSecurityTxt)
	}
	if !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 {
		return nil, errors.New("not UTF-8 text")
	}
	s := &SecurityTxt{Fields: map[string][]string{}}
	text := b
	if bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte(signedHeader)) {
		block, _ := clearsign.Decode(b)
		if block == nil {
			return nil, errors.New("begins as an OpenPGP signed message but does not decode as one")
		}
		s.Signed, text = true, block.Plaintext
	} else if bytes.Contains(b, []byte(signedHeader)) {
		s.problem("an OpenPGP signed message starts after other text: RFC 9116 §2.3 wants the whole file signed")
	}
	for n, line := range strings.Split(strings.ReplaceAll(string(text), "\r\n", "\n"), "\n") {
		line = strings.TrimRight(line, " \t\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			s.problem(fmt.Sprintf("line %d is neither a field (Name: value) nor a comment", n+1))
			continue
		}
		key := strings.ToLower(name)
		s.Fields[key] = append(s.Fields[key], strings.TrimSpace(value))
	}
	for key, vals := range s.Fields {
		if key == "contact" || webOnly[key] {
			for _, v := range vals {
				if p := uriProblem(key, v); p != "" {
					s.problem(p)
				}
			}
		}
	}
	switch exp := s.Fields["expires"]; {
	case len(exp) > 1:
		s.problem(fmt.Sprintf("Expires appears %d times (RFC 9116 §2.5.5: exactly once)", len(exp)))
	case len(exp) == 1:
		t, err := time.Parse(time.RFC3339, strings.ToUpper(exp[0]))
		if err != nil {
			s.problem(fmt.Sprintf("Expires %q is not an RFC 3339 date and time (e.g. 2026-12-31T23:59:59Z)", exp[0]))
		} else {
			s.Expires = t
		}
	}
	if n := len(s.Fields["preferred-languages"]); n > 1 {
		s.problem(fmt.Sprintf("Preferred-Languages appears %d times (at most once)", n))
	}
	return s, nil
}

func (s *SecurityTxt) problem(p string) {
	if len(s.Problems) < maxProblems {
		s.Problems = append(s.Problems, p)
	}
}

// VerifySignature checks the OpenPGP cleartext signature of a signed security.txt against the
// vendor's public key(s), armored or binary. It returns the signer's first identity.
func VerifySignature(b, key []byte) (signer string, err error) {
	block, _ := clearsign.Decode(b)
	if block == nil {
		return "", errors.New("not an OpenPGP signed message")
	}
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(key))
	if err != nil {
		if ring, err = openpgp.ReadKeyRing(bytes.NewReader(key)); err != nil {
			return "", fmt.Errorf("the vendor key does not read as an OpenPGP public key: %w", err)
		}
	}
	e, err := block.VerifySignature(ring, nil)
	if err != nil {
		return "", err
	}
	for name := range e.Identities {
		if signer == "" || name < signer {
			signer = name
		}
	}
	if signer == "" && e.PrimaryKey != nil {
		signer = e.PrimaryKey.KeyIdString()
	}
	return signer, nil
}
