// Package scenario owns the declarative files under scenarios/: scenarios (what to run against
// which device and stack), hardening profiles (how the reference stack is configured) and bundles
// (which checks run). Everything is decoded strictly and validated completely before anything
// starts: an unknown key, a wrong type or a bad value is an error naming file, line and field.
package scenario

import (
	"fmt"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// Duration is a time.Duration written as "500ms", "3s", "240h" in YAML.
type Duration time.Duration

// D returns the duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML decodes a duration string, reporting a bad one at its line.
func (d *Duration) UnmarshalYAML(n ast.Node) error {
	s, ok := n.(*ast.StringNode)
	if !ok {
		return &nodeError{tok: n.GetToken(), msg: fmt.Sprintf("wrong type: want a duration such as 500ms or 3s, got %s", n.String())}
	}
	v, err := time.ParseDuration(s.Value)
	if err != nil {
		return &nodeError{tok: n.GetToken(), msg: fmt.Sprintf("%q is not a duration (write e.g. 500ms, 3s, 2m, 240h)", s.Value)}
	}
	*d = Duration(v)
	return nil
}

// nodeError is a decoding error at one token; it has the shape of go-yaml's own errors.
type nodeError struct {
	tok *token.Token
	msg string
}

func (e *nodeError) Error() string          { return e.msg }
func (e *nodeError) GetToken() *token.Token { return e.tok }
func (e *nodeError) GetMessage() string     { return e.msg }

// Scenario is the definition of one run.
type Scenario struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Profile     string   `yaml:"profile"` // name of a file in profiles/ (without .yaml)
	Bundles     []string `yaml:"bundles"` // names of files in bundles/
	Checks      []string `yaml:"checks"`  // extra check IDs, added to the bundles' checks
	Device      Device   `yaml:"device"`
	Limits      Limits   `yaml:"limits"`
	Timing      Timing   `yaml:"timing"`
	Faults      []Fault  `yaml:"faults"` // fault timeline of the telemetry-trust check (faults.go)
	Trust       Trust    `yaml:"trust"`  // bounds and set-up of the telemetry-trust check
	Fleet       Fleet    `yaml:"fleet"`  // emulated devices of the telemetry-trust check
	// Identity bounds the identity check's probes: the lockout policy under audit (identity.go).
	Identity IdentityProbe `yaml:"identity"`
	// Targets, when present, are endpoints the rig did not start: the run probes them and starts
	// no reference stack (and names no profile).
	Targets *Targets `yaml:"targets"`
	// Intrusive allows probes that load the target (publish floods). Off unless set.
	Intrusive bool `yaml:"intrusive"`
	// Waivers names a waiver file of accepted risks (waivers.go), relative to the scenario's folder.
	Waivers string `yaml:"waivers"`
	// Decision holds rules tried before the default decision rules (decision.go).
	Decision []DecisionRule `yaml:"decision"`

	// Source is where the scenario was read from (path or "embedded:<name>"); not a YAML field.
	Source string `yaml:"-"`
}

// Device describes the device under test.
type Device struct {
	Kind     string `yaml:"kind"`     // emulated | qemu | serial (see DeviceKinds)
	UID      string `yaml:"uid"`      // 24 hex digits (96-bit STM32 UID); qemu: programmed into the board; serial: what the board must report
	Firmware string `yaml:"firmware"` // major.minor.patch reported by the emulator
	Boot     uint32 `yaml:"boot"`     // boot counter the emulator starts from
	Image    string `yaml:"image"`    // qemu: firmware ELF; "" → DefaultImage
	Port     string `yaml:"port"`     // serial: the UART, e.g. /dev/ttyAMA0
	// Bench, for a serial device, is a bench file (rig/bench) naming its UART and its NRST, BOOT0
	// and power GPIO lines; a path relative to the working folder. Port and Bench exclude each other.
	Bench             string   `yaml:"bench"`
	TelemetryInterval Duration `yaml:"telemetry_interval"`
	Baud              int      `yaml:"baud"`
}

// Limits bound the probes of a run.
type Limits struct {
	ProbeTimeout  Duration `yaml:"probe_timeout"`
	OversizeBytes int      `yaml:"oversize_bytes"`
	DrainTimeout  Duration `yaml:"drain_timeout"`
	// AlertWithin bounds how long a silent device may go before its gap alert is raised
	// (OBS-GAP-ALERT): the deployment's promise, judged by the check.
	AlertWithin Duration `yaml:"alert_within"`
}

// Timing bounds the run itself.
type Timing struct {
	Warmup  Duration `yaml:"warmup"`  // telemetry flowing before the checks start
	Timeout Duration `yaml:"timeout"` // the whole run, stack start to last report
}

// Profile is a hardening state of the reference stack.
type Profile struct {
	Name        string         `yaml:"name"`
	Description string         `yaml:"description"`
	Broker      BrokerProfile  `yaml:"broker"`
	Gateway     GatewayProfile `yaml:"gateway"`
	Ingest      IngestProfile  `yaml:"ingest"`
	// Observability: security-event logs, metrics, gap alert, clock skew (observability.go).
	Observability ObservabilityProfile `yaml:"observability"`

	Source string `yaml:"-"`
}

// BrokerProfile configures the reference broker.
type BrokerProfile struct {
	Plaintext     bool       `yaml:"plaintext"` // open a plaintext MQTT listener
	TLS           TLSProfile `yaml:"tls"`
	Anonymous     bool       `yaml:"anonymous"`       // accept CONNECT without credentials
	DeviceAuth    DeviceAuth `yaml:"device_auth"`     // none | password | password+cert
	ACL           ACL        `yaml:"acl"`             // none | per-device
	MaxPacketSize uint32     `yaml:"max_packet_size"` // bytes; 0 = unlimited

	// Identity binds client ids, locks out failed logins, holds wills to the ACL (identity.go).
	Identity IdentityProfile `yaml:"identity"`
	// WebSocket is the MQTT-over-WebSocket listener (identity.go).
	WebSocket WebSocketProfile `yaml:"websocket"`
}

// TLSProfile configures the broker's TLS listener and its certificate.
type TLSProfile struct {
	Enabled     bool       `yaml:"enabled"`
	MinVersion  TLSVersion `yaml:"min_version"` // 1.0 | 1.1 | 1.2 | 1.3
	Certificate CertKind   `yaml:"certificate"` // ca-issued | self-signed
	SAN         []string   `yaml:"san"`         // names in the broker certificate's SAN; empty = the names devices use
	CNOnly      bool       `yaml:"cn_only"`     // put the name in the CN only, no SAN
	Key         KeyKind    `yaml:"key"`         // ecdsa-p256 | rsa-1024 | rsa-2048 | rsa-3072
	Validity    Duration   `yaml:"validity"`    // from now; e.g. 240h for "expires in 10 days"
	ClientAuth  ClientAuth `yaml:"client_auth"` // none | require
}

// GatewayProfile configures how the gateway reaches the broker.
type GatewayProfile struct {
	Transport Transport `yaml:"transport"` // plaintext | tls
	QoS       byte      `yaml:"qos"`       // 0 or 1
	// Spool: store-and-forward through a crash-safe buffer on disk (records kept until the
	// broker acknowledges them; survives a gateway crash). SpoolMax bounds it (records).
	Spool    bool           `yaml:"spool"`
	SpoolMax int            `yaml:"spool_max"`
	Backoff  BackoffProfile `yaml:"backoff"` // broker reconnection pacing
}

// BackoffProfile paces the gateway's broker reconnections.
type BackoffProfile struct {
	Min    Duration `yaml:"min"`
	Max    Duration `yaml:"max"`
	Jitter float64  `yaml:"jitter"` // fraction 0..1 taken off each delay at random
}

// IngestProfile configures the ingest API.
type IngestProfile struct {
	Auth    IngestAuth `yaml:"auth"`     // none | bearer
	MaxBody int64      `yaml:"max_body"` // bytes; 0 = the ingest default
}

// Bundle names what an evidence bundle runs: whole checks, single controls, or both. A path
// bundle also names the path it selects (paths.go).
type Bundle struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Path is the path a path bundle selects, one of Paths ("" for a bundle named after what it
	// runs): the run's summary and report name it and list the catalog's controls outside it.
	Path   string   `yaml:"path"`
	Checks []string `yaml:"checks"` // check IDs: every control of each runs
	// Controls are control IDs: the checks that own them run, and only the named controls of a
	// check named by no other bundle are evaluated.
	Controls []string `yaml:"controls"`

	Source string `yaml:"-"`
}

// Typed profile values: validated once when the profile loads (load.go), compared by constant
// everywhere else.
type (
	DeviceAuth string // how devices authenticate to the broker
	ACL        string // the broker's topic ACL
	TLSVersion string // the lowest TLS version the broker accepts
	CertKind   string // how the broker certificate is issued
	KeyKind    string // the broker certificate's key
	ClientAuth string // whether the broker's TLS listener requires client certificates
	Transport  string // how the gateway reaches the broker
	IngestAuth string // how the ingest authenticates requests
)

// Profile values.
const (
	AuthNone          DeviceAuth = "none"
	AuthPassword      DeviceAuth = "password"
	AuthPasswordCert  DeviceAuth = "password+cert"
	ACLNone           ACL        = "none"
	ACLPerDevice      ACL        = "per-device"
	CertCAIssued      CertKind   = "ca-issued"
	CertSelfSigned    CertKind   = "self-signed"
	ClientAuthNone    ClientAuth = "none"
	ClientAuthRequire ClientAuth = "require"
	TransportPlain    Transport  = "plaintext"
	TransportTLS      Transport  = "tls"
	IngestNone        IngestAuth = "none"
	IngestBearer      IngestAuth = "bearer"
)

// TLS returns the crypto/tls version constant (0 for an unvalidated value).
func (v TLSVersion) TLS() uint16 {
	return map[TLSVersion]uint16{"1.0": 0x0301, "1.1": 0x0302, "1.2": 0x0303, "1.3": 0x0304}[v]
}

// RSABits is the RSA key size (0: an ECDSA P-256 key).
func (k KeyKind) RSABits() int {
	return map[KeyKind]int{"rsa-1024": 1024, "rsa-2048": 2048, "rsa-3072": 3072}[k]
}
