package main

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/CycloneDX/cyclonedx-gomod/pkg/generate/bin"
	"github.com/google/uuid"
	"github.com/package-url/packageurl-go"
	"github.com/rs/zerolog"
)

// cyclonedxGomod is the library version that writes the SBOMs (go.mod pins it).
const cyclonedxGomod = "v1.10.0"

// writeSBOM writes the CycloneDX JSON SBOM of the Go binary at path to out: the main module, every
// module linked in (with version, purl and hash from the build information) and the standard
// library, as cyclonedx-gomod's bin mode does. The serial number derives from the binary's
// SHA-256 and the timestamp is the commit's, so the same binary gives the same SBOM.
//
// A test binary (`go test -c`: the smoketest) records no module list in its build information, so
// linked names the modules it links instead (goListModules); they are added as components and the
// SBOM says so in the property rig:dist:modules-from. nil: the build information's list.
func writeSBOM(path, out, version string, when time.Time, linked []debug.Module) error {
	g, err := bin.NewGenerator(path,
		bin.WithIncludeStdlib(true),
		bin.WithLogger(zerolog.Nop()),
		bin.WithVersionOverride(version))
	if err != nil {
		return fmt.Errorf("dist: sbom of %s: %w", path, err)
	}
	bom, err := g.Generate()
	if err != nil {
		return fmt.Errorf("dist: sbom of %s: %w", path, err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("dist: sbom of %s: %w", path, err)
	}
	sum := sha256.Sum256(raw)
	bom.SerialNumber = uuid.NewSHA1(uuid.NameSpaceURL, sum[:]).URN()
	bom.Metadata.Timestamp = when.UTC().Format(time.RFC3339)
	bom.Metadata.Tools = &cdx.ToolsChoice{Components: &[]cdx.Component{{
		Type: cdx.ComponentTypeApplication, Group: "github.com/CycloneDX", Name: "cyclonedx-gomod", Version: cyclonedxGomod,
		PackageURL: "pkg:golang/github.com/CycloneDX/cyclonedx-gomod@" + cyclonedxGomod,
	}}}
	if linked != nil {
		addModules(bom, linked)
	}
	var b bytes.Buffer
	if err := cdx.NewBOMEncoder(&b, cdx.BOMFileFormatJSON).SetPretty(true).Encode(bom); err != nil {
		return fmt.Errorf("dist: sbom of %s: %w", path, err)
	}
	if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("dist: %w", err)
	}
	// The SBOM is only worth shipping if it is complete: check it against the binary itself.
	return checkSBOM(path, out, linked)
}

// addModules adds each module as a required library component the main component depends on.
func addModules(bom *cdx.BOM, mods []debug.Module) {
	comps := []cdx.Component{}
	if bom.Components != nil {
		comps = *bom.Components
	}
	var refs []string
	for _, m := range mods {
		p := "pkg:golang/" + m.Path + "@" + m.Version + "?type=module"
		comps = append(comps, cdx.Component{BOMRef: p, Type: cdx.ComponentTypeLibrary, Name: m.Path, Version: m.Version, Scope: cdx.ScopeRequired, PackageURL: p})
		refs = append(refs, p)
	}
	bom.Components = &comps
	deps := []cdx.Dependency{}
	if bom.Dependencies != nil {
		deps = *bom.Dependencies
	}
	main := bom.Metadata.Component.BOMRef
	found := false
	for i := range deps {
		if deps[i].Ref == main {
			all := refs
			if deps[i].Dependencies != nil {
				all = append(append([]string(nil), *deps[i].Dependencies...), refs...)
			}
			deps[i].Dependencies = &all
			found = true
		}
	}
	if !found {
		deps = append(deps, cdx.Dependency{Ref: main, Dependencies: &refs})
	}
	for _, r := range refs {
		deps = append(deps, cdx.Dependency{Ref: r})
	}
	bom.Dependencies = &deps
	props := []cdx.Property{}
	if bom.Metadata.Properties != nil {
		props = *bom.Metadata.Properties
	}
	props = append(props, cdx.Property{Name: "rig:dist:modules-from", Value: "go list -deps -test (a test binary's build information lists no modules)"})
	bom.Metadata.Properties = &props
}

// goListModules lists the modules (not the main one) of the packages that `go test -c pkg` links
// for linux/arch, as the go command resolves them in the module at root.
func goListModules(root, arch, pkg string) ([]debug.Module, error) {
	cmd := exec.Command("go", "list", "-deps", "-test", "-f", `{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}}{{with .Replace}} {{.Path}} {{.Version}}{{end}}{{end}}{{end}}`, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return nil, fmt.Errorf("dist: go list -deps -test %s: %w", pkg, err)
	}
	seen := map[string]bool{}
	var mods []debug.Module
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m := debug.Module{Path: f[0], Version: f[1]}
		if len(f) == 4 {
			m = debug.Module{Path: f[2], Version: f[3]}
		}
		if !seen[m.Path] {
			seen[m.Path] = true
			mods = append(mods, m)
		}
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].Path < mods[j].Path })
	return mods, nil
}

// checkSBOM reads the build information of the binary at path (debug/buildinfo, what
// `go version -m` prints) and the SBOM at sbomPath, and fails unless every module the binary links
// is a component of the SBOM with its version and a Go purl (pkg:golang/PATH@VERSION, whatever
// its qualifiers).
//
// linked, when not nil, is the module list to hold the SBOM to instead (a test binary's).
func checkSBOM(binPath, sbomPath string, linked []debug.Module) error {
	bi, err := buildinfo.ReadFile(binPath)
	if err != nil {
		return fmt.Errorf("dist: build information of %s: %w", binPath, err)
	}
	want := modules(bi)
	if linked != nil {
		want = linked
	}
	f, err := os.Open(sbomPath)
	if err != nil {
		return fmt.Errorf("dist: %w", err)
	}
	defer f.Close()
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(f, cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return fmt.Errorf("dist: %s: not CycloneDX JSON: %w", sbomPath, err)
	}
	named, purls := map[string]bool{}, map[string]bool{}
	if bom.Components != nil {
		for _, c := range *bom.Components {
			named[c.Name+"@"+c.Version] = true
			if p, err := packageurl.FromString(c.PackageURL); err == nil && p.Type == packageurl.TypeGolang {
				// The purl spec lower-cases a golang purl's namespace (github.com/alekSi/…).
				purls[strings.ToLower(path.Join(p.Namespace, p.Name))+"@"+p.Version] = true
			}
		}
	}
	var missing []string
	for _, m := range want {
		if id := m.Path + "@" + m.Version; !named[id] || !purls[strings.ToLower(m.Path)+"@"+m.Version] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("dist: %s lacks %d modules that %s links: %v", filepath.Base(sbomPath), len(missing), filepath.Base(binPath), missing)
	}
	return nil
}

// modules lists the modules a binary links as its build information names them (a replaced
// module by its replacement), sorted by path.
func modules(bi *debug.BuildInfo) []debug.Module {
	var out []debug.Module
	for _, d := range bi.Deps {
		m := *d
		if d.Replace != nil {
			m = *d.Replace
		}
		out = append(out, debug.Module{Path: m.Path, Version: m.Version})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
