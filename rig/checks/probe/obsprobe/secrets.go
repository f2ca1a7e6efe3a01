package obsprobe

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"
)

// MinSecretLen is the shortest credential searched for: a shorter one would match by chance.
const MinSecretLen = 8

// Secret is a credential a probe used. Label names it in findings (the value never leaves this
// package); User, when set, is the username sent beside it, so that HTTP basic authentication's
// base64("user:secret") is searched too.
type Secret struct {
	Label string
	Value string
	User  string
}

// Form is one encoding of a secret as a log, a metric label or a topic may carry it.
type Form struct {
	Encoding string
	Value    string
}

// Forms returns the encodings searched for: the plain value, base64 (standard and URL alphabets,
// padded or not), hex (both cases), URL encoding (query and path), and base64 of "user:value"
// (an HTTP basic Authorization header). Duplicates are removed (a hex secret's plain and
// URL-encoded forms are the same), keeping the first name.
func Forms(s Secret) []Form {
	v := []byte(s.Value)
	all := []Form{
		{"plain", s.Value},
		{"base64", base64.StdEncoding.EncodeToString(v)},
		{"base64-unpadded", base64.RawStdEncoding.EncodeToString(v)},
		{"base64url", base64.URLEncoding.EncodeToString(v)},
		{"base64url-unpadded", base64.RawURLEncoding.EncodeToString(v)},
		{"hex", hex.EncodeToString(v)},
		{"hex-upper", strings.ToUpper(hex.EncodeToString(v))},
		{"url-query", url.QueryEscape(s.Value)},
		{"url-path", url.PathEscape(s.Value)},
	}
	if s.User != "" {
		all = append(all, Form{"basic-auth", base64.StdEncoding.EncodeToString([]byte(s.User + ":" + s.Value))})
	}
	seen := map[string]bool{}
	var out []Form
	for _, f := range all {
		if f.Value == "" || seen[f.Value] {
			continue
		}
		seen[f.Value] = true
		out = append(out, f)
	}
	return out
}

// Leak is one place a secret was found.
type Leak struct {
	Secret   string `json:"secret"`   // the secret's label
	Encoding string `json:"encoding"` // which form of it
	Where    string `json:"where"`    // the log, metrics URL or topic it was in
	Count    int    `json:"count"`    // occurrences
	Line     int    `json:"line"`     // 1-based line of the first occurrence
}

// Search returns every secret of secrets found in data, in any of its Forms; where names data
// in the findings. Secrets shorter than MinSecretLen are not searched (Searchable tells which).
func Search(where string, data []byte, secrets []Secret) []Leak {
	var out []Leak
	for _, s := range secrets {
		if !Searchable(s) {
			continue
		}
		for _, f := range Forms(s) {
			n := bytes.Count(data, []byte(f.Value))
			if n == 0 {
				continue
			}
			at := bytes.Index(data, []byte(f.Value))
			out = append(out, Leak{Secret: s.Label, Encoding: f.Encoding, Where: where, Count: n, Line: bytes.Count(data[:at], []byte{'\n'}) + 1})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Secret < out[j].Secret })
	return out
}

// Searchable reports whether s is long enough to be searched for.
func Searchable(s Secret) bool { return len(s.Value) >= MinSecretLen }
