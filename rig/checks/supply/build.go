package supply

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Build is what a Go binary's build information says about what it holds.
type Build struct {
	GoVersion string   // go1.25.1
	Main      Module   // the main module; Version is "(devel)" for a build outside a tagged checkout
	Modules   []Module // the dependencies linked in, as built (a replacement in place of its original)
	// LdflagsVersion is the X main.version=… the build set with -ldflags, "" when none.
	LdflagsVersion string
}

// Module is one module of a build.
type Module struct {
	Path    string `json:"path"`
	Version string `json:"version"`
	// Replaces is the module path a replacement stands in for ("" when not a replacement).
	Replaces string `json:"replaces,omitempty"`
}

// ReadBuild reads the build information of a Go binary (debug/buildinfo.Read on r).
func ReadBuild(r io.ReaderAt) (*Build, error) {
	bi, err := buildinfo.Read(r)
	if err != nil {
		return nil, err
	}
	b := &Build{GoVersion: bi.GoVersion, Main: Module{Path: bi.Main.Path, Version: bi.Main.Version}}
	for _, d := range bi.Deps {
		m := Module{Path: d.Path, Version: d.Version}
		if d.Replace != nil {
			m = Module{Path: d.Replace.Path, Version: d.Replace.Version, Replaces: d.Path}
		}
		b.Modules = append(b.Modules, m)
	}
	for _, s := range bi.Settings {
		if s.Key == "-ldflags" {
			if m := ldflagsVersion.FindStringSubmatch(s.Value); m != nil {
				b.LdflagsVersion = strings.Trim(m[1], `'"`)
			}
		}
	}
	if b.Main.Path == "" {
		return nil, errors.New("the build information names no main module (a binary built outside module mode?)")
	}
	return b, nil
}

// ldflagsVersion finds -X main.version=VALUE (also -X=main.version=VALUE) in the -ldflags.
var ldflagsVersion = regexp.MustCompile(`-X[= ]main\.version=("[^"]*"|'[^']*'|\S+)`)

// StdLibVersion turns the toolchain's version (go1.22.3, go1.21, go1.22rc1) into the semantic
// version OSV's Go ecosystem gives the standard library (1.22.3, 1.21.0, 1.22.0-rc.1). ok is
// false for a toolchain version it cannot read (a development toolchain).
func StdLibVersion(goVersion string) (string, bool) {
	m := goRelease.FindStringSubmatch(goVersion)
	if m == nil {
		return "", false
	}
	v := m[1] + "." + m[2]
	if m[3] != "" {
		v += "." + m[3]
	} else {
		v += ".0"
	}
	if m[4] != "" {
		v += fmt.Sprintf("-%s.%s", m[4], m[5])
	}
	return v, true
}

var goRelease = regexp.MustCompile(`^go(\d+)\.(\d+)(?:\.(\d+))?(?:(rc|beta)(\d+))?(?:\s.*|[+-].*)?$`)

// PseudoVersion reports whether a module version is a Go pseudo-version (a commit, not a tag:
// v0.0.0-20240101120000-abcdef123456 and its variants).
func PseudoVersion(v string) bool { return pseudo.MatchString(v) }

var pseudo = regexp.MustCompile(`(^|[-.])(0\.)?\d{14}-[0-9a-f]{12}(\+.*)?$`)
