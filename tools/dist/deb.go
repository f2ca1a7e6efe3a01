package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
)

// Package is what the rig's Debian package is made of.
const (
	pkgName     = "rig"
	serviceUser = "rig-gateway" // created by deploy/debian/postinst; gateway.service's User=
)

// entry is one file of the package: where it comes from (relative to the repository root, or
// absolute) and where it goes.
type entry struct {
	src, dst string
	mode     os.FileMode
	config   bool // a conffile under /etc: an administrator's edit survives upgrades
}

// contents lists the package's files for arch. sboms maps a binary's name to its SBOM file.
func contents(o options, arch string, sboms map[string]string) []entry {
	r := func(p string) string { return filepath.Join(o.root, p) }
	d := func(p string) string { return filepath.Join(o.dir, p) }
	es := []entry{
		{d("rig-linux-" + arch), "/usr/bin/rig", 0o755, false},
		{d("gateway-linux-" + arch), "/usr/bin/gateway", 0o755, false},
		{d("smoketest-linux-" + arch + ".test"), "/usr/libexec/rig/smoketest", 0o755, false},
		{r("deploy/gateway.service"), "/usr/lib/systemd/system/gateway.service", 0o644, false},
		{r("deploy/99-rig-stm32.rules"), "/usr/lib/udev/rules.d/99-rig-stm32.rules", 0o644, false},
		{r("deploy/gateway.env"), "/etc/rig/gateway.env", 0o644, true},
		{r("deploy/bench.yaml"), "/etc/rig/bench.yaml", 0o644, true},
		{r("README.md"), "/usr/share/doc/rig/README.md", 0o644, false},
		{r("RIG.md"), "/usr/share/doc/rig/RIG.md", 0o644, false},
		{sboms["rig"], "/usr/share/doc/rig/sbom/rig.cdx.json", 0o644, false},
		{sboms["gateway"], "/usr/share/doc/rig/sbom/gateway.cdx.json", 0o644, false},
		{sboms["smoketest"], "/usr/share/doc/rig/sbom/smoketest.cdx.json", 0o644, false},
	}
	// The pages RIG.md links to, beside it, so its relative links hold in /usr/share/doc/rig.
	pages, _ := filepath.Glob(r(filepath.Join("docs", "*.md"))) // the pattern is valid
	for _, p := range pages {
		es = append(es, entry{p, "/usr/share/doc/rig/docs/" + filepath.Base(p), 0o644, false})
	}
	return es
}

// writeDeb writes the package for arch to out.
func writeDeb(o options, arch, version string, mtime time.Time, sboms map[string]string, out string) error {
	var cs files.Contents
	for _, e := range contents(o, arch, sboms) {
		if _, err := os.Stat(e.src); err != nil {
			return fmt.Errorf("dist: %s for %s: %w", e.dst, arch, err)
		}
		c := &files.Content{Source: e.src, Destination: e.dst, FileInfo: &files.ContentFileInfo{Mode: e.mode, MTime: mtime}}
		if e.config {
			c.Type = files.TypeConfigNoReplace
		}
		cs = append(cs, c)
	}
	// /etc/rig is world-readable: the bench file is read by the operator's rig commands; the
	// secrets (mqtt-password, mode 0600) are the administrator's to add.
	cs = append(cs, &files.Content{Destination: "/etc/rig", Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o755, MTime: mtime}})
	script := func(name string) string { return filepath.Join(o.root, "deploy", "debian", name) }
	info := &nfpm.Info{
		Name:          pkgName,
		Arch:          arch,
		Platform:      "linux",
		Version:       version,
		VersionSchema: "none", // debVersion already made a Debian version of it
		Section:       "misc",
		Priority:      "optional",
		Maintainer:    "pathrig <rig@pathrig.invalid>",
		Homepage:      "https://github.com/pathrig/rig",
		Description: "IoT path audit rig for a Raspberry Pi 5 bench\n" +
			"The rig drives an STM32 over UART and GPIO, runs a reference MQTT broker and\n" +
			"ingest, and writes evidence of each control. This package holds the rig, the\n" +
			"crash-safe gateway and its systemd unit (started when the board's UART\n" +
			"appears, through the udev rule), the hardware smoketest, and the defaults\n" +
			"in /etc/rig.",
		MTime: mtime,
		Overridables: nfpm.Overridables{
			Depends:  []string{"adduser"},
			Suggests: []string{"gpiod", "systemd"},
			Contents: cs,
			Scripts: nfpm.Scripts{
				PostInstall: script("postinst"),
				PreRemove:   script("prerm"),
				PostRemove:  script("postrm"),
			},
		},
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return fmt.Errorf("dist: package for %s: %w", arch, err)
	}
	p, err := nfpm.Get("deb")
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("dist: %w", err)
	}
	if err := p.Package(info, f); err != nil {
		f.Close()
		os.Remove(out)
		return fmt.Errorf("dist: package for %s: %w", arch, err)
	}
	return f.Close()
}
