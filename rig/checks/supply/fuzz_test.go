package supply

import (
	"testing"
	"time"
)

// The parsers take bytes from a vendor's web site, an SBOM, a vulnerability database and a
// support declaration: none may panic, and what they return must hold together. The seed
// corpora are under testdata/fuzz; make fuzz runs each target.

func FuzzSecurityTxt(f *testing.F) {
	f.Add([]byte("Contact: mailto:security@example.com\nExpires: 2030-01-01T00:00:00Z\nPolicy: https://example.com/p\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSecurityTxt(b)
		if err != nil {
			return
		}
		if len(s.Problems) > maxProblems {
			t.Fatalf("%d problems, over the bound", len(s.Problems))
		}
		if len(s.Contacts()) > len(s.Fields["contact"]) || len(s.Policies()) > len(s.Fields["policy"]) {
			t.Fatal("more valid values than values")
		}
		if !s.Expires.IsZero() && len(s.Fields["expires"]) != 1 {
			t.Fatal("an Expires read from a file that has none or several")
		}
	})
}

func FuzzSBOM(f *testing.F) {
	f.Add([]byte(`{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [{"name": "github.com/a/b", "version": "v1.0.0", "purl": "pkg:golang/github.com/a/b@v1.0.0"}]}`))
	f.Add([]byte(`{"spdxVersion": "SPDX-2.3", "packages": [{"name": "golang.org/x/net", "versionInfo": "v0.1.0"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSBOM(b)
		if err != nil {
			return
		}
		if s.Format != FormatCycloneDX && s.Format != FormatSPDX {
			t.Fatalf("format %q", s.Format)
		}
		if len(s.Components) > maxComponents {
			t.Fatalf("%d components, over the bound", len(s.Components))
		}
		for _, c := range s.Components {
			if p, _, ok := c.Module(); ok && p == "" {
				t.Fatal("a module without a path")
			}
		}
	})
}

func FuzzAdvisory(f *testing.F) {
	f.Add([]byte(`{"id": "GO-1", "affected": [{"package": {"ecosystem": "Go", "name": "m"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.2.0"}]}]}]}`), "v1.1.0")
	f.Add([]byte(`[]`), "v0.0.0-20240101120000-abcdef123456")
	f.Fuzz(func(t *testing.T, b []byte, version string) {
		a, err := ParseAdvisory(b)
		if err != nil {
			if a != nil {
				t.Fatal("an advisory with an error")
			}
			return
		}
		if a.ID == "" {
			t.Fatal("an advisory without an id")
		}
		for _, af := range a.Affected {
			m, err := a.Match(af.Package.Ecosystem, af.Package.Name, version)
			if err != nil {
				continue
			}
			v, _ := ParseVersion(version)
			for _, fx := range m.Fixed {
				fv, ok := ParseVersion(fx)
				if !ok || fv.Compare(v) <= 0 {
					t.Fatalf("fixed %q is not above %q", fx, version)
				}
			}
		}
	})
}

func FuzzVersion(f *testing.F) {
	for _, s := range []string{"1.2.3", "v0.0.0-20240101120000-abcdef123456", "1.0.0-rc.1+build", "01.0.0", "1.0.0-"} {
		f.Add(s, "1.2.3")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		va, okA := ParseVersion(a)
		vb, okB := ParseVersion(b)
		if okA {
			again, ok := ParseVersion(va.String())
			if !ok || again.Compare(va) != 0 || again.String() != va.String() {
				t.Fatalf("%q does not read back as itself (%q)", a, va.String())
			}
		}
		if okA && okB && va.Compare(vb) != -vb.Compare(va) {
			t.Fatalf("Compare(%q, %q) is not antisymmetric", a, b)
		}
	})
}

func FuzzSupport(f *testing.F) {
	f.Add([]byte(`{"product": "p", "support_end": "2030-12-31", "supported_lines": [{"line": "1.4", "until": "2027-06-30"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSupport(b)
		if err != nil {
			return
		}
		if len(s.Lines) > maxLines {
			t.Fatalf("%d lines, over the bound", len(s.Lines))
		}
		for _, l := range s.Lines {
			if len(l.parts) == 0 || len(l.parts) > 3 {
				t.Fatalf("line %q has %d parts", l.Line, len(l.parts))
			}
		}
		_ = Passed(s.SupportEnd, time.Now())
	})
}
