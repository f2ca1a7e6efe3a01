package supply

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		want string
	}{
		{"1.2.3", true, "1.2.3"},
		{"v1.2.3", true, "1.2.3"},
		{"v0.0.0-20240101120000-abcdef123456", true, "0.0.0-20240101120000-abcdef123456"},
		{"v2.0.0+incompatible", true, "2.0.0+incompatible"},
		{"1.0.0-rc.1", true, "1.0.0-rc.1"},
		{"1.2", false, ""},
		{"01.2.3", false, ""},
		{"1.2.3-01", false, ""},
		{"1.2.3-", false, ""},
		{"1.2.3-a..b", false, ""},
		{"(devel)", false, ""},
		{"", false, ""},
		{"v1.2.3.4", false, ""},
	} {
		v, ok := ParseVersion(tc.in)
		if ok != tc.ok || (ok && v.String() != tc.want) {
			t.Errorf("ParseVersion(%q) = %v %v, want %q %v", tc.in, v, ok, tc.want, tc.ok)
		}
	}
}

// TestVersionOrder: semver.org's precedence example, and Go's pseudo-versions below the release
// they precede.
func TestVersionOrder(t *testing.T) {
	order := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1-0.20240101120000-abcdef123456", "1.0.1", "2.0.0", "10.0.0"}
	for i := range order {
		for j := range order {
			a, _ := ParseVersion(order[i])
			b, _ := ParseVersion(order[j])
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	a, _ := ParseVersion("1.0.0+build.1")
	b, _ := ParseVersion("1.0.0+build.2")
	if a.Compare(b) != 0 {
		t.Error("build metadata changed the order")
	}
}

func advisory(t *testing.T, affected string) *Advisory {
	t.Helper()
	a, err := ParseAdvisory([]byte(`{"id": "TEST-1", "modified": "2025-01-01T00:00:00Z", "affected": [` + affected + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestAdvisoryMatch: OSV's evaluation of ranges and explicit versions.
func TestAdvisoryMatch(t *testing.T) {
	const mod = "example.com/m"
	pkg := `"package": {"ecosystem": "Go", "name": "example.com/m"}`
	for _, tc := range []struct {
		name     string
		affected string
		version  string
		hit      bool
		fixed    []string
	}{
		{"introduced 0, fixed above", pkg + `, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.5.0"}]}]`, "v1.4.9", true, []string{"1.5.0"}},
		{"at the fix", pkg + `, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.5.0"}]}]`, "v1.5.0", false, nil},
		{"before introduced", pkg + `, "ranges": [{"type": "SEMVER", "events": [{"introduced": "1.2.0"}, {"fixed": "1.5.0"}]}]`, "v1.1.0", false, nil},
		{"two spans, in the second", pkg + `, "ranges": [{"type": "SEMVER", "events": [{"introduced": "1.0.0"}, {"fixed": "1.5.0"}, {"introduced": "2.0.0"}, {"fixed": "2.3.0"}]}]`, "v2.1.0", true, []string{"2.3.0"}},
		{"two spans, between them", pkg + `, "ranges": [{"type": "SEMVER", "events": [{"introduced": "2.0.0"}, {"fixed": "2.3.0"}, {"introduced": "1.0.0"}, {"fixed": "1.5.0"}]}]`, "v1.7.0", false, nil},
		{"two spans, in the first: the next fix", pkg + `, "ranges": [{"type": "SEMVER", "events": [{"introduced": "1.0.0"}, {"fixed": "1.5.0"}, {"introduced": "2.0.0"}, {"fixed": "2.3.0"}]}]`, "v1.2.0", true, []string{"1.5.0"}},
		{"last_affected, at it", pkg + `, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"last_affected": "1.2.0"}]}]`, "v1.2.0", true, nil},
		{"last_affected, above it", pkg + `, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"last_affected": "1.2.0"}]}]`, "v1.2.1", false, nil},
		{"limit", pkg + `, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"limit": "1.0.0"}]}]`, "v1.0.0", false, nil},
		{"pseudo-version before the fix", pkg + `, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "0.1.0"}]}]`, "v0.0.0-20240101120000-abcdef123456", true, []string{"0.1.0"}},
		{"explicit version", pkg + `, "versions": ["1.3.0"]`, "v1.3.0", true, nil},
		{"GIT range ignored", pkg + `, "ranges": [{"type": "GIT", "repo": "https://x", "events": [{"introduced": "0"}]}]`, "v1.0.0", false, nil},
		{"another module", `"package": {"ecosystem": "Go", "name": "example.com/other"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]`, "v1.0.0", false, nil},
		{"another ecosystem", `"package": {"ecosystem": "npm", "name": "example.com/m"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]`, "v1.0.0", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := advisory(t, "{"+tc.affected+"}").Match(EcosystemGo, mod, tc.version)
			if err != nil {
				t.Fatal(err)
			}
			if m.Affected != tc.hit || !slices.Equal(m.Fixed, tc.fixed) {
				t.Errorf("Match(%s) = %v fixed %v, want %v fixed %v", tc.version, m.Affected, m.Fixed, tc.hit, tc.fixed)
			}
		})
	}
	if _, err := advisory(t, `{`+pkg+`, "ranges": [{"type": "SEMVER", "events": [{"introduced": "x.y"}]}]}`).Match(EcosystemGo, mod, "v1.0.0"); err == nil {
		t.Error("a range that is not semver was judged")
	}
}

func TestParseAdvisoryRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		notOSV   bool
	}{
		{"array (an index file)", `[{"path": "x"}]`, true},
		{"object without id", `{"modified": "2025-01-01T00:00:00Z"}`, true},
		{"broken JSON", `{"id": "X"`, false},
		{"affected of the wrong type", `{"id": "X", "affected": "all"}`, false},
		{"event with two kinds", `{"id": "X", "affected": [{"ranges": [{"type": "SEMVER", "events": [{"introduced": "0", "fixed": "1.0.0"}]}]}]}`, false},
		{"empty id", `{"id": " "}`, false},
	} {
		_, err := ParseAdvisory([]byte(tc.in))
		if err == nil || errors.Is(err, ErrNotOSV) != tc.notOSV {
			t.Errorf("%s: err %v, want not-OSV %v", tc.name, err, tc.notOSV)
		}
	}
}

func TestParseSecurityTxt(t *testing.T) {
	in := "# comment\r\nContact: mailto:sec@example.com\r\ncontact: https://example.com/report\r\nContact: http://example.com/old\r\n" +
		"Expires: 2030-01-02T03:04:05.000Z\r\nPolicy: https://example.com/policy\r\nEncryption: openpgp4fpr:5f2de5521c63a801ab59ccb603d49de44b29100f\r\n" +
		"not a field\r\nPreferred-Languages: en\r\nPreferred-Languages: de\r\n"
	s, err := ParseSecurityTxt([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Contacts(); !slices.Equal(got, []string{"mailto:sec@example.com", "https://example.com/report"}) {
		t.Errorf("contacts %v", got)
	}
	if got := s.Policies(); !slices.Equal(got, []string{"https://example.com/policy"}) {
		t.Errorf("policies %v", got)
	}
	if want := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC); !s.Expires.Equal(want) {
		t.Errorf("expires %v", s.Expires)
	}
	joined := strings.Join(s.Problems, "; ")
	for _, want := range []string{"line 8 is neither a field", "Contact \"http://example.com/old\" is a web URI without https", "Preferred-Languages appears 2 times"} {
		if !strings.Contains(joined, want) {
			t.Errorf("problems %q lack %q", joined, want)
		}
	}
	if s.Signed {
		t.Error("an unsigned file reads as signed")
	}
	for name, bad := range map[string]string{
		"NUL bytes":             "Contact: mailto:a@b\x00",
		"over the limit":        strings.Repeat("#", MaxSecurityTxt+1),
		"broken signed message": "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nContact: mailto:a@b\n",
	} {
		if _, err := ParseSecurityTxt([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseSBOM(t *testing.T) {
	cdx14 := `{"bomFormat": "CycloneDX", "specVersion": "1.4", "metadata": {"tools": [{"vendor": "CycloneDX", "name": "cyclonedx-gomod", "version": "v1.4.0"}],
  "component": {"name": "example.com/app", "purl": "pkg:golang/example.com/app@v1.0.0?type=module"}},
  "components": [{"name": "github.com/a/b", "version": "v1.2.3", "purl": "pkg:golang/github.com/a/b@v1.2.3?type=module#sub",
    "components": [{"name": "nested", "purl": "pkg:golang/golang.org/x/net@v0.1.0"}]}, {"name": "left-pad", "version": "1.0.0"}]}`
	s, err := ParseSBOM([]byte(cdx14))
	if err != nil {
		t.Fatal(err)
	}
	var mods []string
	for _, c := range append(s.Components, *s.Subject) {
		if p, v, ok := c.Module(); ok {
			mods = append(mods, p+"@"+v)
		}
	}
	if want := []string{"github.com/a/b@v1.2.3", "golang.org/x/net@v0.1.0", "example.com/app@v1.0.0"}; !slices.Equal(mods, want) {
		t.Errorf("modules %v, want %v", mods, want)
	}
	if s.Format != FormatCycloneDX || !slices.Equal(s.Tools, []string{"CycloneDX cyclonedx-gomod v1.4.0"}) {
		t.Errorf("format %s tools %v", s.Format, s.Tools)
	}
	for name, bad := range map[string]string{
		"SPDX 3":          `{"spdxVersion": "SPDX-3.0"}`,
		"no format":       `{"components": []}`,
		"wrong type":      `{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": {"a": 1}}`,
		"no spec version": `{"bomFormat": "CycloneDX", "components": []}`,
		"a list":          `[]`,
		"deep nesting":    `{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [` + strings.Repeat(`{"name": "x", "components": [`, 40) + strings.Repeat(`]}`, 40) + `]}`,
	} {
		if _, err := ParseSBOM([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseSupport(t *testing.T) {
	s, err := ParseSupport([]byte(`{"product": "p", "support_end": "2030-12-31", "supported_lines": [{"line": "1"}, {"line": "1.4", "until": "2027-06-30"}, {"line": "2.0.x"}, {"line": "3.1.4"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		version, line string
	}{{"1.4.9", "1.4"}, {"1.7.0", "1"}, {"2.0.3", "2.0.x"}, {"3.1.4", "3.1.4"}, {"3.1.5", ""}, {"2.1.0", ""}} {
		v, _ := ParseVersion(tc.version)
		l, ok := s.LineOf(v)
		if (tc.line == "") == ok || (ok && l.Line != tc.line) {
			t.Errorf("LineOf(%s) = %q %v, want %q", tc.version, l.Line, ok, tc.line)
		}
	}
	if end := s.Ends(s.Lines[1]); end.Format(time.DateOnly) != "2027-06-30" {
		t.Errorf("line 1.4 ends %v", end)
	}
	if !Passed(s.SupportEnd, time.Date(2031, 1, 1, 0, 0, 1, 0, time.UTC)) || Passed(s.SupportEnd, time.Date(2030, 12, 31, 23, 0, 0, 0, time.UTC)) {
		t.Error("the last day of support is not covered exactly")
	}
	m, err := ParseSupport([]byte(`{}`))
	if err != nil || !slices.Equal(m.Missing, []string{"support_end", "supported_lines"}) {
		t.Errorf("empty declaration: %v %v", m, err)
	}
	for name, bad := range map[string]string{
		"unknown field":  `{"support_end": "2030-12-31", "eol": "2030"}`,
		"bad date":       `{"support_end": "31.12.2030"}`,
		"bad line":       `{"supported_lines": [{"line": "latest"}]}`,
		"two values":     `{} {}`,
		"wrong type":     `{"supported_lines": "1.4"}`,
		"impossible day": `{"support_end": "2030-02-30"}`,
	} {
		if _, err := ParseSupport([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestStdLibVersion(t *testing.T) {
	for in, want := range map[string]string{"go1.22.3": "1.22.3", "go1.21": "1.21.0", "go1.22rc1": "1.22.0-rc.1", "go1.23.0 X:nocoverageredesign": "1.23.0", "devel go1.24-abcdef": ""} {
		got, ok := StdLibVersion(in)
		if got != want || ok != (want != "") {
			t.Errorf("StdLibVersion(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
	for in, want := range map[string]bool{"v0.0.0-20240101120000-abcdef123456": true, "v1.2.4-0.20240101120000-abcdef123456": true, "v1.2.3-pre.0.20240101120000-abcdef123456+dirty": true, "v1.2.3": false, "v1.2.3-rc.1": false} {
		if PseudoVersion(in) != want {
			t.Errorf("PseudoVersion(%q) != %v", in, want)
		}
	}
	for in, want := range map[string]string{"-X main.version=1.4.2 -s": "1.4.2", "-X=main.version=v2.0.0": "v2.0.0", `-X "main.version=1.0.0"`: "", "-X main.version='1.5.0' -X main.commit=abc": "1.5.0"} {
		m := ldflagsVersion.FindStringSubmatch(in)
		got := ""
		if m != nil {
			got = strings.Trim(m[1], `'"`)
		}
		if got != want {
			t.Errorf("ldflags %q: version %q, want %q", in, got, want)
		}
	}
}
