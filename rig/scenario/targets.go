package scenario

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/pathrig/rig/rig/infile"
)

// Targets names endpoints the rig did not start: a client's broker and ingest. A scenario with
// targets probes those and starts no reference stack. Every field is optional; a control whose
// input is not named is skipped with the reason. Secrets are never written in the file: they are
// read from a file or an environment variable when the run starts.
type Targets struct {
	Broker *BrokerTarget `yaml:"broker"`
	Probes []ProbeTarget `yaml:"probes"`
	Ingest *IngestTarget `yaml:"ingest"`
	// DeviceCerts is a folder of PEM device certificates (the fleet inventory); DeviceTrust a PEM
	// file of the device CA(s) they should chain to.
	DeviceCerts string `yaml:"device_certs"`
	// Management lists the gateway's management or debug URLs, probed without credentials.
	Management  []string `yaml:"management"`
	DeviceTrust string   `yaml:"device_trust"`
	// Supplier names the supplier-side evidence of the gateway release (the supplier check).
	Supplier *SupplierTarget `yaml:"supplier"`
	// Observability names the path's security logs, metrics and alerts (targets_obs.go).
	Observability *ObservabilityTarget `yaml:"observability"`
	dir           string               // the scenario's folder: relative file names resolve against it
}

// SupplierTarget names the supplier-side evidence of the gateway under audit: the vendor's
// security.txt, the SBOM of the release, an offline vulnerability database, the declared
// support period and the gateway binary that is deployed. Every field is optional; a control
// whose input is not named is skipped with the reason.
type SupplierTarget struct {
	SecurityTxt string `yaml:"security_txt"` // URL of the vendor's RFC 9116 file
	Trust       string `yaml:"trust"`        // PEM CA(s) the vendor URL is checked against when not a public one
	VendorKey   string `yaml:"vendor_key"`   // the vendor's OpenPGP public key (armored), to check a signed security.txt
	SBOM        string `yaml:"sbom"`         // the SBOM of the gateway release: CycloneDX JSON or SPDX JSON
	VulnDB      string `yaml:"vulndb"`       // a folder of OSV JSON entries: an offline vulnerability database snapshot
	Support     string `yaml:"support"`      // the support declaration: support end date and supported release lines (JSON)
	GatewayBin  string `yaml:"gateway_bin"`  // the gateway binary that is deployed (a Go binary: its build information)
	// Version is the deployed gateway version, when the binary's build information carries no
	// release version (e.g. 1.4.2).
	Version string `yaml:"version"`
}

// BrokerTarget names the MQTT endpoints under audit.
type BrokerTarget struct {
	Plain      string `yaml:"plain"`       // host:port of a plaintext listener (probed to show it is closed)
	TLS        string `yaml:"tls"`         // host:port of the MQTT-over-TLS listener
	ServerName string `yaml:"server_name"` // the name devices use (SNI, SAN check)
	Trust      string `yaml:"trust"`       // PEM file of the deployment's trust anchor(s)
	// WebSocket lists MQTT-over-WebSocket listeners (ws:// or wss:// URLs) the identity check
	// holds to the TLS listener's authentication and ACL.
	WebSocket []string `yaml:"websocket"`
}

// ProbeTarget is a device identity the guardrail probes connect with.
type ProbeTarget struct {
	Name     string  `yaml:"name"`
	ClientID string  `yaml:"client_id"`
	Username string  `yaml:"username"`
	Password *Secret `yaml:"password"`
	Cert     string  `yaml:"cert"` // PEM client certificate file
	Key      string  `yaml:"key"`  // PEM private key file (kept out of every output)
	Topic    string  `yaml:"topic"`
}

// IngestTarget names the HTTP ingest under audit.
type IngestTarget struct {
	URL   string  `yaml:"url"`
	Token *Secret `yaml:"token"`
	// OtherTenantToken is a valid token of a second tenant, for the tenant-isolation probe.
	OtherTenantToken *Secret `yaml:"other_tenant_token"`
	// ExpiredToken is a token the ingest issued that has expired, for the expiry probe.
	ExpiredToken *Secret `yaml:"expired_token"`
	Trust        string  `yaml:"trust"`  // PEM file for an https URL signed by a private CA
	Sample       string  `yaml:"sample"` // file holding a valid JSON request body
}

// Secret says where a secret comes from: a file (its content, trailing newline removed) or an
// environment variable. A secret written inline is refused.
type Secret struct {
	File string `yaml:"file"`
	Env  string `yaml:"env"`
}

// UnmarshalYAML refuses an inline secret with the remedy.
func (s *Secret) UnmarshalYAML(n ast.Node) error {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		return &nodeError{tok: n.GetToken(), msg: "inline secrets are refused (they would end up in version control and reports): write {file: PATH} or {env: VARIABLE}"}
	}
	for _, kv := range m.Values {
		v, ok := kv.Value.(*ast.StringNode)
		if !ok {
			return &nodeError{tok: kv.Value.GetToken(), msg: "want a string"}
		}
		switch kv.Key.String() {
		case "file":
			s.File = v.Value
		case "env":
			s.Env = v.Value
		default:
			return &nodeError{tok: kv.Key.GetToken(), msg: fmt.Sprintf("unknown field %q of a secret (want file or env)", kv.Key.String())}
		}
	}
	return nil
}

// Dir is the folder relative file names of the targets resolve against.
func (t *Targets) Dir() string { return t.dir }

// Path resolves a file name of the targets against the scenario's folder.
func (t *Targets) Path(name string) string {
	if name == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(t.dir, name)
}

// validate checks shapes and that every named file exists and every named variable is set, so
// nothing runs against half a target list. Reading and parsing happen when the run starts.
func (t *Targets) validate(d *doc, dir string) error {
	t.dir = dir
	for i, m := range t.Management {
		f := fmt.Sprintf("targets.management[%d]", i)
		u, err := url.Parse(m)
		if err == nil {
			if where := urlCredential(u); where != "" {
				return d.at(f, "the URL carries a credential in %s: management endpoints are probed without credentials (the control checks that they refuse an anonymous request): remove it", where)
			}
		}
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return d.at(f, "%s is not an http or https URL", quoteURL(m))
		}
	}
	if t.Broker == nil && t.Ingest == nil && t.DeviceCerts == "" && len(t.Management) == 0 && t.Supplier == nil && t.Observability == nil {
		return d.at("targets", "names no broker, ingest, device certificates, management endpoint, supplier evidence or observability: nothing to probe")
	}
	// file checks a named file exists; a regular one of at most limit bytes unless limit is 0
	// (the device-certificate folder). what names its kind in the message.
	file := func(field, name, what string, limit int64) error {
		if name == "" {
			return nil
		}
		var err error
		if limit == 0 {
			_, err = os.Stat(t.Path(name))
		} else {
			err = infile.Check(t.Path(name), what, limit)
		}
		var ie *infile.Error
		switch {
		case errors.As(err, &ie):
			return d.at(field, "%v", err)
		case err != nil:
			return d.at(field, "cannot read %s: %v", t.Path(name), err)
		}
		return nil
	}
	pem := func(field, name string) error { return file(field, name, "PEM file", infile.MaxPEM) }
	secret := func(field string, s *Secret) error {
		if s == nil {
			return nil
		}
		switch {
		case (s.File == "") == (s.Env == ""):
			return d.at(field, "name exactly one of file or env")
		case s.File != "":
			return file(field+".file", s.File, "secret file", infile.MaxSecret)
		}
		if _, ok := os.LookupEnv(s.Env); !ok {
			return d.at(field+".env", "environment variable %s is not set", s.Env)
		}
		return nil
	}
	hostPort := func(field, addr string) error {
		if addr == "" {
			return nil
		}
		if strings.Contains(addr, "@") {
			return d.at(field, "the address carries credentials (user:password@), which would be quoted in run.json, the reports and the evidence: write host:port, and name each probe identity's password in targets.probes[].password: {file: PATH} or {env: VARIABLE}")
		}
		if _, p, err := net.SplitHostPort(addr); err != nil || p == "" {
			return d.at(field, "%q is not host:port", addr)
		}
		return nil
	}
	if b := t.Broker; b != nil {
		if b.Plain == "" && b.TLS == "" && len(b.WebSocket) == 0 {
			return d.at("targets.broker", "names neither plain, tls nor websocket")
		}
		if err := validateWebSocketTargets(d, b.WebSocket); err != nil {
			return err
		}
		for _, e := range []error{hostPort("targets.broker.plain", b.Plain), hostPort("targets.broker.tls", b.TLS), pem("targets.broker.trust", b.Trust)} {
			if e != nil {
				return e
			}
		}
	}
	for i, p := range t.Probes {
		f := fmt.Sprintf("targets.probes[%d]", i)
		if p.Name == "" {
			return d.at(f+".name", "missing: name each probe identity (it labels the evidence)")
		}
		if (p.Cert == "") != (p.Key == "") {
			return d.at(f+".cert", "cert and key go together")
		}
		for _, e := range []error{secret(f+".password", p.Password), pem(f+".cert", p.Cert), pem(f+".key", p.Key)} {
			if e != nil {
				return e
			}
		}
	}
	if t.DeviceCerts != "" {
		if fi, err := os.Stat(t.Path(t.DeviceCerts)); err == nil && !fi.IsDir() {
			return d.at("targets.device_certs", "%s is a file: name the folder of the PEM inventory", t.Path(t.DeviceCerts))
		}
	}
	if err := file("targets.device_certs", t.DeviceCerts, "", 0); err != nil {
		return err
	}
	if err := pem("targets.device_trust", t.DeviceTrust); err != nil {
		return err
	}
	if sp := t.Supplier; sp != nil {
		if err := sp.validate(d, file, pem, t.Path); err != nil {
			return err
		}
	}
	if o := t.Observability; o != nil {
		if err := o.validate(d, t.Path, secret); err != nil {
			return err
		}
	}
	if len(t.Probes) > 0 && t.Broker == nil {
		return d.at("targets.probes", "probe identities without a broker to connect to")
	}
	if in := t.Ingest; in != nil {
		u, err := url.Parse(in.URL)
		if err == nil {
			if where := urlCredential(u); where != "" {
				return d.at("targets.ingest.url", "the URL carries a credential in %s, which would be quoted in run.json, the reports and the evidence: remove it and name the ingest's token in targets.ingest.token: {file: PATH} or {env: VARIABLE} (the rig sends it as a bearer token)", where)
			}
		}
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return d.at("targets.ingest.url", "%s is not an http or https URL", quoteURL(in.URL))
		}
		for _, e := range []error{secret("targets.ingest.token", in.Token), secret("targets.ingest.other_tenant_token", in.OtherTenantToken), secret("targets.ingest.expired_token", in.ExpiredToken), pem("targets.ingest.trust", in.Trust), file("targets.ingest.sample", in.Sample, "sample request body", infile.MaxSample)} {
			if e != nil {
				return e
			}
		}
	}
	return nil
}

func parseURL(s string) (*url.URL, error) { return url.Parse(s) }

// urlCredential says where u carries a credential ("" when it does not): a user:password@ part
// (a user name alone too: it is half of one), or a query or fragment parameter whose name says
// it holds a secret (token, key, password, signature, ...).
func urlCredential(u *url.URL) string {
	if u.User != nil {
		return "its user:password@ part"
	}
	for _, part := range []struct{ name, raw string }{{"query", u.RawQuery}, {"fragment", u.Fragment}} {
		q, _ := url.ParseQuery(part.raw) // a malformed pair is skipped; the others are still read
		names := make([]string, 0, len(q))
		for k := range q {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if secretParam(k) {
				return fmt.Sprintf("%s parameter %q", part.name, k)
			}
		}
	}
	return ""
}

// secretWords are parts of parameter names that carry credentials in the wild (OAuth
// access_token, api_key, X-Amz-Signature, sig of SAS URLs, password, session ids, JWTs).
var secretWords = []string{"token", "secret", "pass", "pwd", "key", "auth", "signature", "credential", "session", "jwt", "bearer"}

func secretParam(name string) bool {
	n := strings.ToLower(name)
	if n == "sig" || strings.HasSuffix(n, "-sig") || strings.HasSuffix(n, "_sig") {
		return true
	}
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// quoteURL quotes a URL for an error message unless it might hold a credential that did not
// parse (an '@', a query or a fragment): then the message says "the URL" without quoting it.
func quoteURL(raw string) string {
	if strings.ContainsAny(raw, "@?#") {
		return "the URL"
	}
	return strconv.Quote(raw)
}

// validate checks the supplier evidence's shapes and that every named file and folder exists.
func (sp *SupplierTarget) validate(d *doc, file func(field, name, what string, limit int64) error, pem func(field, name string) error, path func(string) string) error {
	const f = "targets.supplier"
	if *sp == (SupplierTarget{}) {
		return d.at(f, "names no supplier evidence: name at least one of security_txt, sbom, vulndb, support, gateway_bin")
	}
	if sp.SecurityTxt != "" {
		u, err := url.Parse(sp.SecurityTxt)
		if err == nil {
			if where := urlCredential(u); where != "" {
				return d.at(f+".security_txt", "the URL carries a credential in %s: a security.txt is public, fetched without credentials: remove it", where)
			}
		}
		// http is accepted here: SUP-SECURITY-TXT fetches it and fails it for not being HTTPS.
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return d.at(f+".security_txt", "%s is not an http or https URL (e.g. https://vendor.example/.well-known/security.txt)", quoteURL(sp.SecurityTxt))
		}
	}
	if (sp.Trust != "" || sp.VendorKey != "") && sp.SecurityTxt == "" {
		field := f + ".trust"
		if sp.Trust == "" {
			field = f + ".vendor_key"
		}
		return d.at(field, "only checks the vendor's security.txt: name it in %s.security_txt", f)
	}
	if sp.VulnDB != "" {
		fi, err := os.Stat(path(sp.VulnDB))
		switch {
		case err != nil:
			return d.at(f+".vulndb", "cannot read %s: %v", path(sp.VulnDB), err)
		case !fi.IsDir():
			return d.at(f+".vulndb", "%s is a file: name the folder of OSV JSON entries (the offline vulnerability database snapshot)", path(sp.VulnDB))
		}
	}
	if sp.Version != "" && !semverLike.MatchString(sp.Version) {
		return d.at(f+".version", "%q is not a release version such as 1.4.2 or v1.4.2", sp.Version)
	}
	for _, e := range []error{
		pem(f+".trust", sp.Trust),
		file(f+".vendor_key", sp.VendorKey, "OpenPGP public key", infile.MaxPEM),
		file(f+".sbom", sp.SBOM, "SBOM", infile.MaxSBOM),
		file(f+".support", sp.Support, "support declaration", infile.MaxSupport),
		file(f+".gateway_bin", sp.GatewayBin, "gateway binary", infile.MaxBinary),
	} {
		if e != nil {
			return e
		}
	}
	return nil
}

// semverLike is a release version: MAJOR.MINOR.PATCH, an optional v, pre-release and build parts.
var semverLike = regexp.MustCompile(`^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
