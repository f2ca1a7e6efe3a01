// Package supplier holds the supplier check: the supplier-side evidence of the gateway release
// (the vendor's security.txt, the SBOM against the binary, the binary's modules against an
// offline vulnerability database, the declared support period). The parsers are in supply.
package supplier

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/probe"
	"github.com/pathrig/rig/rig/checks/supply"
	"github.com/pathrig/rig/rig/infile"
	"github.com/pathrig/rig/rig/record"
)

const (
	ctlSupSecurityTxt = "SUP-SECURITY-TXT"
	ctlSupSBOM        = "SUP-SBOM"
	ctlSupVuln        = "SUP-VULN"
	ctlSupSupport     = "SUP-SUPPORT"
)

// Bounds of the vulnerability database a run reads: the Go ecosystem of osv.dev is a few
// thousand entries, the whole of osv.dev a few hundred thousand.
const (
	maxVulnFiles = 500000
	maxVulnBytes = 2 << 30
)

// supplierCheck judges the supplier-side evidence of the gateway release: the vendor's
// disclosure intake (RFC 9116), the SBOM against what the binary says it holds, the binary's
// modules against an offline vulnerability database, and the declared support period.
// Checks returns the family's checks in registry order.
func Checks() []check.Check { return []check.Check{supplierCheck()} }

func supplierCheck() check.Check {
	return check.Check{
		ID:       "supplier",
		Title:    "Supplier-side evidence of the gateway release",
		Controls: []string{ctlSupSecurityTxt, ctlSupSBOM, ctlSupVuln, ctlSupSupport},
		Run:      runSupplier,
	}
}

func runSupplier(ctx context.Context, env *check.Env) map[string]check.Outcome {
	sp := env.Targets.Supplier
	outs := map[string]check.Outcome{}
	outs[ctlSupSecurityTxt] = check.Probe(env, ctlSupSecurityTxt, func() check.Outcome { return judgeSecurityTxt(ctx, env, sp) })

	// The binary's build information backs the other three controls: read it once.
	var build *supply.Build
	var buildErr error
	var buildEv []string
	need := !env.Skipped(ctlSupSBOM) || !env.Skipped(ctlSupVuln) || !env.Skipped(ctlSupSupport)
	if need && sp.GatewayBin != "" {
		build, buildErr = readBuild(sp.GatewayBin)
		if build != nil {
			ev := check.NewEvidence(env, ctlSupSBOM)
			ev.JSON("buildinfo.json", map[string]any{"binary": sp.GatewayBin, "go": build.GoVersion, "main": build.Main, "modules": build.Modules, "ldflags_version": build.LdflagsVersion})
			buildEv = ev.Paths()
			if ev.Err() != nil {
				buildErr = fmt.Errorf("its evidence could not be written (check the run folder's disk and permissions): %w", ev.Err())
			}
		}
	}
	noBinary := func() check.Outcome {
		if sp.Reference {
			return check.Skip("no gateway binary: make build puts bin/gateway beside rig, or name one with --gateway-bin")
		}
		return check.Skip("no gateway binary named in the targets (supplier.gateway_bin)")
	}
	// withBuild runs judge once the binary's build information is at hand.
	withBuild := func(judge func() check.Outcome) check.Outcome {
		switch {
		case sp.GatewayBin == "":
			return noBinary()
		case buildErr != nil:
			return check.Outcome{Status: record.StatusError, Reason: fmt.Sprintf("cannot read the Go build information of %s: %v (the control compares what the binary says it holds; name the gateway binary itself)", sp.GatewayBin, buildErr), Evidence: buildEv}
		}
		o := judge()
		o.Evidence = append(slices.Clone(buildEv), o.Evidence...)
		return o
	}
	outs[ctlSupSBOM] = check.Probe(env, ctlSupSBOM, func() check.Outcome {
		if sp.SBOMErr != nil {
			return check.Outcome{Status: record.StatusError, Reason: fmt.Sprintf("the SBOM %s cannot be read: %v", sp.SBOMName, sp.SBOMErr)}
		}
		if len(sp.SBOM) == 0 {
			if sp.Reference && sp.GatewayBin != "" {
				return check.Skip("no SBOM beside the gateway binary (%s.cdx.json; make build writes bin/gateway.cdx.json beside bin/gateway)", sp.GatewayBin)
			}
			if sp.Reference {
				return check.Skip("no SBOM beside the gateway binary (make build writes bin/gateway.cdx.json beside bin/gateway)")
			}
			return check.Skip("no SBOM named in the targets (supplier.sbom)")
		}
		return withBuild(func() check.Outcome { return judgeSBOM(env, sp, build) })
	})
	outs[ctlSupVuln] = check.Probe(env, ctlSupVuln, func() check.Outcome {
		if sp.VulnDB == nil {
			return check.Skip("no vulnerability database snapshot named in the targets (supplier.vulndb: a folder of OSV JSON entries)")
		}
		return withBuild(func() check.Outcome { return judgeVuln(ctx, env, sp, build) })
	})
	outs[ctlSupSupport] = check.Probe(env, ctlSupSupport, func() check.Outcome {
		if len(sp.Support) == 0 {
			if sp.Reference {
				return check.Skip("the reference stack declares no support period: name the vendor's support declaration in targets.supplier.support")
			}
			return check.Skip("no support declaration named in the targets (supplier.support)")
		}
		if sp.Version != "" && sp.GatewayBin == "" {
			return judgeSupport(env, sp, nil) // the deployed version is named: no binary needed
		}
		return withBuild(func() check.Outcome { return judgeSupport(env, sp, build) })
	})
	return outs
}

// readBuild reads the build information of a Go binary through infile (a regular file, bounded).
func readBuild(bin string) (*supply.Build, error) {
	f, size, err := infile.Open(bin, "gateway binary", infile.MaxBinary)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return supply.ReadBuild(io.NewSectionReader(f, 0, size))
}

// --- SUP-SECURITY-TXT ---

type securityTxtFetch struct {
	URL         string   `json:"url"`
	FinalURL    string   `json:"final_url,omitempty"`
	Redirects   []string `json:"redirects,omitempty"`
	Status      int      `json:"status,omitempty"`
	ContentType string   `json:"content_type,omitempty"`
	Bytes       int      `json:"bytes"`
	Error       string   `json:"error,omitempty"`
	FetchedAt   string   `json:"fetched_at"`
}

func judgeSecurityTxt(ctx context.Context, env *check.Env, sp check.Supplier) check.Outcome {
	if sp.SecurityTxt == "" {
		if sp.Reference {
			return check.Skip("the reference stack has no vendor web site: name the vendor's security.txt in targets.supplier.security_txt")
		}
		return check.Skip("no vendor security.txt URL named in the targets (supplier.security_txt)")
	}
	ev := check.NewEvidence(env, ctlSupSecurityTxt)
	f := securityTxtFetch{URL: sp.SecurityTxt, FetchedAt: time.Now().UTC().Format(time.RFC3339)}
	client := &http.Client{
		Timeout:   env.Limits.ProbeTimeout,
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: sp.Trust, MinVersion: tls.VersionTLS12}},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			f.Redirects = append(f.Redirects, req.URL.String())
			if len(via) > 3 {
				return errors.New("more than 3 redirects")
			}
			return nil
		},
	}
	defer client.CloseIdleConnections()
	pctx, cancel := probe.Context(ctx, env.Limits.ProbeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, sp.SecurityTxt, nil)
	if err != nil {
		return check.Outcome{Status: record.StatusError, Reason: fmt.Sprintf("cannot build a request for %s: %v", sp.SecurityTxt, err)}
	}
	req.Header.Set("User-Agent", "rig-checks/supplier")
	resp, err := client.Do(req)
	if err != nil {
		f.Error = err.Error()
		ev.JSON("fetch.json", f)
		var uerr x509.UnknownAuthorityError
		var herr x509.HostnameError
		var cerr x509.CertificateInvalidError
		if errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &cerr) {
			return ev.Outcome(record.StatusError, nil, "the vendor's TLS certificate at %s does not verify (%v): cannot tell whose file would be served; when the vendor uses a private CA, name it in targets.supplier.trust", sp.SecurityTxt, err)
		}
		return ev.Outcome(record.StatusError, nil, "nothing answered at %s: %v (check the URL; a security.txt nobody can fetch cannot be judged)", sp.SecurityTxt, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, supply.MaxSecurityTxt+1))
	f.FinalURL, f.Status, f.ContentType, f.Bytes = resp.Request.URL.String(), resp.StatusCode, resp.Header.Get("Content-Type"), len(body)
	if err != nil {
		f.Error = err.Error()
		ev.JSON("fetch.json", f)
		return ev.Outcome(record.StatusError, nil, "the answer from %s broke off: %v", sp.SecurityTxt, err)
	}
	ev.JSON("fetch.json", f)
	plain := strings.EqualFold(req.URL.Scheme, "http") || strings.EqualFold(resp.Request.URL.Scheme, "http")
	for _, r := range f.Redirects {
		if u, err := url.Parse(r); err == nil && u.Scheme == "http" {
			plain = true
		}
	}
	obs := map[string]any{"url": sp.SecurityTxt, "status": resp.StatusCode, "https": !plain}
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return ev.Outcome(record.StatusFail, obs, "no security.txt at %s (HTTP %d): the vendor publishes no disclosure contact and policy there", sp.SecurityTxt, resp.StatusCode)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return ev.Outcome(record.StatusFail, obs, "the security.txt at %s is not public (HTTP %d)", sp.SecurityTxt, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return ev.Outcome(record.StatusError, obs, "%s answered HTTP %d: cannot read the file", sp.SecurityTxt, resp.StatusCode)
	}
	ev.Raw("security.txt", body)
	st, err := supply.ParseSecurityTxt(body)
	if err != nil {
		return ev.Outcome(record.StatusFail, obs, "the file at %s is not a security.txt: %v", sp.SecurityTxt, err)
	}
	now := time.Now()
	var failed []string
	if plain {
		failed = append(failed, "served over plain HTTP (RFC 9116 §3: https only), so anyone on the way can change the contact")
	}
	contacts, policies := st.Contacts(), st.Policies()
	obs["contact"] = check.StrSlice(contacts)
	obs["policy"] = check.StrSlice(policies)
	obs["signed"] = st.Signed
	if len(st.Problems) > 0 {
		obs["rfc9116_problems"] = check.StrSlice(st.Problems)
	}
	if ct := f.ContentType; ct != "" && !strings.HasPrefix(strings.ToLower(ct), "text/plain") {
		obs["content_type"] = ct + " (RFC 9116 §3 wants text/plain; charset=utf-8)"
	}
	if len(contacts) == 0 {
		failed = append(failed, "no Contact (a mailto:, tel: or https: URI where vulnerabilities are reported)")
	}
	switch exp := st.Fields["expires"]; {
	case len(exp) == 0:
		failed = append(failed, "no Expires")
	case len(exp) > 1:
		failed = append(failed, fmt.Sprintf("Expires appears %d times", len(exp)))
	case st.Expires.IsZero():
		failed = append(failed, fmt.Sprintf("Expires %q is not an RFC 3339 date and time", exp[0]))
	default:
		obs["expires"] = st.Expires.UTC().Format(time.RFC3339)
		if !st.Expires.After(now) {
			failed = append(failed, fmt.Sprintf("expired on %s: the vendor no longer stands by its contents", st.Expires.UTC().Format(time.DateOnly)))
		} else if st.Expires.After(now.AddDate(1, 0, 0)) {
			obs["expires_note"] = "more than a year ahead (RFC 9116 §2.5.5 recommends less, to avoid staleness)"
		}
	}
	if len(policies) == 0 {
		failed = append(failed, "no Policy link (an https URI of the vulnerability disclosure policy)")
	}
	switch {
	case !st.Signed:
		obs["signature"] = "not signed"
	case len(sp.VendorKey) == 0:
		obs["signature"] = "signed, signature not checked (no vendor key named in targets.supplier.vendor_key)"
	default:
		signer, err := supply.VerifySignature(body, sp.VendorKey)
		if err != nil {
			obs["signature"] = "signed, signature invalid against the vendor key: " + err.Error()
			failed = append(failed, "its OpenPGP signature does not verify against the vendor key ("+err.Error()+")")
		} else {
			obs["signature"] = "signed, signature valid (" + signer + ")"
		}
	}
	if len(failed) > 0 {
		return ev.Outcome(record.StatusFail, obs, "the security.txt at %s falls short: %s", sp.SecurityTxt, strings.Join(failed, "; "))
	}
	return ev.Outcome(record.StatusPass, obs, "%s is served over HTTPS with %d contact(s), a policy at %s, expiring %s; %s", sp.SecurityTxt, len(contacts), policies[0], st.Expires.UTC().Format(time.DateOnly), obs["signature"])
}

// --- SUP-SBOM ---

type sbomRow struct {
	Module  string `json:"module"`
	Binary  string `json:"binary_version"`
	SBOM    string `json:"sbom_versions,omitempty"`
	Verdict string `json:"verdict"` // listed, missing, other-version
}

func judgeSBOM(env *check.Env, sp check.Supplier, build *supply.Build) check.Outcome {
	ev := check.NewEvidence(env, ctlSupSBOM)
	sum := sha256.Sum256(sp.SBOM)
	obs := map[string]any{"sbom": sp.SBOMName, "sbom_sha256": hex.EncodeToString(sum[:]), "binary": sp.GatewayBin}
	if sp.SBOMOrigin != "" {
		obs["sbom_origin"] = sp.SBOMOrigin
	}
	doc, err := supply.ParseSBOM(sp.SBOM)
	if err != nil {
		return ev.Outcome(record.StatusFail, obs, "the SBOM %s does not parse as CycloneDX or SPDX JSON: %v", sp.SBOMName, err)
	}
	obs["format"] = doc.Format + " " + doc.SpecVersion
	obs["components"] = len(doc.Components)
	if len(doc.Tools) > 0 {
		obs["sbom_tools"] = check.StrSlice(doc.Tools)
	}
	listed := map[string][]string{} // module path (lower case) → versions the SBOM lists
	for _, c := range append(slices.Clone(doc.Components), subject(doc)...) {
		if p, v, ok := c.Module(); ok {
			k := strings.ToLower(p)
			listed[k] = append(listed[k], v)
		}
	}
	var rows []sbomRow
	var missing, other []string
	for _, m := range build.Modules {
		row := sbomRow{Module: m.Path, Binary: m.Version}
		versions := listed[strings.ToLower(m.Path)]
		if m.Replaces != "" && len(versions) == 0 {
			versions = listed[strings.ToLower(m.Replaces)] // a generator may list the original path with the replacement's version
		}
		row.SBOM = strings.Join(versions, ", ")
		switch {
		case len(versions) == 0:
			row.Verdict = "missing"
			missing = append(missing, m.Path+"@"+m.Version)
		case m.Version == "" || slices.ContainsFunc(versions, func(v string) bool { return sameVersion(v, m.Version) }):
			row.Verdict = "listed" // a local replacement has no version: listed by path
		default:
			row.Verdict = "other-version"
			other = append(other, fmt.Sprintf("%s (binary %s, SBOM %s)", m.Path, m.Version, row.SBOM))
		}
		rows = append(rows, row)
	}
	// The main module is the release itself: listed as the SBOM's subject or as a component,
	// with the binary's version when both state one (a build outside a tagged checkout has none).
	mainVersions := listed[strings.ToLower(build.Main.Path)]
	obs["main_module"] = build.Main.Path + " " + build.Main.Version
	switch stated := slices.DeleteFunc(slices.Clone(mainVersions), func(v string) bool { return v == "" || v == "(devel)" }); {
	case len(mainVersions) == 0:
		missing = append(missing, build.Main.Path+" (the main module)")
	case build.Main.Version != "(devel)" && build.Main.Version != "" && len(stated) > 0 &&
		!slices.ContainsFunc(stated, func(v string) bool { return sameVersion(v, build.Main.Version) }):
		other = append(other, fmt.Sprintf("%s, the main module (binary %s, SBOM %s)", build.Main.Path, build.Main.Version, strings.Join(stated, ", ")))
	}
	ev.JSON("modules.json", map[string]any{"binary_main": build.Main, "rows": rows})
	obs["modules"] = len(build.Modules)
	obs["missing"] = len(missing)
	obs["other_version"] = len(other)
	if len(missing) > 0 || len(other) > 0 {
		var parts []string
		if len(missing) > 0 {
			parts = append(parts, fmt.Sprintf("%d module(s) of the binary are not listed: %s", len(missing), cut(missing, 8)))
		}
		if len(other) > 0 {
			parts = append(parts, fmt.Sprintf("%d listed with another version: %s", len(other), cut(other, 8)))
		}
		return ev.Outcome(record.StatusFail, obs, "the SBOM %s does not describe the binary %s: %s", sp.SBOMName, sp.GatewayBin, strings.Join(parts, "; "))
	}
	return ev.Outcome(record.StatusPass, obs, "the SBOM %s (%s %s) lists the main module and all %d modules the binary's build information names, with the same versions", sp.SBOMName, doc.Format, doc.SpecVersion, len(build.Modules))
}

func subject(doc *supply.SBOM) []supply.Component {
	if doc.Subject == nil {
		return nil
	}
	return []supply.Component{*doc.Subject}
}

// sameVersion compares module versions, with or without the leading v some SBOMs drop.
func sameVersion(a, b string) bool { return strings.TrimPrefix(a, "v") == strings.TrimPrefix(b, "v") }

// cut joins the first n items and says how many more there are.
func cut(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}

// --- SUP-VULN ---

type vulnFinding struct {
	Advisory string   `json:"advisory"`
	Aliases  []string `json:"aliases,omitempty"`
	Module   string   `json:"module"`
	Version  string   `json:"version"`
	Fixed    []string `json:"fixed"` // empty: no fixed version known
	Summary  string   `json:"summary,omitempty"`
	File     string   `json:"file"`
}

func judgeVuln(ctx context.Context, env *check.Env, sp check.Supplier, build *supply.Build) check.Outcome {
	ev := check.NewEvidence(env, ctlSupVuln)
	obs := map[string]any{"vulndb": sp.VulnDBName, "binary": sp.GatewayBin, "network": "none: the database is a local snapshot"}
	if sp.VulnDBNote != "" {
		obs["vulndb_note"] = sp.VulnDBNote
	}
	// What the binary holds: its modules, and the standard library of its toolchain.
	type mod struct{ path, version string }
	var mods []mod
	var unreadable []string
	for _, m := range build.Modules {
		if m.Version == "" {
			unreadable = append(unreadable, m.Path+" (a local replacement without a version)")
			continue
		}
		mods = append(mods, mod{m.Path, m.Version})
	}
	if v, ok := supply.StdLibVersion(build.GoVersion); ok {
		mods = append(mods, mod{supply.StdLib, v})
	} else {
		unreadable = append(unreadable, "stdlib ("+build.GoVersion+")")
	}
	byPath := map[string][]string{}
	for _, m := range mods {
		byPath[m.path] = append(byPath[m.path], m.version)
	}
	var findings []vulnFinding
	var broken []string
	entries, notOSV, withdrawn, files := 0, 0, 0, 0
	var total int64
	var newest time.Time
	walkErr := fs.WalkDir(sp.VulnDB, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() || !strings.HasSuffix(strings.ToLower(name), ".json") {
			return nil
		}
		files++
		if files > maxVulnFiles {
			return fmt.Errorf("more than %d JSON files", maxVulnFiles)
		}
		b, err := infile.ReadFS(sp.VulnDB, name, path.Join(sp.VulnDBName, name), "OSV entry", infile.MaxAdvisory)
		if err != nil {
			broken = append(broken, fmt.Sprintf("%s: %v", name, err))
			return nil
		}
		if total += int64(len(b)); total > maxVulnBytes {
			return fmt.Errorf("more than %s of JSON", infile.Size(maxVulnBytes))
		}
		a, err := supply.ParseAdvisory(b)
		switch {
		case errors.Is(err, supply.ErrNotOSV):
			notOSV++
			return nil
		case err != nil:
			broken = append(broken, fmt.Sprintf("%s: %v", name, err))
			return nil
		}
		entries++
		if a.Modified.After(newest) {
			newest = a.Modified
		}
		if a.Withdrawn != nil {
			withdrawn++
			return nil
		}
		for _, af := range a.Affected {
			if af.Package.Ecosystem != supply.EcosystemGo {
				continue
			}
			for _, v := range byPath[af.Package.Name] {
				m, err := a.Match(supply.EcosystemGo, af.Package.Name, v)
				if err != nil {
					broken = append(broken, fmt.Sprintf("%s: %v", name, err))
					continue
				}
				if m.Affected && !slices.ContainsFunc(findings, func(f vulnFinding) bool { return f.Advisory == a.ID && f.Module == af.Package.Name }) {
					findings = append(findings, vulnFinding{Advisory: a.ID, Aliases: a.Aliases, Module: af.Package.Name, Version: v, Fixed: m.Fixed, Summary: a.Summary, File: name})
				}
			}
		}
		return nil
	})
	sort.Slice(findings, func(i, j int) bool {
		if findings[i].Module != findings[j].Module {
			return findings[i].Module < findings[j].Module
		}
		return findings[i].Advisory < findings[j].Advisory
	})
	if findings == nil {
		findings = []vulnFinding{}
	}
	db := map[string]any{"vulndb": sp.VulnDBName, "json_files": files, "entries": entries, "not_osv": notOSV, "withdrawn": withdrawn, "unreadable": broken}
	if !newest.IsZero() {
		db["newest_modified"] = newest.UTC().Format(time.RFC3339)
		obs["newest_entry"] = newest.UTC().Format(time.DateOnly)
	}
	ev.JSON("vulndb.json", db)
	ev.JSON("advisories.json", map[string]any{"modules_checked": len(mods), "not_checked": unreadable, "findings": findings})
	obs["entries"], obs["modules_checked"], obs["advisories"] = entries, len(mods), len(findings)
	if len(broken) > 0 {
		obs["unreadable_entries"] = len(broken) // listed in vulndb.json; with findings they do not change the verdict
	}
	if len(unreadable) > 0 {
		obs["not_checked"] = check.StrSlice(unreadable)
	}
	switch {
	case walkErr != nil:
		return ev.Outcome(record.StatusError, obs, "cannot read the vulnerability database %s: %v", sp.VulnDBName, walkErr)
	case len(findings) > 0:
		var parts []string
		for _, f := range findings {
			fix := "no fixed version known"
			if len(f.Fixed) > 0 {
				fix = "fixed in " + strings.Join(f.Fixed, ", ")
			}
			parts = append(parts, fmt.Sprintf("%s in %s@%s (%s)", f.Advisory, f.Module, f.Version, fix))
		}
		return ev.Outcome(record.StatusFail, obs, "%d known %s affect the gateway's modules: %s", len(findings), plural(len(findings), "advisory", "advisories"), cut(parts, 10))
	case len(broken) > 0:
		return ev.Outcome(record.StatusError, obs, "%d entries of %s could not be read or judged, so an advisory may be missed: %s", len(broken), sp.VulnDBName, cut(broken, 3))
	case entries == 0:
		return ev.Outcome(record.StatusError, obs, "the vulnerability database %s holds no OSV entry: an empty database proves nothing", sp.VulnDBName)
	}
	return ev.Outcome(record.StatusPass, obs, "none of %d OSV entries of %s affects the %d modules of the gateway binary (module-level match, offline; newest entry %s)", entries, sp.VulnDBName, len(mods), obs["newest_entry"])
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// --- SUP-SUPPORT ---

func judgeSupport(env *check.Env, sp check.Supplier, build *supply.Build) check.Outcome {
	ev := check.NewEvidence(env, ctlSupSupport)
	ev.Raw("support.json", sp.Support)
	obs := map[string]any{"support": sp.SupportName}
	if sp.GatewayBin != "" {
		obs["binary"] = sp.GatewayBin
	}
	s, err := supply.ParseSupport(sp.Support)
	if err != nil {
		o := ev.Outcome(record.StatusFail, obs, "the support declaration %s does not parse: %v", sp.SupportName, err)
		o.Severity = record.SeverityMedium
		return o
	}
	if len(s.Missing) > 0 {
		o := ev.Outcome(record.StatusFail, obs, "the support declaration %s does not declare %s: the support period and supported release lines must be published", sp.SupportName, strings.Join(s.Missing, " and "))
		o.Severity = record.SeverityMedium
		return o
	}
	var lines []string
	for _, l := range s.Lines {
		lines = append(lines, l.Line)
	}
	obs["support_end"] = s.SupportEnd.Format(time.DateOnly)
	obs["supported_lines"] = check.StrSlice(lines)
	// The deployed version: named in the targets, else the binary's main module version, else
	// the version its build set with -ldflags -X main.version.
	version, from := sp.Version, "targets.supplier.version"
	if version == "" && build != nil {
		version, from = build.Main.Version, "the binary's main module version"
		if _, ok := supply.ParseVersion(version); !ok || supply.PseudoVersion(version) {
			if build.LdflagsVersion != "" {
				version, from = build.LdflagsVersion, "the binary's -ldflags -X main.version"
			}
		}
	}
	obs["deployed_version"], obs["version_from"] = version, from
	v, ok := supply.ParseVersion(version)
	switch {
	case version == "" || version == "(devel)":
		return ev.Outcome(record.StatusError, obs, "the gateway binary carries no release version (main module %s, no -X main.version): name the deployed version in targets.supplier.version", version)
	case !ok:
		return ev.Outcome(record.StatusError, obs, "the deployed version %q (%s) is not a semantic version: name it in targets.supplier.version", version, from)
	}
	now := time.Now()
	if supply.Passed(s.SupportEnd, now) {
		return ev.Outcome(record.StatusFail, obs, "the declared support period ended on %s: the deployed %s gets no security updates", s.SupportEnd.Format(time.DateOnly), version)
	}
	if !v.Release() {
		return ev.Outcome(record.StatusFail, obs, "the deployed %s (%s) is a pre-release or development build, not a release of a supported line (%s)", version, from, strings.Join(lines, ", "))
	}
	l, ok := s.LineOf(v)
	if !ok {
		return ev.Outcome(record.StatusFail, obs, "the deployed %s is in none of the supported lines (%s): it gets no security updates", version, strings.Join(lines, ", "))
	}
	end := s.Ends(l)
	obs["line"], obs["line_end"] = l.Line, end.Format(time.DateOnly)
	if supply.Passed(end, now) {
		return ev.Outcome(record.StatusFail, obs, "the deployed %s is in line %s, whose support ended on %s", version, l.Line, end.Format(time.DateOnly))
	}
	return ev.Outcome(record.StatusPass, obs, "the deployed %s is in the supported line %s, supported until %s (support period of the product until %s)", version, l.Line, end.Format(time.DateOnly), s.SupportEnd.Format(time.DateOnly))
}
