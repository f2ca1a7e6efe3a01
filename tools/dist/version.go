package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// rigVersion is what `rig version --json` prints.
type rigVersion struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
	Go      string `json:"go"`
}

// readVersion runs the host's rig binary: the package's version is the rig's own account of itself.
func readVersion(rig string) (rigVersion, error) {
	out, err := exec.Command(rig, "version", "--json").Output()
	if err != nil {
		return rigVersion{}, fmt.Errorf("dist: %s version --json: %w (build the host's architecture too: the package version comes from it)", rig, err)
	}
	var v rigVersion
	if err := json.Unmarshal(out, &v); err != nil {
		return rigVersion{}, fmt.Errorf("dist: %s version --json: %w", rig, err)
	}
	if v.Version == "" {
		return rigVersion{}, fmt.Errorf("dist: %s version --json: no version in %s", rig, out)
	}
	return v, nil
}

var (
	releaseTag = regexp.MustCompile(`^v?([0-9]+\.[0-9]+\.[0-9]+)(?:-([0-9A-Za-z.]+))?$`)
	hexRev     = regexp.MustCompile(`^[0-9a-f]{7,40}$`)
)

// debVersion maps a rig version onto a Debian version that sorts the way releases do: a tag
// v1.2.3 is 1.2.3 (v1.2.3-rc1 is 1.2.3~rc1, before 1.2.3); anything else (git describe's bare
// hash, "dev") is a snapshot 0.0.0~gitYYYYMMDDhhmmss.<12 hex digits of the commit>, ordered by commit
// time, and a build from a modified tree (-dirty) gets +dirty.
func debVersion(v rigVersion) (string, error) {
	ver, dirty := strings.CutSuffix(v.Version, "-dirty")
	if m := releaseTag.FindStringSubmatch(ver); m != nil {
		s := m[1]
		if m[2] != "" {
			s += "~" + m[2]
		}
		if dirty {
			s += "+dirty"
		}
		return s, nil
	}
	if !hexRev.MatchString(v.Commit) {
		return "", fmt.Errorf("dist: rig version %q is no release tag and its commit %q is no git revision: build with `make dist` from a git checkout", v.Version, v.Commit)
	}
	t, err := time.Parse(time.RFC3339, v.Date)
	if err != nil {
		return "", fmt.Errorf("dist: rig version's date %q: %w", v.Date, err)
	}
	s := fmt.Sprintf("0.0.0~git%s.%s", t.UTC().Format("20060102150405"), v.Commit[:min(12, len(v.Commit))])
	if dirty {
		s += "+dirty"
	}
	return s, nil
}
