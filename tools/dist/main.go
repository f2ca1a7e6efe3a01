// Command dist turns the binaries `make dist` cross-compiled into a release: a Debian package
// per architecture (nfpm as a library) holding rig, the gateway, the hardware smoketest, the
// gateway's systemd unit, the udev rule, the /etc/rig defaults and the maintainer scripts; a
// CycloneDX SBOM of each binary from its build information (cyclonedx-gomod as a library); and
// SHA256SUMS over all of it, signed with an ed25519 key when one is named (the format of a run's
// MANIFEST.sha256.sig, so `rig verify --pub-key PUB dist/SHA256SUMS` checks it).
//
// It is its own Go module so that the packager's dependencies never enter the rig's module graph:
// nothing the rig or the gateway links changes when the packaging does.
//
// Run from the repository root, after the binaries are in -dir:
//
//	dist -dir dist -arches "arm64 amd64" [-sign-key KEY.pem]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dist", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var arches string
	fs.StringVar(&o.dir, "dir", "dist", "folder holding the binaries (rig-linux-ARCH, gateway-linux-ARCH, smoketest-linux-ARCH.test); the release is written there")
	fs.StringVar(&arches, "arches", "arm64 amd64", "architectures to package (Go and Debian names agree for these)")
	fs.StringVar(&o.root, "root", ".", "the repository root: deploy/, README.md, RIG.md and docs/ are read from it")
	fs.StringVar(&o.signKey, "sign-key", "", "ed25519 private key (PEM PKCS#8, openssl genpkey -algorithm ed25519) that signs SHA256SUMS; empty: unsigned")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.arches = strings.Fields(arches)
	if len(o.arches) == 0 {
		fmt.Fprintln(stderr, "dist: -arches names no architecture")
		return 2
	}
	rel, err := build(o, runtime.GOARCH)
	if err != nil {
		fmt.Fprintln(stderr, err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	rel.print(stdout)
	return 0
}

type usageError struct{ error }

type options struct {
	dir, root, signKey string
	arches             []string
}
