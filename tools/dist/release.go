package main

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"time"

	"github.com/pathrig/rig/rig/manifest"
)

// smoketestPkg is the package `make dist` compiles into smoketest-linux-ARCH.test.
const smoketestPkg = "./rig/bench/smoketest"

// sumsFile is the release's checksum file; its signature is sumsFile+manifest.SigSuffix.
const sumsFile = "SHA256SUMS"

// release is what build wrote, for the closing summary.
type release struct {
	version string
	files   []string // relative to the release folder, sorted
	signed  bool
	dir     string
}

func (r release) print(w io.Writer) {
	fmt.Fprintf(w, "release %s in %s:\n", r.version, r.dir)
	for _, f := range r.files {
		fmt.Fprintf(w, "  %s\n", f)
	}
	fmt.Fprintf(w, "  %s\n", sumsFile)
	if r.signed {
		fmt.Fprintf(w, "  %s%s (ed25519; check: rig verify --pub-key PUB.pem %s)\n", sumsFile, manifest.SigSuffix, filepath.Join(r.dir, sumsFile))
	} else {
		fmt.Fprintf(w, "note: %s is not signed (no DIST_SIGN_KEY): name an ed25519 key, make dist DIST_SIGN_KEY=KEY.pem, to sign it\n", sumsFile)
	}
}

// build makes the release in o.dir from the binaries already there. hostArch picks the rig
// binary that is run for the version.
func build(o options, hostArch string) (release, error) {
	rel := release{dir: o.dir}
	var key ed25519.PrivateKey
	if o.signKey != "" {
		k, err := manifest.LoadPrivateKey(o.signKey)
		if err != nil {
			return rel, usageError{fmt.Errorf("dist: -sign-key: %w", err)}
		}
		key = k
	}
	if !slices.Contains(o.arches, hostArch) {
		return rel, usageError{fmt.Errorf("dist: -arches %v lacks this machine's %s: the package version is read from that rig binary", o.arches, hostArch)}
	}
	v, err := readVersion(filepath.Join(o.dir, "rig-linux-"+hostArch))
	if err != nil {
		return rel, err
	}
	if rel.version, err = debVersion(v); err != nil {
		return rel, err
	}
	mtime, err := time.Parse(time.RFC3339, v.Date)
	if err != nil {
		mtime = time.Now()
	}
	for _, arch := range o.arches {
		bins := map[string]string{
			"rig":       "rig-linux-" + arch,
			"gateway":   "gateway-linux-" + arch,
			"smoketest": "smoketest-linux-" + arch + ".test",
		}
		// The smoketest is a test binary: its build information lists no modules (see writeSBOM).
		smokeMods, err := goListModules(o.root, arch, smoketestPkg)
		if err != nil {
			return rel, err
		}
		linked := map[string][]debug.Module{"smoketest": smokeMods}
		sboms := map[string]string{}
		for _, name := range []string{"rig", "gateway", "smoketest"} {
			b := bins[name]
			out := b + ".cdx.json"
			if err := writeSBOM(filepath.Join(o.dir, b), filepath.Join(o.dir, out), rel.version, mtime, linked[name]); err != nil {
				return rel, err
			}
			sboms[name] = filepath.Join(o.dir, out)
			rel.files = append(rel.files, b, out)
		}
		deb := fmt.Sprintf("%s_%s_%s.deb", pkgName, rel.version, arch)
		if err := writeDeb(o, arch, rel.version, mtime, sboms, filepath.Join(o.dir, deb)); err != nil {
			return rel, err
		}
		rel.files = append(rel.files, deb)
	}
	slices.Sort(rel.files)
	if err := manifest.WriteSums(filepath.Join(o.dir, sumsFile), rel.files, key); err != nil {
		return rel, err
	}
	rel.signed = key != nil
	if _, err := os.Stat(filepath.Join(o.dir, sumsFile+manifest.SigSuffix)); (err == nil) != rel.signed {
		return rel, fmt.Errorf("dist: %s%s present = %v, want %v", sumsFile, manifest.SigSuffix, err == nil, rel.signed)
	}
	return rel, nil
}
