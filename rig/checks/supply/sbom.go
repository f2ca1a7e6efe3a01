package supply

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// SBOM formats.
const (
	FormatCycloneDX = "CycloneDX"
	FormatSPDX      = "SPDX"
)

// maxComponents bounds what an SBOM may list (a large Go service lists a few hundred modules).
const maxComponents = 100000

// maxNesting bounds how deep CycloneDX components may nest.
const maxNesting = 32

// SBOM is what the supplier check reads of a software bill of materials.
type SBOM struct {
	Format      string // FormatCycloneDX or FormatSPDX
	SpecVersion string // e.g. 1.5, SPDX-2.3
	Tools       []string
	// Subject is the component the SBOM describes (CycloneDX metadata.component, SPDX's
	// documentDescribes), when it names one.
	Subject    *Component
	Components []Component
}

// Component is one listed component.
type Component struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	PURL    string `json:"purl,omitempty"`
}

// Module returns the Go module a component names: from a pkg:golang package URL, else its
// name when it reads as a module path. ok is false for anything else.
func (c Component) Module() (path, version string, ok bool) {
	if p, v, ok := golangPURL(c.PURL); ok {
		if v == "" {
			v = c.Version
		}
		return p, v, true
	}
	if looksLikeModule(c.Name) {
		return c.Name, c.Version, true
	}
	return "", "", false
}

// golangPURL reads pkg:golang/NAMESPACE/NAME@VERSION?QUALIFIERS#SUBPATH.
func golangPURL(purl string) (path, version string, ok bool) {
	rest, found := strings.CutPrefix(purl, "pkg:golang/")
	if !found {
		return "", "", false
	}
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		v, err := url.PathUnescape(rest[i+1:])
		if err != nil {
			return "", "", false
		}
		version, rest = v, rest[:i]
	}
	p, err := url.PathUnescape(rest)
	if err != nil || p == "" {
		return "", "", false
	}
	return p, version, true
}

// looksLikeModule: a first path element with a dot (a host), and a slash: github.com/x/y,
// golang.org/x/net, go.bug.st/serial. "stdlib" and library names are not.
func looksLikeModule(name string) bool {
	host, _, found := strings.Cut(name, "/")
	return found && strings.Contains(host, ".") && !strings.ContainsAny(name, " \t@:")
}

// ParseSBOM reads a CycloneDX JSON or SPDX 2.x JSON document. Anything else, or a document of
// either format with fields of the wrong type, is an error naming what was expected.
func ParseSBOM(b []byte) (*SBOM, error) {
	if !json.Valid(b) {
		return nil, errors.New("not JSON: the SBOM must be CycloneDX JSON or SPDX JSON")
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, errors.New("not a JSON object: the SBOM must be a CycloneDX or SPDX JSON document")
	}
	var head struct {
		BOMFormat   string `json:"bomFormat"`
		SPDXVersion string `json:"spdxVersion"`
	}
	// Each field is read on its own: a wrong type in one is named, not a reason to miss the other.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, fmt.Errorf("SBOM: %w", err)
	}
	_ = json.Unmarshal(fields["bomFormat"], &head.BOMFormat)
	_ = json.Unmarshal(fields["spdxVersion"], &head.SPDXVersion)
	switch {
	case head.BOMFormat == "CycloneDX":
		return parseCycloneDX(b)
	case strings.HasPrefix(head.SPDXVersion, "SPDX-2."):
		return parseSPDX(b)
	case head.SPDXVersion != "":
		return nil, fmt.Errorf("SPDX version %q: the rig reads SPDX 2.x JSON", head.SPDXVersion)
	}
	return nil, errors.New(`neither CycloneDX JSON ("bomFormat": "CycloneDX") nor SPDX JSON ("spdxVersion": "SPDX-2.x")`)
}

type cdxComponent struct {
	Name       string         `json:"name"`
	Version    string         `json:"version"`
	PURL       string         `json:"purl"`
	Components []cdxComponent `json:"components"`
}

func parseCycloneDX(b []byte) (*SBOM, error) {
	var doc struct {
		SpecVersion string `json:"specVersion"`
		Metadata    struct {
			Component *cdxComponent   `json:"component"`
			Tools     json.RawMessage `json:"tools"`
		} `json:"metadata"`
		Components []cdxComponent `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("CycloneDX: %w", err)
	}
	s := &SBOM{Format: FormatCycloneDX, SpecVersion: doc.SpecVersion}
	if doc.SpecVersion == "" {
		return nil, errors.New("CycloneDX: specVersion missing")
	}
	s.Tools = cdxTools(doc.Metadata.Tools)
	if c := doc.Metadata.Component; c != nil {
		s.Subject = &Component{Name: c.Name, Version: c.Version, PURL: c.PURL}
	}
	var walk func(cs []cdxComponent, depth int) error
	walk = func(cs []cdxComponent, depth int) error {
		if depth > maxNesting {
			return fmt.Errorf("CycloneDX: components nest more than %d deep", maxNesting)
		}
		for _, c := range cs {
			if len(s.Components) >= maxComponents {
				return fmt.Errorf("CycloneDX: more than %d components", maxComponents)
			}
			s.Components = append(s.Components, Component{Name: c.Name, Version: c.Version, PURL: c.PURL})
			if err := walk(c.Components, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(doc.Components, 0); err != nil {
		return nil, err
	}
	if doc.Metadata.Component != nil {
		if err := walk(doc.Metadata.Component.Components, 1); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// cdxTools reads metadata.tools: a list of tools (CycloneDX 1.4) or {components: [...]} (1.5+).
func cdxTools(raw json.RawMessage) []string {
	type tool struct {
		Vendor  string `json:"vendor"`
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	var list []tool
	if err := json.Unmarshal(raw, &list); err != nil {
		var obj struct {
			Components []tool `json:"components"`
		}
		if json.Unmarshal(raw, &obj) != nil {
			return nil
		}
		list = obj.Components
	}
	var out []string
	for _, t := range list {
		out = append(out, strings.TrimSpace(strings.Join([]string{t.Vendor, t.Name, t.Version}, " ")))
	}
	return out
}

func parseSPDX(b []byte) (*SBOM, error) {
	var doc struct {
		SPDXVersion  string `json:"spdxVersion"`
		CreationInfo struct {
			Creators []string `json:"creators"`
		} `json:"creationInfo"`
		DocumentDescribes []string `json:"documentDescribes"`
		Packages          []struct {
			SPDXID       string `json:"SPDXID"`
			Name         string `json:"name"`
			VersionInfo  string `json:"versionInfo"`
			ExternalRefs []struct {
				Category string `json:"referenceCategory"`
				Type     string `json:"referenceType"`
				Locator  string `json:"referenceLocator"`
			} `json:"externalRefs"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("SPDX: %w", err)
	}
	if len(doc.Packages) > maxComponents {
		return nil, fmt.Errorf("SPDX: more than %d packages", maxComponents)
	}
	s := &SBOM{Format: FormatSPDX, SpecVersion: doc.SPDXVersion}
	for _, c := range doc.CreationInfo.Creators {
		if t, ok := strings.CutPrefix(c, "Tool:"); ok {
			s.Tools = append(s.Tools, strings.TrimSpace(t))
		}
	}
	for _, p := range doc.Packages {
		c := Component{Name: p.Name, Version: p.VersionInfo}
		for _, r := range p.ExternalRefs {
			if r.Type == "purl" && c.PURL == "" {
				c.PURL = r.Locator
			}
		}
		if len(doc.DocumentDescribes) > 0 && p.SPDXID == doc.DocumentDescribes[0] && s.Subject == nil {
			cp := c
			s.Subject = &cp
		}
		s.Components = append(s.Components, c)
	}
	return s, nil
}

// CycloneDX writes a CycloneDX 1.5 JSON SBOM of a Go program: main is the module the SBOM
// describes (metadata.component), mods the modules it holds, tool the generator's name. The
// output is deterministic (no serial number, no timestamp), so a release build reproduces it.
func CycloneDX(main Module, mods []Module, tool string) ([]byte, error) {
	type component struct {
		Type    string `json:"type"`
		BOMRef  string `json:"bom-ref,omitempty"`
		Name    string `json:"name"`
		Version string `json:"version,omitempty"`
		PURL    string `json:"purl,omitempty"`
	}
	purl := func(m Module) string {
		if m.Version == "" || m.Version == "(devel)" {
			return "pkg:golang/" + m.Path + "?type=module"
		}
		return "pkg:golang/" + m.Path + "@" + m.Version + "?type=module"
	}
	version := func(m Module) string {
		if m.Version == "(devel)" {
			return ""
		}
		return m.Version
	}
	doc := struct {
		BOMFormat   string `json:"bomFormat"`
		SpecVersion string `json:"specVersion"`
		Version     int    `json:"version"`
		Metadata    struct {
			Tools struct {
				Components []component `json:"components"`
			} `json:"tools"`
			Component component `json:"component"`
		} `json:"metadata"`
		Components []component `json:"components"`
	}{BOMFormat: "CycloneDX", SpecVersion: "1.5", Version: 1}
	doc.Metadata.Tools.Components = []component{{Type: "application", Name: tool}}
	doc.Metadata.Component = component{Type: "application", BOMRef: purl(main), Name: main.Path, Version: version(main), PURL: purl(main)}
	doc.Components = []component{}
	for _, m := range mods {
		doc.Components = append(doc.Components, component{Type: "library", BOMRef: purl(m), Name: m.Path, Version: m.Version, PURL: purl(m)})
	}
	return json.MarshalIndent(doc, "", "  ")
}
