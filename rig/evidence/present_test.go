package evidence

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"testing"
)

// TestRedactManySecrets: with a fleet's thousands of secrets, Redact (which then looks up which
// secrets the text holds first) still removes every one present, raw and in base64, and leaves
// the rest of the text alone.
func TestRedactManySecrets(t *testing.T) {
	s, err := NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for range 2000 {
		b := make([]byte, 18)
		rand.Read(b)
		secrets = append(secrets, hex.EncodeToString(b))
		s.AddSecret(secrets[len(secrets)-1])
	}
	text := []byte("device 17 password " + secrets[17] + ", device 1999 in a header " +
		base64.StdEncoding.EncodeToString([]byte("user:"+secrets[1999])) + " and the ordinary word redaction")
	got := s.Redact(bytes.Clone(text))
	for _, i := range []int{17, 1999} {
		if bytes.Contains(got, []byte(secrets[i])) {
			t.Errorf("secret %d left in %q", i, got)
		}
	}
	if bytes.Contains(got, []byte(base64.StdEncoding.EncodeToString([]byte("user:"+secrets[1999])))) {
		t.Errorf("base64 form of secret 1999 left in %q", got)
	}
	if n := bytes.Count(got, []byte(Redacted)); n != 2 {
		t.Errorf("%d redactions in %q, want 2", n, got)
	}
	if !bytes.Contains(got, []byte("the ordinary word redaction")) {
		t.Errorf("text without secrets changed: %q", got)
	}
}

func TestPresent(t *testing.T) {
	tests := []struct {
		name string
		text string
		pats []string
		want []bool
	}{
		{"none", "hello", []string{"abcd", "xyz1"}, []bool{false, false}},
		{"one of two", "a secret here", []string{"secret", "other"}, []bool{true, false}},
		{"shared prefix", "abcdef", []string{"abcdef", "abcxyz"}, []bool{true, false}},
		{"at the end", "xxabc", []string{"abc"}, []bool{true}},
		{"longer than the text", "ab", []string{"abc"}, []bool{false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pats [][]byte
			for _, p := range tt.pats {
				pats = append(pats, []byte(p))
			}
			got := present([]byte(tt.text), pats)
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("present(%q, %q) = %v, want %v", tt.text, tt.pats, got, tt.want)
				}
			}
		})
	}
}
