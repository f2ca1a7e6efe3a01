package manifest

import (
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the manifest parser (a manifest is untrusted input: it
// arrives with a run folder from elsewhere). It must never panic, and whatever it accepts has
// 64-hex-digit digests and non-empty paths.
func FuzzParse(f *testing.F) {
	f.Add([]byte("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  run.json\n"))
	f.Add([]byte("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  evidence/A B/x.json\nzz  y\n"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines, err := parse("fuzz", data)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		for _, l := range lines {
			if l.path == "" || len(l.sum) != 64 || l.line < 1 {
				t.Errorf("accepted line %d: %q -> %q", l.line, l.path, l.sum)
			}
		}
	})
}
