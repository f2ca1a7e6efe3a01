package evidence

import (
	"os"
	"path/filepath"
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
