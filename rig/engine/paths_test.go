package engine

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/checks/catalog"
	"github.com/pathrig/rig/rig/checks/supply"
	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/scenarios"
)

// pathLibrary is the library as rig run makes it: the embedded files and the catalog's names.
func pathLibrary(t *testing.T) (scenario.Library, []string) {
	t.Helper()
	cat, err := checks.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	l := scenario.Library{Embedded: scenarios.FS, Owners: map[string]string{}, Hops: catalog.Hops}
	for _, c := range cat {
		l.Controls = append(l.Controls, c.ID)
		l.Owners[c.ID] = c.Check
	}
	var ids []string
	for _, c := range checks.All() {
		ids = append(ids, c.ID)
	}
	return l, ids
}

// hardenedFinding are the controls that fail on the hardened reference path too: its ingest
// listens on plain HTTP in every profile (a profile has no TLS for the ingest).
var hardenedFinding = map[string]bool{"INGEST-PLAINTEXT": true}

// TestPathBundles: each of the five path bundles runs the demo's scenario on the exposed and
// the hardened profile (rig run audit-baseline --bundle path-NAME [--profile hardened]): the run
// has a result for exactly the path's controls and for no other, nothing is in error, the
// hardened path has no finding but INGEST-PLAINTEXT, run.json records the scope and validates, and summary.md and
// report.html name the path and list what was out of scope.
func TestPathBundles(t *testing.T) {
	if testing.Short() {
		t.Skip("ten runs of the reference path")
	}
	l, ids := pathLibrary(t)
	gw := gatewayWithSBOM(t)
	for _, path := range scenario.Paths {
		for _, profile := range []string{"exposed", "hardened"} {
			t.Run(path+"/"+profile, func(t *testing.T) {
				p, err := l.Load("audit-baseline", profile, ids)
				if err != nil {
					t.Fatal(err)
				}
				if err := l.ReplaceBundles(p, []string{scenario.PathBundle(path)}, ids); err != nil {
					t.Fatal(err)
				}
				out := filepath.Join(t.TempDir(), "run")
				run, err := Run(context.Background(), p, Options{Out: out, Version: "test", GatewayBin: gw})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, r := range run.Results {
					got = append(got, r.Control)
					if r.Status == record.StatusError {
						t.Errorf("%s: error: %s", r.Control, r.Reason)
					}
					if profile == "hardened" && r.Status == record.StatusFail && !hardenedFinding[r.Control] {
						t.Errorf("%s fails on the hardened path: %s", r.Control, r.Reason)
					}
				}
				want := slices.Clone(p.Controls)
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("results for %v, want exactly the path's controls %v", got, want)
				}
				if run.Scope == nil || !slices.Equal(run.Scope.Paths, []string{path}) || len(run.Scope.OutOfScope) == 0 {
					t.Fatalf("run.json scope %+v", run.Scope)
				}
				checkRunFolder(t, out)
				summary := readFile(t, out, "summary.md")
				for _, s := range []string{"· path **" + path + "** ·", "## Scope: the " + path + " path", "Out of scope, not run"} {
					if !strings.Contains(summary, s) {
						t.Errorf("summary.md lacks %q", s)
					}
				}
				for _, g := range run.Scope.OutOfScope {
					if !strings.Contains(summary, "| "+g.Check+" | "+strings.Join(g.Controls, ", ")+" |") {
						t.Errorf("summary.md does not list %s %v as out of scope", g.Check, g.Controls)
					}
				}
				if html := readFile(t, out, "report.html"); !strings.Contains(html, `<p id="scope">Path <strong>`+path+`</strong>`) {
					t.Error("report.html does not name the path")
				}
				if path == "gateway" {
					byID := map[string]record.Result{}
					for _, r := range run.Results {
						byID[r.Control] = r
					}
					for id, st := range map[string]record.Status{"SUP-SBOM": record.StatusPass, "SUP-VULN": record.StatusPass, "SUP-SECURITY-TXT": record.StatusSkip, "SUP-SUPPORT": record.StatusSkip} {
						if byID[id].Status != st {
							t.Errorf("%s on the reference path: %s (%s), want %s", id, byID[id].Status, byID[id].Reason, st)
						}
					}
					if note, _ := byID["SUP-VULN"].Observed["vulndb_note"].(string); !strings.Contains(note, "not a real vulnerability database") {
						t.Errorf("SUP-VULN does not say its database is the repository's fixture: %v", byID["SUP-VULN"].Observed)
					}
				}
			})
		}
	}
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// gatewayWithSBOM builds the gateway binary and writes beside it the SBOM make build writes
// (tools/sbom), as bin/gateway and bin/gateway.cdx.json.
func gatewayWithSBOM(t *testing.T) string {
	t.Helper()
	bin := buildGateway(t)
	cmd := exec.Command("go", "run", "github.com/pathrig/rig/tools/sbom", "-o", bin+SBOMSuffix, "github.com/pathrig/rig/gateway/cmd/gateway")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tools/sbom: %v\n%s", err, out)
	}
	return bin
}

// TestSupplierTargets: a scenario whose targets name only supplier evidence starts nothing and
// judges what it names; the SBOM, vulnerability database and support declaration are read
// from beside the scenario.
func TestSupplierTargets(t *testing.T) {
	l, ids := pathLibrary(t)
	gw := gatewayWithSBOM(t)
	dir := t.TempDir()
	copyFile(t, gw, filepath.Join(dir, "gateway"))
	copyFile(t, gw+SBOMSuffix, filepath.Join(dir, "gateway.cdx.json"))
	if err := os.Mkdir(filepath.Join(dir, "osv"), 0o755); err != nil {
		t.Fatal(err)
	}
	bi, err := readBuildOf(filepath.Join(dir, "gateway"))
	if err != nil {
		t.Fatal(err)
	}
	var paho supply.Module
	for _, m := range bi.Modules {
		if m.Path == "github.com/eclipse/paho.mqtt.golang" {
			paho = m
		}
	}
	writeTestFile(t, filepath.Join(dir, "osv", "GO-TEST-1.json"), `{"id": "GO-TEST-1", "modified": "2025-01-01T00:00:00Z", "affected": [{"package": {"ecosystem": "Go", "name": "`+paho.Path+`"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "99.0.0"}]}]}]}`)
	writeTestFile(t, filepath.Join(dir, "support.json"), `{"support_end": "2099-12-31", "supported_lines": [{"line": "1.4"}]}`)
	writeTestFile(t, filepath.Join(dir, "s.yaml"), "name: supplier\nbundles: [path-gateway]\ntargets:\n  supplier:\n    sbom: gateway.cdx.json\n    vulndb: osv\n    support: support.json\n    gateway_bin: gateway\n    version: 1.4.2\n")
	p, err := l.Load(filepath.Join(dir, "s.yaml"), "", ids)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	run, err := Run(context.Background(), p, Options{Out: out, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]record.Result{}
	for _, r := range run.Results {
		byID[r.Control] = r
	}
	for id, st := range map[string]record.Status{"SUP-SBOM": record.StatusPass, "SUP-VULN": record.StatusFail, "SUP-SUPPORT": record.StatusPass, "SUP-SECURITY-TXT": record.StatusSkip, "GUARD-UART": record.StatusSkip, "GUARD-MGMT": record.StatusSkip} {
		if byID[id].Status != st {
			t.Errorf("%s: %s (%s), want %s", id, byID[id].Status, byID[id].Reason, st)
		}
	}
	if r := byID["SUP-VULN"]; !strings.Contains(r.Reason, "GO-TEST-1 in "+paho.Path+"@"+paho.Version+" (fixed in 99.0.0)") {
		t.Errorf("SUP-VULN reason %q", r.Reason)
	}
	checkRunFolder(t, out)
}

func readBuildOf(bin string) (*supply.Build, error) {
	f, err := os.Open(bin)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return supply.ReadBuild(f)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeTestFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
