package report

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func init() {
	extraBrowserPages = append(extraBrowserPages, func(t *testing.T, dir string) (string, string) {
		in := build(t, "exposed", "hardened")
		p := filepath.Join(dir, "leadership.html")
		var b bytes.Buffer
		if err := LeadershipHTML(&b, in); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p, in.Headline
	})
}

// TestLeadershipGolden: the page rig pdf prints, for the exposed run against the hardened one.
func TestLeadershipGolden(t *testing.T) {
	for _, tc := range []struct{ run, baseline string }{{"exposed", "hardened"}, {"hardened", ""}} {
		var b bytes.Buffer
		if err := LeadershipHTML(&b, build(t, tc.run, tc.baseline)); err != nil {
			t.Fatal(err)
		}
		golden(t, tc.run+"/leadership.html", b.Bytes())
	}
}
