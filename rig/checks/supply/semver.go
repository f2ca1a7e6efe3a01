// Package supply reads the supplier-side documents of a release that the supplier check judges:
// an RFC 9116 security.txt, a CycloneDX or SPDX SBOM (JSON), the OSV entries of an offline
// vulnerability database, a support declaration, and the build information of a Go binary.
// Every parser takes untrusted bytes, bounds what it keeps, and returns an error instead of
// panicking; each is fuzzed.
package supply

import (
	"strconv"
	"strings"
)

// Version is a semantic version (semver.org 2.0.0): MAJOR.MINOR.PATCH, a pre-release and build
// metadata. Go module versions (v1.2.3, pseudo-versions, +incompatible) and the versions of OSV's
// Go ecosystem (1.2.3) are both read as one.
type Version struct {
	Major, Minor, Patch uint64
	Pre                 []string // pre-release identifiers; empty for a release
	Build               string   // build metadata; ignored in comparisons
}

// ParseVersion reads a semantic version, with or without a leading "v". ok is false for anything
// else (a missing part, a leading zero, an empty identifier).
func ParseVersion(s string) (v Version, ok bool) {
	s = strings.TrimPrefix(s, "v")
	if i := strings.IndexByte(s, '+'); i >= 0 {
		v.Build, s = s[i+1:], s[:i]
		if !identifiers(v.Build, false) {
			return Version{}, false
		}
	}
	if i := strings.IndexByte(s, '-'); i >= 0 {
		pre := s[i+1:]
		s = s[:i]
		if !identifiers(pre, true) {
			return Version{}, false
		}
		v.Pre = strings.Split(pre, ".")
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return Version{}, false
	}
	var nums [3]uint64
	for i, p := range parts {
		n, ok := number(p)
		if !ok {
			return Version{}, false
		}
		nums[i] = n
	}
	v.Major, v.Minor, v.Patch = nums[0], nums[1], nums[2]
	return v, true
}

// number reads a numeric identifier: digits, no leading zero.
func number(p string) (uint64, bool) {
	if p == "" || (len(p) > 1 && p[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(p, 10, 64)
	return n, err == nil
}

// identifiers checks dot-separated identifiers of [0-9A-Za-z-]; numeric pre-release identifiers
// may not have leading zeros.
func identifiers(s string, pre bool) bool {
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		numeric := true
		for i := 0; i < len(id); i++ {
			c := id[i]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-':
				numeric = false
			default:
				return false
			}
		}
		if pre && numeric && len(id) > 1 && id[0] == '0' {
			return false
		}
	}
	return true
}

// Compare orders versions by semver precedence: -1, 0 or +1. Build metadata is ignored.
func (v Version) Compare(w Version) int {
	for _, p := range [][2]uint64{{v.Major, w.Major}, {v.Minor, w.Minor}, {v.Patch, w.Patch}} {
		if p[0] != p[1] {
			if p[0] < p[1] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(v.Pre) == 0 && len(w.Pre) == 0:
		return 0
	case len(v.Pre) == 0:
		return 1 // a release is above its pre-releases
	case len(w.Pre) == 0:
		return -1
	}
	for i := 0; i < len(v.Pre) && i < len(w.Pre); i++ {
		if c := compareIdent(v.Pre[i], w.Pre[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(v.Pre) < len(w.Pre):
		return -1
	case len(v.Pre) > len(w.Pre):
		return 1
	}
	return 0
}

func compareIdent(a, b string) int {
	na, aNum := number(a)
	nb, bNum := number(b)
	switch {
	case aNum && bNum:
		switch {
		case na < nb:
			return -1
		case na > nb:
			return 1
		}
		return 0
	case aNum:
		return -1 // numeric identifiers sort below alphanumeric ones
	case bNum:
		return 1
	}
	return strings.Compare(a, b)
}

// String writes the version without a leading "v".
func (v Version) String() string {
	s := strconv.FormatUint(v.Major, 10) + "." + strconv.FormatUint(v.Minor, 10) + "." + strconv.FormatUint(v.Patch, 10)
	if len(v.Pre) > 0 {
		s += "-" + strings.Join(v.Pre, ".")
	}
	if v.Build != "" {
		s += "+" + v.Build
	}
	return s
}

// Release reports whether v is a release: no pre-release part. A Go pseudo-version
// (v0.0.0-20240101120000-abcdef123456) is a pre-release, a development build.
func (v Version) Release() bool { return len(v.Pre) == 0 }
