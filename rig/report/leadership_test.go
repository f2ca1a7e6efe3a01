package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
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

// TestLeadershipNamesRuleAndAcceptedRisks: the page a leader reads says which decision rule
// decided, and lists the accepted risks with owner and expiry, as summary.md does.
func TestLeadershipNamesRuleAndAcceptedRisks(t *testing.T) {
	in := waivedFixture(t)
	var b bytes.Buffer
	if err := LeadershipHTML(&b, in); err != nil {
		t.Fatal(err)
	}
	golden(t, "exposed-waived/leadership.html", b.Bytes())
	page := b.String()
	if in.Decision.Rule != "" && !strings.Contains(page, "Decided by rule "+in.Decision.Rule) {
		t.Errorf("leadership page does not name the decision rule %q", in.Decision.Rule)
	}
	if !strings.Contains(page, `<section id="accepted-risks">`) {
		t.Fatal("leadership page has no accepted-risks section")
	}
	for _, r := range in.Accepted() {
		if !strings.Contains(page, r.Waiver.Expires) || !strings.Contains(page, r.ID) {
			t.Errorf("accepted risk %s (expires %s) missing from the leadership page", r.ID, r.Waiver.Expires)
		}
	}
}
