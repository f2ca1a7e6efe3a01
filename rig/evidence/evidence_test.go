package evidence

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestRedaction(t *testing.T) {
	dir := t.TempDir()
	s, err := NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.AddSecret("s3cr3t-token-value")
	s.AddSecret("pw") // too short to redact safely: ignored
	s.AddSecret(`p&ss<w>rd"x`)
	key := "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----"
	for _, tc := range []struct {
		name, in, want string
	}{
		{"registered secret", "token=s3cr3t-token-value;", "token=[REDACTED];"},
		{"pem key", "before\n" + key + "\nafter", "before\n[REDACTED]\nafter"},
		{"bearer header", "Authorization: Bearer abc.def.ghi\n", "Authorization: Bearer [REDACTED]\n"},
		{"short secret kept", "pw=pw", "pw=pw"},
		{"json-escaped secret", `{"password":"p\u0026ss\u003cw\u003erd\"x"}`, `{"password":"[REDACTED]"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel, err := s.Write("CTRL", strings.ReplaceAll(tc.name, " ", "-")+".txt", []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("wrote %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWriteRefusesPathTricks(t *testing.T) {
	s, err := NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../x", "a/b", ".hidden", ""} {
		if _, err := s.Write("CTRL", name, []byte("x")); err == nil {
			t.Errorf("Write(%q) succeeded, want an error", name)
		}
	}
	if _, err := s.Write("../up", "x", []byte("x")); err == nil {
		t.Error("Write with a control of ../up succeeded")
	}
}

// b64Leaks is the test's own scanner, independent of the redactor: it decodes every run of
// base64 characters (both alphabets, padding dropped) from each of the four character phases and
// reports whether any decoding holds secret.
func b64Leaks(out []byte, secret string) bool {
	isB64 := func(c byte) bool {
		return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("+/-_", c) >= 0
	}
	for i := 0; i < len(out); {
		if !isB64(out[i]) {
			i++
			continue
		}
		j := i
		for j < len(out) && isB64(out[j]) {
			j++
		}
		run := strings.NewReplacer("-", "+", "_", "/").Replace(string(out[i:j]))
		for phase := 0; phase < 4 && phase < len(run); phase++ {
			s := run[phase:]
			if len(s)%4 == 1 {
				s = s[:len(s)-1]
			}
			if dec, err := base64.RawStdEncoding.DecodeString(s); err == nil && bytes.Contains(dec, []byte(secret)) {
				return true
			}
		}
		i = j
	}
	return false
}

// TestRedactionBase64: a secret echoed in base64 — alone or inside a longer encoded string (HTTP
// Basic auth), at any of the three byte offsets, in the standard or URL alphabet, with or without
// padding — is redacted, and the scanner finds none of it in what was written.
func TestRedactionBase64(t *testing.T) {
	secrets := []string{"s3cr3t-token-value", "hunter22", "wxyz", "p?>w~rd?>?<~"} // the last has + and / in std base64
	encodings := []struct {
		name string
		enc  *base64.Encoding
	}{{"std", base64.StdEncoding}, {"raw std", base64.RawStdEncoding}, {"url", base64.URLEncoding}, {"raw url", base64.RawURLEncoding}}
	type row struct{ name, in string }
	var rows []row
	for _, sec := range secrets {
		for _, e := range encodings {
			for pre := 0; pre <= 5; pre++ {
				for post := 0; post <= 2; post++ {
					plain := "device-a:"[:pre] + sec + "@;"[:post]
					rows = append(rows, row{fmt.Sprintf("%s %s prefix %d suffix %d", sec, e.name, pre, post),
						`{"header":"Basic ` + e.enc.EncodeToString([]byte(plain)) + `","n":1}`})
				}
			}
		}
	}
	dir := t.TempDir()
	s, err := NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range secrets {
		s.AddSecret(sec)
	}
	for i, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			if !slices.ContainsFunc(secrets, func(sec string) bool { return b64Leaks(in, sec) }) {
				t.Fatalf("the scanner misses the planted secret in %s", in)
			}
			rel, err := s.Write("CTRL", fmt.Sprintf("b64-%d.json", i), in)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
			for _, sec := range secrets {
				if b64Leaks(got, sec) || bytes.Contains(got, []byte(sec)) {
					t.Errorf("%q still holds %q: %s", tc.in, sec, got)
				}
			}
			if !bytes.Contains(got, []byte(Redacted)) || !bytes.HasPrefix(got, []byte(`{"header":"Basic `)) || !bytes.HasSuffix(got, []byte(`","n":1}`)) {
				t.Errorf("wrote %s: want the encoded secret replaced by %s and the rest kept", got, Redacted)
			}
		})
	}
	for _, tc := range []struct{ name, in, want string }{
		// "probe-a:" encodes to cHJvYmUtYT + a character shared with the secret.
		{"basic auth header", "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("probe-a:hunter22")) + "\r\n", "Authorization: Basic cHJvYmUtYT" + Redacted + "\r\n"},
		{"unrelated base64 kept", base64.StdEncoding.EncodeToString([]byte("hunted 22 and wxy")), base64.StdEncoding.EncodeToString([]byte("hunted 22 and wxy"))},
		// 60 of the secret's 64 bits, cut before the last character: still a leak.
		{"truncated encoding", `"aHVudGVyMj"`, `"` + Redacted + `"`},
		{"short core without its boundary kept", "d3h5", "d3h5"}, // "wxy": 3 of wxyz's 4 bytes
		{"plain text kept", "no secret here", "no secret here"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(s.Redact([]byte(tc.in))); got != tc.want {
				t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
