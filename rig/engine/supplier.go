package engine

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/infile"
	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/scenarios"
)

// SBOMSuffix names the SBOM make build writes beside a gateway binary: bin/gateway.cdx.json.
const SBOMSuffix = ".cdx.json"

// ownSupplier is the supplier evidence of the reference path: the rig's own gateway binary
// (gateway), the SBOM beside it when make build wrote one, and the repository's small OSV
// fixture as the vulnerability database. The reference stack has no vendor web site and
// declares no support period: those controls are skipped with the reason.
func ownSupplier(gateway string, log *slog.Logger) check.Supplier {
	sp := check.Supplier{Reference: true, GatewayBin: gateway}
	if db, err := fs.Sub(scenarios.FS, "vulndb"); err == nil {
		sp.VulnDB, sp.VulnDBName = db, "embedded:vulndb"
		sp.VulnDBNote = "the rig's repository fixture (scenarios/vulndb, RIG-FIXTURE-* entries), not a real vulnerability database: a pass here shows the matcher at work, not that the modules are free of known vulnerabilities; name a snapshot in targets.supplier.vulndb"
	}
	if gateway == "" {
		return sp
	}
	name := gateway + SBOMSuffix
	b, err := infile.Read(name, "SBOM", infile.MaxSBOM)
	switch {
	case err == nil:
		sp.SBOM, sp.SBOMName = b, name
		sp.SBOMOrigin = "written beside the gateway binary by make build (tools/sbom, from go list -deps of gateway/cmd/gateway: the module graph of the source, not the binary)"
	case !errors.Is(err, fs.ErrNotExist):
		sp.SBOMName, sp.SBOMErr = name, err
		log.Warn("the SBOM beside the gateway binary cannot be read", "sbom", name, "err", err)
	}
	return sp
}

// runScope is the record of a plan's scope (nil without path bundles).
func runScope(s *scenario.Scope) *record.Scope {
	if s == nil {
		return nil
	}
	out := &record.Scope{Paths: append([]string(nil), s.Paths...), OutOfScope: []record.OutOfScope{}}
	for _, g := range s.OutOfScope {
		out.OutOfScope = append(out.OutOfScope, record.OutOfScope{Check: g.Check, Controls: append([]string(nil), g.Controls...), Paths: append([]string{}, g.Paths...)})
	}
	return out
}

// externalSupplier reads the supplier evidence a scenario's targets name: the trust anchors and
// vendor key, the SBOM and support declaration (bounded reads, before the run folder is made);
// the vulnerability database and the gateway binary are read by the check, through infile.
func externalSupplier(t *scenario.Targets, sp *scenario.SupplierTarget, bad func(field, format string, args ...any) error) (check.Supplier, error) {
	out := check.Supplier{SecurityTxt: sp.SecurityTxt, Version: sp.Version}
	const f = "targets.supplier"
	if sp.Trust != "" {
		pool, err := pemPool(t.Path(sp.Trust))
		if err != nil {
			return out, bad(f+".trust", "%v", err)
		}
		out.Trust = pool
	}
	read := func(field, name, what string, limit int64) ([]byte, error) {
		if name == "" {
			return nil, nil
		}
		b, err := infile.Read(t.Path(name), what, limit)
		if err != nil {
			return nil, bad(field, "read %s: %v", t.Path(name), err)
		}
		if len(b) == 0 {
			return nil, bad(field, "%s is empty", t.Path(name))
		}
		return b, nil
	}
	var err error
	if out.VendorKey, err = read(f+".vendor_key", sp.VendorKey, "OpenPGP public key", infile.MaxPEM); err != nil {
		return out, err
	}
	if out.SBOM, err = read(f+".sbom", sp.SBOM, "SBOM", infile.MaxSBOM); err != nil {
		return out, err
	}
	if out.Support, err = read(f+".support", sp.Support, "support declaration", infile.MaxSupport); err != nil {
		return out, err
	}
	out.SBOMName, out.SupportName = t.Path(sp.SBOM), t.Path(sp.Support)
	if sp.VulnDB != "" {
		dir := t.Path(sp.VulnDB)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return out, bad(f+".vulndb", "%s is not a folder of OSV JSON entries", dir)
		}
		out.VulnDB, out.VulnDBName = os.DirFS(dir), dir
	}
	if sp.GatewayBin != "" {
		out.GatewayBin = t.Path(sp.GatewayBin)
		if err := infile.Check(out.GatewayBin, "gateway binary", infile.MaxBinary); err != nil {
			return out, bad(f+".gateway_bin", "%v", err)
		}
	}
	return out, nil
}

// pemPool reads a PEM file of CA certificates into a pool.
func pemPool(path string) (*x509.CertPool, error) {
	data, err := infile.Read(path, "PEM file", infile.MaxPEM)
	if err != nil {
		return nil, fmt.Errorf("read %s: %v", path, err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return p, nil
}
