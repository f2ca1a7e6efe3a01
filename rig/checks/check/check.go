// Package check is the contract a check family codes against: a Check and the Outcome per
// control it returns, the Env it is given (Targets, Limits, evidence store, logger, the
// device-side interfaces), and the helpers every family uses (Probe, Skip, NewEvidence,
// Env.Threshold). A check probes the targets it is given; it never reads the hardening profile
// that configured them, so the same checks audit a stack the rig did not start.
package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"time"

	"github.com/pathrig/rig/rig/checks/catalog"
	"github.com/pathrig/rig/rig/checks/probe/uartprobe"
	"github.com/pathrig/rig/rig/evidence"
	"github.com/pathrig/rig/rig/record"
)

// Outcome is what a check observed for one of its controls.
type Outcome struct {
	Status   record.Status
	Reason   string
	Observed map[string]any
	// Facts are the configuration facts behind the verdict (facts.go names them), compared
	// between runs for drift; the engine normalises them into the result.
	Facts    map[string]any
	Evidence []string // paths returned by evidence.Store
	// Severity overrides the catalog's severity for a failure whose gravity depends on what was
	// observed (an expired certificate is worse than one expiring next month). Empty means the
	// catalog's; the engine ignores it unless Status is fail.
	Severity record.Severity
}

// Check evaluates a fixed set of controls.
type Check struct {
	ID       string
	Title    string
	Controls []string
	// Thresholds names, per control, the catalog thresholds Run reads. The catalog must define
	// exactly these for the control, so a number can be neither missing nor unused.
	Thresholds map[string][]string
	// Run probes env.Targets and returns one Outcome per control ID in Controls. A control missing
	// from the map is reported as error by the engine.
	Run func(ctx context.Context, env *Env) map[string]Outcome
}

// Env is everything a check may use.
type Env struct {
	Targets  Targets
	Evidence *evidence.Store
	Log      *slog.Logger
	Limits   Limits
	// Telemetry reports device and store counters for the runtime-health control; nil when the
	// path has no device the rig can account for.
	Telemetry Telemetry
	// Trust runs the scenario's fault timeline for the telemetry-trust check; nil when the run
	// cannot (the check then reports error).
	Trust TrustRunner
	// UART is the device's serial line for the malformed-frame probe; nil when the run has none.
	UART UART
	// Device silences the device for the gap-alert probe, Clock skews the gateway's clock for
	// the clock probe (observability.go); nil when the run cannot.
	Device DeviceControl
	Clock  GatewayClock
	// Intrusive allows probes that load the target (publish floods); only when the scenario opts
	// in with `intrusive: true`.
	Intrusive bool
	// Skip names controls skipped on the command line: a check whose controls are all skipped
	// does not run, and an independent probe of a skipped control is not sent.
	Skip map[string]bool
	// Only, when not nil, names the controls the run's bundles select (a path bundle names
	// single controls): a control of a named check outside it is not run, its own probe is not
	// sent, and it has no result.
	Only map[string]bool
	// OnCheck, when set, is told when each check that ran started and finished.
	OnCheck func(check string, started, finished time.Time)

	// Defs are the catalog's definitions of the run, set by the evaluator: thresholds come from
	// here.
	Defs map[string]catalog.Control
}

// Threshold returns the catalog threshold key of control: the one place a check reads a number
// its verdict depends on. The catalog is validated at load to define every threshold a check
// declares (Check.Thresholds), so a missing one is a rig defect; the panic becomes an error
// outcome of the check (the evaluator recovers it).
func (e *Env) Threshold(control, key string) int {
	def, ok := e.Defs[control]
	if !ok {
		def, ok = catalog.Lookup(control) // an Env made by hand (a test calling a probe directly)
	}
	v, found := def.Thresholds[key]
	if !ok || !found {
		panic(fmt.Sprintf("checks: control %s has no threshold %q in the catalog (declare it in Check.Thresholds and define it in %s)", control, key, catalog.Name))
	}
	return v
}

// Skipped reports whether control was skipped on the command line or is outside the run's
// selection: either way its own probe is not sent.
func (e *Env) Skipped(control string) bool { return e.Skip[control] || e.OutOfScope(control) }

// OutOfScope reports whether control is outside the controls the run's bundles select.
func (e *Env) OutOfScope(control string) bool { return e.Only != nil && !e.Only[control] }

// SkippedReason is the reason of a control skipped on the command line.
const SkippedReason = "skipped on the command line"

// Probe runs one independent probe of control, unless the control was skipped on the command
// line or is outside the run's selection: then nothing is sent.
func Probe(env *Env, control string, run func() Outcome) Outcome {
	if env.Skipped(control) {
		return Outcome{Status: record.StatusSkip, Reason: SkippedReason}
	}
	return run()
}

// Defaults for a zero Limits field.
const (
	DefaultProbeTimeout  = 3 * time.Second
	DefaultOversizeBytes = 256 << 10
	DefaultDrainTimeout  = 10 * time.Second
	DefaultAlertWithin   = 5 * time.Second
)

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	if l.ProbeTimeout <= 0 {
		l.ProbeTimeout = DefaultProbeTimeout
	}
	if l.OversizeBytes <= 0 {
		l.OversizeBytes = DefaultOversizeBytes
	}
	if l.DrainTimeout <= 0 {
		l.DrainTimeout = DefaultDrainTimeout
	}
	if l.AlertWithin <= 0 {
		l.AlertWithin = DefaultAlertWithin
	}
	return l
}

// Limits bound every probe.
type Limits struct {
	ProbeTimeout  time.Duration // one connection, handshake or request
	OversizeBytes int           // payload size of the maximum-packet-size probe
	DrainTimeout  time.Duration // how long runtime health waits for telemetry to reach the store
	AlertWithin   time.Duration // how long a silent device may go before its gap alert (OBS-GAP-ALERT)
	// The identity check's bounds (a scenario's identity: block): failed logins sent before the
	// right password, the lockout window the policy promises, how long a Last Will is waited for.
	LockoutAttempts int
	LockoutWindow   time.Duration
	WillWait        time.Duration
}

// Targets are the endpoints and credentials a scenario names. An empty field means "not named":
// controls that need it are skipped with the reason, never passed.
type Targets struct {
	Broker Broker
	// Probes are device identities used by the guardrail probes (at least two for cross-device
	// probes). Their secrets are registered with the evidence store for redaction.
	Probes []Identity
	Ingest Ingest
	// Fleet is the device-certificate inventory for the device-certs check.
	Fleet Fleet
	// Management lists URLs of the gateway's management or debug interfaces, probed without
	// credentials.
	Management []string
	// Supplier names the supplier-side evidence of the gateway release (targets.go).
	Supplier Supplier
	// Observability names the path's security logs, metrics and alerts (observability.go).
	Observability Observability
}

// Broker names the MQTT endpoints under audit.
type Broker struct {
	Plain      string         // host:port of a plaintext MQTT listener, "" if none is named
	TLS        string         // host:port of an MQTT-over-TLS listener, "" if none is named
	ServerName string         // the name devices use to reach the broker (SNI and SAN check)
	Trust      *x509.CertPool // the deployment's trust anchor(s)
	// Anchors are the certificates in Trust, when the caller has them. crypto/x509 refuses to
	// verify a SHA-1 or MD5 signature; with the anchors CERT-CHAIN still checks such a chain by
	// signature, and leaves the algorithm to CERT-SIGNATURE instead of reporting a chain that
	// does not lead to the deployment CA.
	Anchors []*x509.Certificate
	// WebSocket lists MQTT-over-WebSocket listeners (ws:// or wss:// URLs) held to the TLS
	// listener's authentication and ACL by the identity check.
	WebSocket []string
}

// Identity is a device identity the rig may connect with.
type Identity struct {
	Name     string           // label in evidence, e.g. "probe-a"
	ClientID string           // MQTT client id
	Username string           // may be empty
	Password string           // may be empty; secret
	Cert     *tls.Certificate // client certificate for mTLS, may be nil; key is secret
	Topic    string           // a topic this identity may publish to (its own telemetry topic)
}

// Ingest names the HTTP ingest endpoint under audit.
type Ingest struct {
	URL   string         // e.g. http://127.0.0.1:8080/v1/telemetry
	Token string         // a valid bearer token; secret
	Trust *x509.CertPool // for https URLs
	// Sample is a valid request body the ingest accepts (JSON).
	Sample []byte
	// OtherTenantToken is a valid token of another tenant, for the tenant-isolation probe; secret.
	OtherTenantToken string
	// ExpiredToken is a token the ingest once issued and that has expired; secret.
	ExpiredToken string
}

// Telemetry gives the runtime-health control the path's telemetry balance.
type Telemetry interface {
	// Account reads the devices' counters over the UART (telemetry keeps flowing), waits up to
	// drain for the store to hold every frame sent in the run's window, and returns the balance.
	Account(ctx context.Context, drain time.Duration) (*Accounting, error)
}

// ErrNoUART is what UART.Inject returns when the run's device has no line the rig can write on
// (a real board or QEMU): the control is then skipped with the reason.
var ErrNoUART = uartprobe.ErrNoUART

// UART gives the malformed-frame probe the device's serial line and the gateway's frame counters
// (the same methods as uartprobe.Line). Only the rig's own stack has one: the emulated device's
// side of the pty pair.
type UART interface {
	// Inject writes b onto the line from the device's side in one write, between the device's
	// own frames.
	Inject(ctx context.Context, b []byte) error
	// Frames returns the gateway's count of valid frames and of rejected ones.
	Frames() (ok, bad uint64)
	// Ping has the gateway send a PING command to the device and wait for its RESPONSE: a valid
	// frame the device sends on demand, whether or not telemetry is running.
	Ping(ctx context.Context) error
}
