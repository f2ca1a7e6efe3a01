// Command sbom writes the CycloneDX SBOM of a Go program from its source's module graph: the
// modules `go list -deps` says the package's build links, with their versions (a replacement in
// place of its original). make build runs it for the gateway, writing bin/gateway.cdx.json
// beside bin/gateway, where rig run finds it for SUP-SBOM. The SBOM comes from the source, the
// check reads the binary: the comparison catches a binary built from another tree.
//
//	go run ./tools/sbom -o bin/gateway.cdx.json ./gateway/cmd/gateway
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"

	"github.com/pathrig/rig/rig/checks/supply"
)

type listedModule struct {
	Path    string
	Version string
	Main    bool
	Replace *listedModule
}

func main() {
	out := flag.String("o", "", "the SBOM file to write (default: stdout)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: sbom [-o FILE] PACKAGE\n\nWrites the CycloneDX 1.5 JSON SBOM of the Go program PACKAGE from `go list -deps` (run where go.mod is).\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *out); err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
}

func run(pkg, out string) error {
	cmd := exec.Command("go", "list", "-deps", "-json=Module", pkg)
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go list -deps %s: %w", pkg, err)
	}
	var main supply.Module
	seen := map[string]supply.Module{}
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		var p struct{ Module *listedModule }
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("read go list's output: %w", err)
		}
		m := p.Module
		switch {
		case m == nil: // the standard library
		case m.Main:
			main = supply.Module{Path: m.Path, Version: "(devel)"}
		case m.Replace != nil:
			seen[m.Path] = supply.Module{Path: m.Replace.Path, Version: m.Replace.Version, Replaces: m.Path}
		default:
			seen[m.Path] = supply.Module{Path: m.Path, Version: m.Version}
		}
	}
	if main.Path == "" {
		return fmt.Errorf("%s is not a package of a main module", pkg)
	}
	mods := make([]supply.Module, 0, len(seen))
	for _, m := range seen {
		mods = append(mods, m)
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].Path < mods[j].Path })
	doc, err := supply.CycloneDX(main, mods, "rig tools/sbom (go list -deps)")
	if err != nil {
		return err
	}
	doc = append(doc, '\n')
	if out == "" {
		_, err = os.Stdout.Write(doc)
		return err
	}
	return os.WriteFile(out, doc, 0o644)
}
