package supplier_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/checktest"
	"github.com/pathrig/rig/rig/checks/supply"
	"github.com/pathrig/rig/rig/infile"
	"github.com/pathrig/rig/rig/record"
)

// The supplier tests judge the real gateway binary, built once per test binary: a Go binary
// whose build information names real modules (paho, bbolt, go.bug.st/serial, …), so the SBOM
// and vulnerability fixtures are written against what a binary really says it holds. (A test
// binary's own build information names no dependency.)
var gatewayBuild struct {
	once sync.Once
	bin  string
	err  error
}

func testBinary(t *testing.T) (string, *supply.Build) {
	t.Helper()
	gatewayBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "rig-supplier-test-*")
		if err != nil {
			gatewayBuild.err = err
			return
		}
		gatewayBuild.bin = filepath.Join(dir, "gateway")
		out, err := exec.Command("go", "build", "-o", gatewayBuild.bin, "github.com/pathrig/rig/gateway/cmd/gateway").CombinedOutput()
		if err != nil {
			gatewayBuild.err = fmt.Errorf("go build gateway: %v\n%s", err, out)
		}
	})
	if gatewayBuild.err != nil {
		t.Fatal(gatewayBuild.err)
	}
	b, err := readBuild(gatewayBuild.bin)
	if err != nil {
		t.Fatalf("build information of the gateway: %v", err)
	}
	if len(b.Modules) == 0 {
		t.Fatal("the gateway's build information names no module")
	}
	return gatewayBuild.bin, b
}

// pickModule returns a module of the build that is not a local replacement.
func pickModule(t *testing.T, b *supply.Build, path string) supply.Module {
	t.Helper()
	for _, m := range b.Modules {
		if m.Path == path {
			return m
		}
	}
	t.Fatalf("the gateway does not hold %s", path)
	return supply.Module{}
}

// cycloneDX writes a CycloneDX 1.5 SBOM of the build; edit may change the components first.
func cycloneDX(b *supply.Build, edit func(cs []map[string]any) []map[string]any) []byte {
	var cs []map[string]any
	for _, m := range b.Modules {
		cs = append(cs, map[string]any{"type": "library", "name": m.Path, "version": m.Version, "purl": fmt.Sprintf("pkg:golang/%s@%s?type=module", m.Path, m.Version)})
	}
	if edit != nil {
		cs = edit(cs)
	}
	doc := map[string]any{
		"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
		"metadata": map[string]any{
			"tools":     map[string]any{"components": []any{map[string]any{"type": "application", "name": "test-writer", "version": "1"}}},
			"component": map[string]any{"type": "application", "name": b.Main.Path, "version": b.Main.Version, "purl": "pkg:golang/" + b.Main.Path},
		},
		"components": cs,
	}
	out, _ := json.Marshal(doc)
	return out
}

// spdx writes an SPDX 2.3 JSON SBOM of the build, as syft writes one.
func spdx(b *supply.Build) []byte {
	pkgs := []any{map[string]any{"SPDXID": "SPDXRef-main", "name": b.Main.Path, "versionInfo": b.Main.Version}}
	for i, m := range b.Modules {
		pkgs = append(pkgs, map[string]any{
			"SPDXID": fmt.Sprintf("SPDXRef-%d", i), "name": m.Path, "versionInfo": m.Version,
			"externalRefs": []any{map[string]any{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:golang/" + m.Path + "@" + m.Version}},
		})
	}
	out, _ := json.Marshal(map[string]any{
		"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
		"creationInfo": map[string]any{"creators": []string{"Tool: test-writer-1"}}, "documentDescribes": []string{"SPDXRef-main"}, "packages": pkgs,
	})
	return out
}

func supplierResults(t *testing.T, sp check.Supplier) map[string]record.Result {
	t.Helper()
	return checktest.ByControl(t, evaluatePeers(t, check.Targets{Supplier: sp}, "supplier"))
}

func assertControl(t *testing.T, results map[string]record.Result, control string, w checktest.Want, reason string) record.Result {
	t.Helper()
	r, ok := results[control]
	if !ok {
		t.Fatalf("%s: no result", control)
	}
	if r.Status != w.Status || (w.Severity != "" && r.Severity != w.Severity) {
		t.Errorf("%s: %s %s (%s), want %s %s", control, r.Status, r.Severity, r.Reason, w.Status, w.Severity)
	}
	if reason != "" && !strings.Contains(r.Reason, reason) {
		t.Errorf("%s: reason %q, want it to say %q", control, r.Reason, reason)
	}
	return r
}

// vendorSite serves handler over TLS with a certificate of the tests' CA and returns the
// security.txt URL on it and the CA pool to trust.
func vendorSite(t *testing.T, handler http.Handler) (string, *x509.CertPool) {
	t.Helper()
	p := checktest.TestPKI(t)
	srv := httptest.NewUnstartedServer(handler)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.Good}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL + "/.well-known/security.txt", p.Pool
}

func serve(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/security.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, body)
	})
}

func securityTxt(expires time.Time, fields ...string) string {
	lines := append([]string{"# security.txt of a test vendor"}, fields...)
	if !expires.IsZero() {
		lines = append(lines, "Expires: "+expires.UTC().Format(time.RFC3339))
	}
	return strings.Join(lines, "\n") + "\n"
}

// vendorKey makes an OpenPGP key and returns it with its armored public key.
func vendorKey(t *testing.T) (*openpgp.Entity, []byte) {
	t.Helper()
	e, err := openpgp.NewEntity("Test Vendor", "security", "security@vendor.example", nil)
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return e, pub.Bytes()
}

func clearSign(t *testing.T, e *openpgp.Entity, text string) string {
	t.Helper()
	var out bytes.Buffer
	w, err := clearsign.Encode(&out, e.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, text); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestSupplierSecurityTxt: the verdict of SUP-SECURITY-TXT for a valid file, an expired one,
// one without Contact, one without Policy, one served over plain HTTP, a missing file, signed
// files with and without the vendor key, and sites the rig cannot judge.
func TestSupplierSecurityTxt(t *testing.T) {
	now := time.Now()
	contact, policy := "Contact: mailto:security@vendor.example", "Policy: https://vendor.example/disclosure"
	valid := securityTxt(now.Add(180*24*time.Hour), contact, policy, "Preferred-Languages: en")
	key, pub := vendorKey(t)
	other, _ := vendorKey(t)
	signed := clearSign(t, key, valid)
	tampered := strings.Replace(signed, "security@vendor.example", "attacker@evil.example", 1)
	byOther := clearSign(t, other, valid)

	tests := []struct {
		name   string
		body   string
		key    []byte
		plain  bool // serve over plain HTTP
		want   checktest.Want
		reason string
		sig    string // in observed.signature
	}{
		{"valid", valid, nil, false, checktest.Pass, "served over HTTPS", "not signed"},
		{"expired", securityTxt(now.Add(-24*time.Hour), contact, policy), nil, false, checktest.Fail(record.SeverityMedium), "expired on", ""},
		{"missing contact", securityTxt(now.Add(90*24*time.Hour), policy), nil, false, checktest.Fail(record.SeverityMedium), "no Contact", ""},
		{"http contact only", securityTxt(now.Add(90*24*time.Hour), "Contact: http://vendor.example/report", policy), nil, false, checktest.Fail(record.SeverityMedium), "no Contact", ""},
		{"missing expires", securityTxt(time.Time{}, contact, policy), nil, false, checktest.Fail(record.SeverityMedium), "no Expires", ""},
		{"expires twice", securityTxt(now.Add(90*24*time.Hour), contact, policy, "Expires: 2099-01-01T00:00:00Z"), nil, false, checktest.Fail(record.SeverityMedium), "Expires appears 2 times", ""},
		{"missing policy", securityTxt(now.Add(90*24*time.Hour), contact), nil, false, checktest.Fail(record.SeverityMedium), "no Policy", ""},
		{"plain http", valid, nil, true, checktest.Fail(record.SeverityMedium), "served over plain HTTP", ""},
		{"signed, key named", signed, pub, false, checktest.Pass, "signature valid", "signed, signature valid"},
		{"signed, no key named", signed, nil, false, checktest.Pass, "signature not checked", "signed, signature not checked"},
		{"signed, altered after signing", tampered, pub, false, checktest.Fail(record.SeverityMedium), "does not verify", "signed, signature invalid"},
		{"signed by another key", byOther, pub, false, checktest.Fail(record.SeverityMedium), "does not verify", "signed, signature invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp := check.Supplier{VendorKey: tc.key}
			if tc.plain {
				srv := httptest.NewServer(serve(tc.body))
				t.Cleanup(srv.Close)
				sp.SecurityTxt = srv.URL + "/.well-known/security.txt"
			} else {
				u, ca := vendorSite(t, serve(tc.body))
				sp.SecurityTxt, sp.Trust = u, ca
			}
			r := assertControl(t, supplierResults(t, sp), "SUP-SECURITY-TXT", tc.want, tc.reason)
			if tc.sig != "" && !strings.HasPrefix(fmt.Sprint(r.Observed["signature"]), tc.sig) {
				t.Errorf("observed signature %q, want %q", r.Observed["signature"], tc.sig)
			}
			if len(r.Evidence) == 0 {
				t.Error("no evidence")
			}
		})
	}

	t.Run("redirect to plain http", func(t *testing.T) {
		plain := httptest.NewServer(serve(valid))
		t.Cleanup(plain.Close)
		u, ca := vendorSite(t, http.RedirectHandler(plain.URL+"/.well-known/security.txt", http.StatusFound))
		assertControl(t, supplierResults(t, check.Supplier{SecurityTxt: u, Trust: ca}), "SUP-SECURITY-TXT", checktest.Fail(record.SeverityMedium), "plain HTTP")
	})
	t.Run("not published", func(t *testing.T) {
		u, ca := vendorSite(t, http.NotFoundHandler())
		assertControl(t, supplierResults(t, check.Supplier{SecurityTxt: u, Trust: ca}), "SUP-SECURITY-TXT", checktest.Fail(record.SeverityMedium), "404")
	})
	t.Run("server error", func(t *testing.T) {
		u, ca := vendorSite(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusBadGateway) }))
		assertControl(t, supplierResults(t, check.Supplier{SecurityTxt: u, Trust: ca}), "SUP-SECURITY-TXT", checktest.Errored, "502")
	})
	t.Run("certificate of a CA not trusted", func(t *testing.T) {
		u, _ := vendorSite(t, serve(valid))
		assertControl(t, supplierResults(t, check.Supplier{SecurityTxt: u}), "SUP-SECURITY-TXT", checktest.Errored, "targets.supplier.trust")
	})
	t.Run("nothing listening", func(t *testing.T) {
		assertControl(t, supplierResults(t, check.Supplier{SecurityTxt: "https://" + checktest.ClosedPort(t) + "/.well-known/security.txt"}), "SUP-SECURITY-TXT", checktest.Errored, "nothing answered")
	})
	t.Run("not named", func(t *testing.T) {
		assertControl(t, supplierResults(t, check.Supplier{}), "SUP-SECURITY-TXT", checktest.Skipped, "supplier.security_txt")
	})
}

// TestSupplierSBOM: SUP-SBOM passes an SBOM that lists every module of the binary at its
// version (CycloneDX and SPDX), and fails one that misses a module or lists another version.
func TestSupplierSBOM(t *testing.T) {
	bin, b := testBinary(t)
	victim := b.Modules[0]
	notGo := filepath.Join(t.TempDir(), "gateway.sh")
	if err := os.WriteFile(notGo, []byte("#!/bin/sh\necho gateway\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The SBOM make build writes (tools/sbom, from go list -deps of the gateway's source).
	made, err := exec.Command("go", "run", "github.com/pathrig/rig/tools/sbom", "github.com/pathrig/rig/gateway/cmd/gateway").Output()
	if err != nil {
		t.Fatalf("tools/sbom: %v", err)
	}
	tests := []struct {
		name   string
		bin    string
		sbom   []byte
		want   checktest.Want
		reason string
	}{
		{"the SBOM make build writes", bin, made, checktest.Pass, "with the same versions"},
		{"CycloneDX that matches", bin, cycloneDX(b, nil), checktest.Pass, "with the same versions"},
		{"SPDX that matches", bin, spdx(b), checktest.Pass, "SPDX"},
		{"a module missing", bin, cycloneDX(b, func(cs []map[string]any) []map[string]any { return cs[1:] }), checktest.Fail(record.SeverityMedium), victim.Path + "@" + victim.Version},
		{"another version", bin, cycloneDX(b, func(cs []map[string]any) []map[string]any {
			cs[0]["version"], cs[0]["purl"] = "v0.0.1", "pkg:golang/"+victim.Path+"@v0.0.1"
			return cs
		}), checktest.Fail(record.SeverityMedium), "SBOM v0.0.1"},
		{"not an SBOM", bin, []byte(`{"name": "gateway", "modules": []}`), checktest.Fail(record.SeverityMedium), "does not parse"},
		{"not JSON", bin, []byte("gateway 1.0 with paho"), checktest.Fail(record.SeverityMedium), "does not parse"},
		{"no SBOM named", bin, nil, checktest.Skipped, "supplier.sbom"},
		{"no binary named", "", cycloneDX(b, nil), checktest.Skipped, "supplier.gateway_bin"},
		{"not a Go binary", notGo, cycloneDX(b, nil), checktest.Errored, "build information"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := assertControl(t, supplierResults(t, check.Supplier{GatewayBin: tc.bin, SBOM: tc.sbom, SBOMName: "gateway.cdx.json"}), "SUP-SBOM", tc.want, tc.reason)
			if tc.want.Status == record.StatusPass && r.Observed["modules"] != len(b.Modules) {
				t.Errorf("observed modules %v, want %d", r.Observed["modules"], len(b.Modules))
			}
		})
	}
}

// osvEntry writes an OSV entry affecting module between introduced and fixed.
func osvEntry(id, module, introduced, fixed string) string {
	events := fmt.Sprintf(`{"introduced": %q}`, introduced)
	if fixed != "" {
		events += fmt.Sprintf(`, {"fixed": %q}`, fixed)
	}
	return fmt.Sprintf(`{"schema_version": "1.6.0", "id": %q, "modified": "2025-01-02T03:04:05Z", "aliases": ["CVE-0000-%s"], "summary": "test advisory",
  "affected": [{"package": {"ecosystem": "Go", "name": %q}, "ranges": [{"type": "SEMVER", "events": [%s]}]}]}`, id, id, module, events)
}

// TestSupplierVuln: SUP-VULN fails on a snapshot with an advisory for a module the binary holds
// and names its fixed version; passes one whose advisories do not affect the binary's versions;
// and cannot judge an empty or broken snapshot.
func TestSupplierVuln(t *testing.T) {
	bin, b := testBinary(t)
	yaml := pickModule(t, b, "github.com/eclipse/paho.mqtt.golang")
	v, _ := supply.ParseVersion(yaml.Version)
	next := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch+1)
	db := func(files map[string]string) fstest.MapFS {
		m := fstest.MapFS{}
		for name, body := range files {
			m[name] = &fstest.MapFile{Data: []byte(body)}
		}
		return m
	}
	tests := []struct {
		name   string
		db     fstest.MapFS
		want   checktest.Want
		reason string
	}{
		{"an advisory for a module the gateway uses", db(map[string]string{
			"GO-TEST-0001.json":        osvEntry("GO-TEST-0001", yaml.Path, "0", next),
			"GO-TEST-0002.json":        osvEntry("GO-TEST-0002", "example.com/unused", "0", ""),
			"index/modules.json":       `[{"path": "github.com/eclipse/paho.mqtt.golang"}]`,
			"nested/GO-TEST-0003.json": osvEntry("GO-TEST-0003", yaml.Path, next, ""),
		}), checktest.Fail(record.SeverityHigh), "GO-TEST-0001 in " + yaml.Path + "@" + yaml.Version + " (fixed in " + next + ")"},
		{"no advisory for the gateway's versions", db(map[string]string{
			"GO-TEST-0001.json": osvEntry("GO-TEST-0001", yaml.Path, "0", "0.0.1"),
			"GO-TEST-0002.json": osvEntry("GO-TEST-0002", "example.com/unused", "0", ""),
			"GO-TEST-0003.json": osvEntry("GO-TEST-0003", supply.StdLib, "0", "1.0.0"),
		}), checktest.Pass, "none of 3 OSV entries"},
		{"withdrawn advisory", db(map[string]string{
			"GO-TEST-0001.json": strings.Replace(osvEntry("GO-TEST-0001", yaml.Path, "0", ""), `"summary"`, `"withdrawn": "2025-02-01T00:00:00Z", "summary"`, 1),
		}), checktest.Pass, "none of 1 OSV entries"},
		{"the standard library", db(map[string]string{
			"GO-TEST-0004.json": osvEntry("GO-TEST-0004", supply.StdLib, "0", "999.0.0"),
		}), checktest.Fail(record.SeverityHigh), "in stdlib@"},
		{"empty snapshot", db(map[string]string{"README.md": "no entries"}), checktest.Errored, "holds no OSV entry"},
		{"a broken entry", db(map[string]string{
			"GO-TEST-0001.json": osvEntry("GO-TEST-0001", "example.com/unused", "0", ""),
			"GO-TEST-0009.json": `{"id": "GO-TEST-0009", "affected": "everything"}`,
		}), checktest.Errored, "GO-TEST-0009.json"},
		{"a range that is not semver", db(map[string]string{
			"GO-TEST-0001.json": osvEntry("GO-TEST-0001", yaml.Path, "0", "not-a-version"),
		}), checktest.Errored, "not a semantic version"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assertControl(t, supplierResults(t, check.Supplier{GatewayBin: bin, VulnDB: tc.db, VulnDBName: "testdb"}), "SUP-VULN", tc.want, tc.reason)
		})
	}
	t.Run("a folder on disk", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "GO-TEST-0001.json"), []byte(osvEntry("GO-TEST-0001", yaml.Path, "0", next)), 0o644); err != nil {
			t.Fatal(err)
		}
		assertControl(t, supplierResults(t, check.Supplier{GatewayBin: bin, VulnDB: os.DirFS(dir), VulnDBName: dir}), "SUP-VULN", checktest.Fail(record.SeverityHigh), "GO-TEST-0001")
	})
	t.Run("no snapshot named", func(t *testing.T) {
		assertControl(t, supplierResults(t, check.Supplier{GatewayBin: bin}), "SUP-VULN", checktest.Skipped, "supplier.vulndb")
	})
}

// TestSupplierSupport: SUP-SUPPORT passes a deployed version in a supported line, fails one in
// no line, in a line whose support ended, or under a declaration whose support period ended or
// that declares nothing, and cannot judge a binary without a release version.
func TestSupplierSupport(t *testing.T) {
	bin, _ := testBinary(t) // main module version (devel), no -X main.version: the version is named
	future, past := time.Now().AddDate(2, 0, 0).Format(time.DateOnly), time.Now().AddDate(0, -1, 0).Format(time.DateOnly)
	decl := func(end string, lines ...string) []byte {
		return []byte(fmt.Sprintf(`{"product": "test gateway", "support_end": %q, "supported_lines": [%s]}`, end, strings.Join(lines, ", ")))
	}
	tests := []struct {
		name    string
		support []byte
		version string
		want    checktest.Want
		reason  string
	}{
		{"in a supported line", decl(future, `{"line": "1.4"}`, `{"line": "1.5"}`), "1.4.2", checktest.Pass, "supported line 1.4"},
		{"in a line named by major", decl(future, `{"line": "2"}`), "v2.7.0", checktest.Pass, "supported line 2"},
		{"in no supported line", decl(future, `{"line": "1.5"}`, `{"line": "1.6.x"}`), "1.4.2", checktest.Fail(record.SeverityHigh), "in none of the supported lines (1.5, 1.6.x)"},
		{"its line ended", decl(future, `{"line": "1.4", "until": "`+past+`"}`), "1.4.2", checktest.Fail(record.SeverityHigh), "whose support ended"},
		{"the support period ended", decl(past, `{"line": "1.4"}`), "1.4.2", checktest.Fail(record.SeverityHigh), "support period ended"},
		{"a pre-release", decl(future, `{"line": "1.4"}`), "1.4.2-rc.1", checktest.Fail(record.SeverityHigh), "pre-release"},
		{"no support end", []byte(`{"supported_lines": [{"line": "1.4"}]}`), "1.4.2", checktest.Fail(record.SeverityMedium), "does not declare support_end"},
		{"no lines", []byte(`{"support_end": "` + future + `"}`), "1.4.2", checktest.Fail(record.SeverityMedium), "supported_lines"},
		{"not the format", []byte(`{"end": "2030"}`), "1.4.2", checktest.Fail(record.SeverityMedium), "does not parse"},
		{"no release version", decl(future, `{"line": "1.4"}`), "", checktest.Errored, "targets.supplier.version"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assertControl(t, supplierResults(t, check.Supplier{GatewayBin: bin, Support: tc.support, SupportName: "support.json", Version: tc.version}), "SUP-SUPPORT", tc.want, tc.reason)
		})
	}
	t.Run("not named", func(t *testing.T) {
		assertControl(t, supplierResults(t, check.Supplier{GatewayBin: bin}), "SUP-SUPPORT", checktest.Skipped, "supplier.support")
	})
	t.Run("version named, no binary", func(t *testing.T) {
		assertControl(t, supplierResults(t, check.Supplier{Support: decl(future, `{"line": "1.4"}`), SupportName: "support.json", Version: "1.4.2"}), "SUP-SUPPORT", checktest.Pass, "supported line 1.4")
	})
	t.Run("neither version nor binary", func(t *testing.T) {
		assertControl(t, supplierResults(t, check.Supplier{Support: decl(future, `{"line": "1.4"}`), SupportName: "support.json"}), "SUP-SUPPORT", checktest.Skipped, "supplier.gateway_bin")
	})
	t.Run("the reference path", func(t *testing.T) {
		res := supplierResults(t, check.Supplier{Reference: true})
		assertControl(t, res, "SUP-SUPPORT", checktest.Skipped, "declares no support period")
		assertControl(t, res, "SUP-SBOM", checktest.Skipped, "no SBOM beside the gateway binary")
		assertControl(t, res, "SUP-SECURITY-TXT", checktest.Skipped, "no vendor web site")
	})
}

// readBuild reads the build information of a Go binary as the check does.
func readBuild(bin string) (*supply.Build, error) {
	f, size, err := infile.Open(bin, "gateway binary", infile.MaxBinary)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return supply.ReadBuild(io.NewSectionReader(f, 0, size))
}
