package scenario

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/pathrig/rig/rig/infile"
)

// ErrInvalid marks a definition file that failed to decode or validate. Callers exit with a
// usage/configuration status on it.
var ErrInvalid = errors.New("invalid definition")

// FileError is a problem at one place of one definition file.
type FileError struct {
	File  string // path or embedded:<name>
	Line  int    // 1-based; 0 when the problem has no single place (e.g. a missing field)
	Field string // YAML path such as broker.tls.min_version; "" for syntax errors
	Msg   string
}

func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": field %s", e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

func (e *FileError) Unwrap() error { return ErrInvalid }

// doc is one decoded file with its syntax tree, kept to find the line of a field during validation.
type doc struct {
	name string
	file *ast.File
}

// decode parses data strictly into v: unknown fields, duplicate keys and wrong types are errors
// naming file, line and field. data holds exactly one YAML document; a leading UTF-8 byte-order
// mark (some Windows editors write one) is skipped. The bounds of bounds.go are checked before
// the YAML library parses and decodes.
func decode(name string, data []byte, v any) (d *doc, err error) {
	// goccy/go-yaml has panicked on input it should refuse (a tag on a list): whatever slips past
	// the checks below becomes an error on the file, never a crash of the rig.
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, panicError(name, data, v, r)
		}
	}()
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	if err := checkTokens(name, string(data)); err != nil {
		return nil, err
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, yamlError(name, nil, err)
	}
	var body ast.Node
	for i, dn := range f.Docs {
		switch b := dn.Body.(type) {
		case nil:
			continue
		case *ast.DirectiveNode:
			return nil, &FileError{File: name, Line: line(b.GetToken()), Msg: "YAML directive %" + b.Name.String() + ": rig files need none (remove the line)"}
		}
		switch {
		case body != nil:
			at := line(dn.Start)
			if at == 0 {
				at = line(dn.Body.GetToken())
			}
			return nil, &FileError{File: name, Line: at, Msg: "a second YAML document starts here: a rig file holds exactly one (remove this --- and what follows, or move it to a file of its own)"}
		case i > 0:
			return nil, &FileError{File: name, Line: line(dn.Body.GetToken()), Msg: "empty YAML documents (--- lines) precede the content: remove them"}
		}
		body = dn.Body
	}
	if body == nil {
		if hasContent(data) {
			return nil, &FileError{File: name, Msg: "no YAML document found although the file is not empty: check its --- lines"}
		}
		return nil, &FileError{File: name, Msg: "the file is empty (or holds only comments): " + emptyHint(v)}
	}
	if err := checkTree(name, body); err != nil {
		return nil, err
	}
	if err := checkTypes(name, body, reflect.TypeOf(v), "", map[string]ast.Node{}); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data), yaml.DisallowUnknownField())
	if err := dec.Decode(v); err != nil {
		return nil, yamlError(name, f, err)
	}
	return &doc{name: name, file: f}, nil
}

// emptyHint says what a file of v's kind holds at least.
func emptyHint(v any) string {
	switch v.(type) {
	case *Scenario:
		return "a scenario names at least name, profile (or targets) and bundles (see docs/scenario-format.md#scenario)"
	case *Profile:
		return "a profile names at least name and a broker listener (see docs/scenario-format.md#profile)"
	case *Bundle:
		return "a bundle names name and checks or controls (see docs/scenario-format.md#bundle)"
	}
	return "write the fields of the file (see docs/scenario-format.md for the format)"
}

// hasContent reports whether data holds more than comments and document markers.
func hasContent(data []byte) bool {
	for _, tk := range lexer.Tokenize(string(data)) {
		switch tk.Type {
		case token.CommentType, token.DocumentHeaderType, token.DocumentEndType, token.SpaceType:
		default:
			return true
		}
	}
	return false
}

// panicError turns a panic of the YAML library into an error on the file. To place it, each
// top-level key is decoded again on its own until one panics.
func panicError(name string, data []byte, v any, r any) error {
	fe := &FileError{File: name, Msg: fmt.Sprintf("the YAML library failed on this file (%v): simplify the YAML here (plain mappings, lists and scalars) and report the file to the rig's maintainers", r)}
	func() {
		defer func() { _ = recover() }()
		f, err := parser.ParseBytes(bytes.TrimPrefix(data, []byte("\ufeff")), 0)
		if err != nil || len(f.Docs) == 0 {
			return
		}
		m, ok := f.Docs[0].Body.(*ast.MappingNode)
		if !ok {
			return
		}
		for _, mv := range m.Values {
			if panics(mv.String(), v) {
				fe.Line, fe.Field = line(mv.Key.GetToken()), mv.Key.String()
				return
			}
		}
	}()
	return fe
}

func panics(src string, v any) (p bool) {
	defer func() {
		if recover() != nil {
			p = true
		}
	}()
	_ = yaml.Unmarshal([]byte(src), reflect.New(reflect.TypeOf(v).Elem()).Interface())
	return false
}

var goField = regexp.MustCompile(`Go struct field [A-Za-z]+\.(\S+) of type`)
var unknownField = regexp.MustCompile(`unknown field "([^"]+)"`)

func yamlError(name string, f *ast.File, err error) error {
	var te interface {
		GetToken() *token.Token
		GetMessage() string
	}
	if !errors.As(err, &te) {
		return &FileError{File: name, Msg: err.Error()}
	}
	fe := &FileError{File: name, Msg: te.GetMessage()}
	tk := te.GetToken()
	if tk != nil && tk.Position != nil {
		fe.Line = tk.Position.Line
		fe.Field = pathOf(f, tk)
	}
	if m := goField.FindStringSubmatch(fe.Msg); m != nil {
		fe.Msg = "wrong type: " + strings.Replace(fe.Msg, m[0], "field of type", 1)
	} else if m := unknownField.FindStringSubmatch(fe.Msg); m != nil {
		if fe.Field == "" {
			fe.Field = m[1]
		}
		fe.Msg = "unknown field (check the spelling; see docs/scenario-format.md for the format)"
	}
	return fe
}

// pathOf returns the YAML path (a.b[2].c) of the mapping key or value at tk's position, "" if none.
func pathOf(f *ast.File, tk *token.Token) string {
	if f == nil || tk == nil || tk.Position == nil {
		return ""
	}
	line, col := tk.Position.Line, tk.Position.Column
	best := ""
	var walk func(n ast.Node, path string)
	walk = func(n ast.Node, path string) {
		switch v := n.(type) {
		case *ast.DocumentNode:
			walk(v.Body, path)
		case *ast.MappingNode:
			for _, mv := range v.Values {
				walk(mv, path)
			}
		case *ast.MappingValueNode:
			p := v.Key.String()
			if path != "" {
				p = path + "." + p
			}
			for _, t := range []*token.Token{v.Key.GetToken(), v.Value.GetToken()} {
				if t != nil && t.Position != nil && t.Position.Line == line && t.Position.Column == col {
					best = p
				}
			}
			walk(v.Value, p)
		case *ast.SequenceNode:
			for i, e := range v.Values {
				p := fmt.Sprintf("%s[%d]", path, i)
				if t := e.GetToken(); t != nil && t.Position != nil && t.Position.Line == line && t.Position.Column == col {
					best = p
				}
				walk(e, p)
			}
		}
	}
	for _, d := range f.Docs {
		walk(d, "")
	}
	return best
}

// at returns a FileError placed at the YAML path (e.g. "broker.tls.min_version") if it exists.
func (d *doc) at(field, format string, args ...any) error {
	fe := &FileError{File: d.name, Field: field, Msg: fmt.Sprintf(format, args...)}
	if p, err := yaml.PathString("$." + field); err == nil {
		if n, err := p.FilterFile(d.file); err == nil && n != nil {
			if tk := n.GetToken(); tk != nil && tk.Position != nil {
				fe.Line = tk.Position.Line
			}
		}
	}
	return fe
}

// given reports whether field (a YAML path as for at) is written in the file with a value: a
// zero written out is given, an absent or empty (null) one is not.
func (d *doc) given(field string) bool {
	p, err := yaml.PathString("$." + field)
	if err != nil {
		return false
	}
	n, err := p.FilterFile(d.file)
	if err != nil || n == nil {
		return false
	}
	_, null := n.(*ast.NullNode)
	return !null
}

// Library resolves scenarios, profiles and bundles by name or path. Files on disk are looked up
// first (relative to the scenario's folder), then the embedded defaults.
type Library struct {
	Embedded fs.FS // layout: *.yaml, profiles/*.yaml, bundles/*.yaml, decisions/default.yaml
	// Controls, Checks and Hops are the catalog's names that waivers and decision rules may use;
	// empty: not checked against the catalog. Controls are in catalog order.
	Controls, Checks, Hops []string
	// Owners maps each control of the catalog to the check that evaluates it: a bundle's
	// controls: are checked against it, and a plan runs the checks that own them. A bundle that
	// names controls needs it.
	Owners map[string]string
}

// read returns the bytes of a named definition: a path that exists on disk, or a name looked up
// in dir (if not "") and then in the embedded tree under sub.
func (l Library) read(nameOrPath, dir, sub string) (string, []byte, error) {
	if isPath(nameOrPath) {
		if dir != "" && !filepath.IsAbs(nameOrPath) {
			nameOrPath = filepath.Join(dir, nameOrPath) // relative to the scenario that names it
		}
		b, err := readDefinition(nameOrPath)
		if err != nil {
			return "", nil, err
		}
		return nameOrPath, b, nil
	}
	if !validName.MatchString(nameOrPath) {
		return "", nil, fmt.Errorf("%w: %q is neither a file path nor a definition name", ErrInvalid, nameOrPath)
	}
	if dir != "" {
		p := filepath.Join(dir, sub, nameOrPath+".yaml")
		b, err := readDefinition(p)
		if err == nil {
			return p, b, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", nil, err // a file is there but cannot be used: falling back would hide it
		}
	}
	if l.Embedded != nil {
		p := nameOrPath + ".yaml"
		if sub != "" {
			p = sub + "/" + p
		}
		if b, err := fs.ReadFile(l.Embedded, p); err == nil {
			return "embedded:" + p, b, nil
		}
	}
	kind := "scenario"
	if sub != "" {
		kind = strings.TrimSuffix(sub, "s")
	}
	where := "the embedded defaults"
	if dir != "" {
		where = filepath.Join(dir, sub) + " and " + where
	}
	return "", nil, fmt.Errorf("%w: no %s named %q (looked in %s; `rig scenarios` lists the embedded ones, or give a path to a .yaml file)", ErrInvalid, kind, nameOrPath, where)
}

// readDefinition reads a definition file from disk, bounded (infile.MaxDefinition) and only
// if it is a regular file.
func readDefinition(path string) ([]byte, error) {
	b, err := infile.Read(path, "scenario, profile or bundle file", infile.MaxDefinition)
	var ie *infile.Error
	switch {
	case errors.As(err, &ie):
		return nil, &FileError{File: path, Msg: ie.Reason}
	case err != nil:
		return nil, fmt.Errorf("%w: read %s: %w", ErrInvalid, path, err)
	}
	return b, nil
}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// ExternalProfile is the profile name of a run against a scenario's targets.
const ExternalProfile = "external"

// Plan is a scenario with everything it names, loaded and validated.
type Plan struct {
	Scenario Scenario
	Profile  Profile
	Bundles  []Bundle
	Checks   []string // check IDs in run order, deduplicated
	// Controls, when not nil, are the only controls of Checks the run evaluates (catalog order):
	// a bundle named single controls (controls:). The others of those checks are not run and have
	// no result. nil: every control of Checks.
	Controls []string
	// Paths are the paths the plan's path bundles select (Bundle.Path), in bundle order; Scope says
	// what they leave out. Both empty without a path bundle.
	Paths   []string
	Scope   *Scope
	Waivers []Waiver // the accepted risks of the scenario's waiver file (or rig run --waivers)
	// Decision is the scenario's decision rules, then the defaults: the first that matches decides.
	Decision []DecisionRule
}

// Load reads a scenario (name or path), the profile it names (or profileOverride if not ""),
// and its bundles, validating all of them. knownChecks lists the check IDs the rig implements.
func (l Library) Load(nameOrPath, profileOverride string, knownChecks []string) (*Plan, error) {
	src, data, err := l.read(nameOrPath, "", "")
	if err != nil {
		return nil, err
	}
	var sc Scenario
	d, err := decode(src, data, &sc)
	if err != nil {
		return nil, err
	}
	sc.Source = src
	if err := sc.validate(d); err != nil {
		return nil, err
	}
	dir := ""
	if !strings.HasPrefix(src, "embedded:") {
		dir = filepath.Dir(src)
	}
	var plan *Plan
	if sc.Targets != nil {
		if err := sc.Targets.validate(d, dir); err != nil {
			return nil, err
		}
		if profileOverride != "" {
			return nil, d.at("targets", "--profile %s: a scenario with targets probes external endpoints and starts no reference stack, so no profile applies", profileOverride)
		}
		plan = &Plan{Scenario: sc, Profile: Profile{Name: ExternalProfile, Description: "external targets named by the scenario; no reference stack"}}
	} else {
		profName, profDir := sc.Profile, dir
		if profileOverride != "" {
			profName = profileOverride
			if isPath(profileOverride) {
				profDir = "" // a path on the command line is relative to the working folder
			}
		}
		pf, err := l.LoadProfile(profName, profDir)
		if err != nil {
			if profileOverride == "" && errors.Is(err, ErrInvalid) && !errors.As(err, new(*FileError)) {
				return nil, d.at("profile", "%v", err)
			}
			return nil, err
		}
		plan = &Plan{Scenario: sc, Profile: *pf}
	}
	sel := newSelection(plan)
	for i, bn := range sc.Bundles {
		b, bd, err := l.loadBundle(bn, dir)
		if err != nil {
			if errors.Is(err, ErrInvalid) && !errors.As(err, new(*FileError)) {
				return nil, d.at(fmt.Sprintf("bundles[%d]", i), "%v", err)
			}
			return nil, err
		}
		if err := l.addBundle(sel, b, bd, knownChecks); err != nil {
			return nil, err
		}
	}
	for j, id := range sc.Checks {
		if !slices.Contains(knownChecks, id) {
			return nil, unknownCheck(d, fmt.Sprintf("checks[%d]", j), id, knownChecks)
		}
		sel.addCheck(id)
		sel.whole[id] = true
	}
	if err := l.finish(sel); err != nil {
		return nil, err
	}
	if len(plan.Checks) == 0 {
		return nil, d.at("bundles", "the scenario runs no check: name at least one bundle or check")
	}
	if err := l.loadAccepted(plan, d, dir); err != nil {
		return nil, err
	}
	return plan, nil
}

// LoadProfile reads and validates one profile by name or path.
func (l Library) LoadProfile(nameOrPath, dir string) (*Profile, error) {
	src, data, err := l.read(nameOrPath, dir, "profiles")
	if err != nil {
		return nil, err
	}
	var p Profile
	d, err := decode(src, data, &p)
	if err != nil {
		return nil, err
	}
	p.Source = src
	if err := p.validate(d); err != nil {
		return nil, err
	}
	return &p, nil
}

// LoadBundle reads and validates one bundle by name or path; every check it names must be one of
// knownChecks (the check IDs the rig implements).
func (l Library) LoadBundle(nameOrPath, dir string, knownChecks []string) (*Bundle, error) {
	b, d, err := l.loadBundle(nameOrPath, dir)
	if err != nil {
		return nil, err
	}
	for j, id := range b.Checks {
		if !slices.Contains(knownChecks, id) {
			return nil, unknownCheck(d, fmt.Sprintf("checks[%d]", j), id, knownChecks)
		}
	}
	return b, nil
}

func unknownCheck(d *doc, field, id string, knownChecks []string) error {
	return d.at(field, "unknown check %q (known: %s)", id, strings.Join(knownChecks, ", "))
}

func (l Library) loadBundle(nameOrPath, dir string) (*Bundle, *doc, error) {
	src, data, err := l.read(nameOrPath, dir, "bundles")
	if err != nil {
		return nil, nil, err
	}
	var b Bundle
	d, err := decode(src, data, &b)
	if err != nil {
		return nil, nil, err
	}
	b.Source = src
	if err := b.validate(d); err != nil {
		return nil, nil, err
	}
	return &b, d, nil
}

func (b *Bundle) validate(d *doc) error {
	if b.Name == "" {
		return d.at("name", "missing: every bundle needs a name")
	}
	if len(b.Checks) == 0 && len(b.Controls) == 0 {
		return d.at("checks", "empty: a bundle names at least one check (checks:) or control (controls:)")
	}
	for j, id := range b.Checks {
		if slices.Index(b.Checks, id) < j {
			return d.at(fmt.Sprintf("checks[%d]", j), "check %s is named twice (name each check once)", id)
		}
	}
	if b.Path != "" {
		return oneOf(d, "path", b.Path, Paths...)
	}
	return nil
}

func oneOf[T ~string](d *doc, field string, got T, allowed ...T) error {
	for _, a := range allowed {
		if got == a {
			return nil
		}
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return d.at(field, "%q is not one of %s", got, strings.Join(names, ", "))
}

func (s *Scenario) validate(d *doc) error {
	if s.Name == "" {
		return d.at("name", "missing: every scenario needs a name")
	}
	switch {
	case s.Profile == "" && s.Targets == nil:
		return d.at("profile", "missing: name a hardening profile (e.g. exposed, hardened), or targets to probe instead of the reference stack")
	case s.Profile != "" && s.Targets != nil:
		return d.at("profile", "a scenario with targets probes external endpoints and starts no reference stack: remove the profile")
	}
	if len(s.Bundles) == 0 && len(s.Checks) == 0 {
		return d.at("bundles", "missing: name at least one bundle or check")
	}
	dv := &s.Device
	if dv.Kind == "" {
		dv.Kind = "emulated"
	}
	if field, msg := dv.kindError(); field != "" {
		return d.at(field, "%s", msg)
	}
	if dv.UID == "" {
		dv.UID = "303030313233343536373839" // the emulator's default UID
	}
	if b, err := hex.DecodeString(dv.UID); err != nil || len(b) != 12 {
		return d.at("device.uid", "%q is not 24 hex digits (the STM32 96-bit unique ID)", dv.UID)
	}
	dv.UID = strings.ToLower(dv.UID)
	if dv.Firmware == "" {
		dv.Firmware = "1.0.0"
	}
	var fw [3]int
	if n, err := fmt.Sscanf(dv.Firmware, "%d.%d.%d", &fw[0], &fw[1], &fw[2]); err != nil || n != 3 ||
		!regexp.MustCompile(`^\d{1,3}\.\d{1,3}\.\d{1,3}$`).MatchString(dv.Firmware) || fw[0] > 255 || fw[1] > 255 || fw[2] > 255 {
		return d.at("device.firmware", "%q is not major.minor.patch with each part 0..255", dv.Firmware)
	}
	if err := durationIn(d, "device.telemetry_interval", &dv.TelemetryInterval, 20*time.Millisecond, time.Millisecond, time.Minute); err != nil {
		return err
	}
	if dv.TelemetryInterval.D()%time.Millisecond != 0 {
		return d.at("device.telemetry_interval", "%s is not a whole number of milliseconds (the device's SET_INTERVAL carries milliseconds)", dv.TelemetryInterval.D())
	}
	if dv.Baud == 0 {
		dv.Baud = 115200
	}
	if dv.Baud < 1200 || dv.Baud > 4000000 {
		return d.at("device.baud", "%d is outside 1200..4000000", dv.Baud)
	}
	lm := &s.Limits
	if err := durationIn(d, "limits.probe_timeout", &lm.ProbeTimeout, 3*time.Second, 10*time.Millisecond, time.Minute); err != nil {
		return err
	}
	if lm.OversizeBytes == 0 {
		lm.OversizeBytes = 256 << 10
	}
	if lm.OversizeBytes < 1024 || lm.OversizeBytes > 64<<20 {
		return d.at("limits.oversize_bytes", "%d is outside 1024..67108864", lm.OversizeBytes)
	}
	if err := durationIn(d, "limits.drain_timeout", &lm.DrainTimeout, 10*time.Second, 100*time.Millisecond, 10*time.Minute); err != nil {
		return err
	}
	if err := durationIn(d, "limits.alert_within", &lm.AlertWithin, 5*time.Second, 100*time.Millisecond, 10*time.Minute); err != nil {
		return err
	}
	tm := &s.Timing
	if err := durationIn(d, "timing.warmup", &tm.Warmup, 500*time.Millisecond, 0, 10*time.Minute); err != nil {
		return err
	}
	if err := durationIn(d, "timing.timeout", &tm.Timeout, 2*time.Minute, time.Second, 24*time.Hour); err != nil {
		return err
	}
	if err := s.validateIdentity(d); err != nil {
		return err
	}
	return s.validateTrust(d)
}

func (p *Profile) validate(d *doc) error {
	if p.Name == "" {
		return d.at("name", "missing: every profile needs a name")
	}
	b := &p.Broker
	if !b.Plaintext && !b.TLS.Enabled {
		return d.at("broker", "no listener: enable plaintext or tls")
	}
	if b.DeviceAuth == "" {
		b.DeviceAuth = "none"
	}
	if err := oneOf(d, "broker.device_auth", b.DeviceAuth, "none", "password", "password+cert"); err != nil {
		return err
	}
	if b.ACL == "" {
		b.ACL = "none"
	}
	if err := oneOf(d, "broker.acl", b.ACL, "none", "per-device"); err != nil {
		return err
	}
	if !b.Anonymous && b.DeviceAuth == "none" {
		return d.at("broker.device_auth", "none while anonymous is false: no client could connect")
	}
	// The TLS fields are validated even while TLS is off, so that turning it on never reveals an
	// old typo.
	t := &b.TLS
	if t.MinVersion == "" {
		t.MinVersion = "1.2"
	}
	if err := oneOf(d, "broker.tls.min_version", t.MinVersion, "1.0", "1.1", "1.2", "1.3"); err != nil {
		return err
	}
	if t.Certificate == "" {
		t.Certificate = "ca-issued"
	}
	if err := oneOf(d, "broker.tls.certificate", t.Certificate, "ca-issued", "self-signed"); err != nil {
		return err
	}
	if t.Key == "" {
		t.Key = "ecdsa-p256"
	}
	if err := oneOf(d, "broker.tls.key", t.Key, "ecdsa-p256", "rsa-1024", "rsa-2048", "rsa-3072"); err != nil {
		return err
	}
	if err := durationIn(d, "broker.tls.validity", &t.Validity, 90*24*time.Hour, time.Hour, 40*365*24*time.Hour); err != nil {
		return err
	}
	if t.ClientAuth == "" {
		t.ClientAuth = "none"
	}
	if err := oneOf(d, "broker.tls.client_auth", t.ClientAuth, "none", "require"); err != nil {
		return err
	}
	if b.DeviceAuth == "password+cert" && !t.Enabled {
		return d.at("broker.device_auth", "password+cert needs broker.tls.enabled: true")
	}
	if b.DeviceAuth == "password+cert" && t.ClientAuth != "require" {
		return d.at("broker.device_auth", "password+cert needs broker.tls.client_auth: require")
	}
	if err := b.validateIdentity(d); err != nil {
		return err
	}
	g := &p.Gateway
	if g.Transport == "" {
		g.Transport = "tls"
		if !t.Enabled {
			g.Transport = "plaintext"
		}
	}
	if err := oneOf(d, "gateway.transport", g.Transport, "plaintext", "tls"); err != nil {
		return err
	}
	if g.Transport == "tls" && !t.Enabled {
		return d.at("gateway.transport", "tls while broker.tls.enabled is false")
	}
	if g.Transport == "plaintext" && !b.Plaintext {
		return d.at("gateway.transport", "plaintext while broker.plaintext is false")
	}
	if g.QoS > 1 {
		return d.at("gateway.qos", "%d: the gateway publishes at QoS 0 or 1", g.QoS)
	}
	if err := g.validateDurability(d); err != nil {
		return err
	}
	in := &p.Ingest
	if in.Auth == "" {
		in.Auth = "none"
	}
	if err := oneOf(d, "ingest.auth", in.Auth, "none", "bearer"); err != nil {
		return err
	}
	if in.MaxBody < 0 || in.MaxBody > 64<<20 {
		return d.at("ingest.max_body", "%d is outside 0..67108864", in.MaxBody)
	}
	return p.Observability.validate(d)
}

// durationIn defaults *v to def when unset and checks it lies in [lo, hi].
func durationIn(d *doc, field string, v *Duration, def, lo, hi time.Duration) error {
	if *v == 0 {
		*v = Duration(def)
	}
	if v.D() < lo || v.D() > hi {
		return d.at(field, "%s is outside %s..%s", v.D(), lo, hi)
	}
	return nil
}

// isPath tells a file path from a definition name: a path has a separator or a .yaml/.yml suffix.
func isPath(nameOrPath string) bool {
	return strings.ContainsAny(nameOrPath, `/\`) || strings.HasSuffix(nameOrPath, ".yaml") || strings.HasSuffix(nameOrPath, ".yml")
}

// IsPath reports whether a command-line argument names a file rather than a definition.
func IsPath(nameOrPath string) bool { return isPath(nameOrPath) }
