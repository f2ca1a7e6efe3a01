package evidence

import (
	"bytes"
	"encoding/base64"
)

// A secret echoed in base64 (HTTP Basic auth "user:secret", a token wrapped in a JSON Web Token,
// a body a server reflects encoded) does not contain the secret's bytes: it contains one of three
// character strings, depending on the secret's byte offset modulo 3 inside the encoded data. Each
// is a core of characters that encode the secret's bits only, between at most one boundary
// character on each side that also encodes bits of the neighbouring bytes (or padding). A form
// matches the core and, where the offset needs one, a boundary character whose secret bits agree:
// so a match constrains every bit of the secret, like the plain form does, and the whole match is
// replaced (the boundary characters too, with any '=' padding that follows).
type b64Form struct {
	core                 []byte
	alphabet             *[256]int8 // character → 6-bit value, -1 outside the alphabet
	lead, trail          bool       // a boundary character is required before / after the core
	leadMask, leadWant   byte
	trailMask, trailWant byte
}

// A core this long is redacted even when a boundary character disagrees (a truncated encoding):
// it alone carries at least 48 bits of the secret.
const coreAlone = 8

const (
	stdChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	urlChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
)

var stdValues, urlValues = values(stdChars), values(urlChars)

func values(chars string) *[256]int8 {
	var v [256]int8
	for i := range v {
		v[i] = -1
	}
	for i := 0; i < len(chars); i++ {
		v[chars[i]] = int8(i)
	}
	return &v
}

// b64Forms returns the forms of secret in the standard and URL alphabets at the three offsets.
func b64Forms(secret []byte) []b64Form {
	var out []b64Form
	n := len(secret)
	for k := 0; k < 3; k++ {
		buf := make([]byte, k+n+2) // k bytes before, 2 after: their bits do not matter
		copy(buf[k:], secret)
		enc := base64.RawStdEncoding.EncodeToString(buf)
		start, end := 8*k, 8*(k+n) // the secret's bits in the encoded stream
		i0 := (start + 5) / 6      // first character made of secret bits only
		i1 := end / 6              // one past the last such character
		if i1 <= i0 {
			continue
		}
		f := b64Form{core: []byte(enc[i0:i1])}
		if b := 6*i0 - start; b > 0 { // low b bits of the character before the core
			f.lead, f.leadMask = true, byte(1<<b-1)
			f.leadWant = byte(stdValues[enc[i0-1]]) & f.leadMask
		}
		if b := end - 6*i1; b > 0 { // high b bits of the character after the core
			f.trail, f.trailMask = true, byte(1<<b-1)<<(6-b)
			f.trailWant = byte(stdValues[enc[i1]]) & f.trailMask
		}
		url := f
		url.core = bytes.Map(func(r rune) rune {
			switch r {
			case '+':
				return '-'
			case '/':
				return '_'
			}
			return r
		}, f.core)
		f.alphabet, url.alphabet = stdValues, urlValues
		out = append(out, f)
		if !bytes.Equal(url.core, f.core) || f.lead || f.trail {
			out = append(out, url)
		}
	}
	return out
}

// redact replaces every match of f in b.
func (f b64Form) redact(b []byte) []byte {
	var out []byte
	last := 0 // b[:last] is already in out
	for from := 0; ; {
		i := bytes.Index(b[from:], f.core)
		if i < 0 {
			break
		}
		start, end := from+i, from+i+len(f.core)
		ok := true
		if f.lead {
			ok = start > last && f.agrees(b[start-1], f.leadMask, f.leadWant)
			if ok {
				start--
			}
		}
		if ok && f.trail {
			ok = end < len(b) && f.agrees(b[end], f.trailMask, f.trailWant)
			if ok {
				end++
				for pad := 0; pad < 2 && end < len(b) && b[end] == '='; pad++ {
					end++
				}
			}
		}
		if !ok {
			if len(f.core) < coreAlone {
				from = from + i + 1
				continue
			}
			start, end = from+i, from+i+len(f.core)
		}
		out = append(out, b[last:start]...)
		out = append(out, Redacted...)
		last, from = end, end
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

func (f b64Form) agrees(c byte, mask, want byte) bool {
	v := f.alphabet[c]
	return v >= 0 && byte(v)&mask == want
}
