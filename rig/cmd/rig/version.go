package main

import (
	"runtime"
	"runtime/debug"
)

// commit and date are set with -ldflags "-X main.commit=... -X main.date=..." by the Makefile;
// without them the build's VCS stamp is used when there is one.
var commit, date string

// versionInfo is what `rig version --json` prints.
type versionInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"` // full revision; "unknown" without ldflags or a VCS stamp
	Date    string `json:"date"`   // commit time, RFC 3339; "unknown" likewise
	Go      string `json:"go"`
}

func buildVersion() versionInfo {
	v := versionInfo{Version: version, Commit: commit, Date: date, Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && v.Commit == "":
				v.Commit = s.Value
			case s.Key == "vcs.time" && v.Date == "":
				v.Date = s.Value
			}
		}
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	if v.Date == "" {
		v.Date = "unknown"
	}
	return v
}
