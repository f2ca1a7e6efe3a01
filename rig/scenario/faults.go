package scenario

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Fault kinds of the `faults:` timeline. Each names where the fault is injected.
const (
	FaultBrokerDown       = "broker-down"       // broker stopped for duration, then restarted on the same port
	FaultNetworkCut       = "network-cut"       // gateway↔broker link cut (connections reset, new ones refused)
	FaultNetworkLatency   = "network-latency"   // gateway↔broker: latency one way
	FaultNetworkLoss      = "network-loss"      // gateway↔broker: loss (probability per chunk; TCP retransmits)
	FaultNetworkBandwidth = "network-bandwidth" // gateway↔broker: rate cap in bytes/s
	FaultIngestDown       = "ingest-down"       // ingest stopped for duration, then restarted
	FaultUARTCorrupt      = "uart-corrupt"      // device→gateway bytes corrupted at byte_rate
	FaultUARTStall        = "uart-stall"        // device→gateway line holds its bytes for duration
	FaultUARTGarbage      = "uart-garbage"      // bursts of `bytes` random bytes every `every`
	FaultUARTCut          = "uart-cut"          // device↔gateway line cut for duration: bytes both ways lost
	FaultDeviceReset      = "device-reset"      // NRST held low for duration (GPIO)
	FaultPowerCut         = "power-cut"         // supply line off for duration (GPIO)
	FaultGatewayCrash     = "gateway-crash"     // SIGKILL of the gateway process; restarted after duration
	FaultClockSkew        = "clock-skew"        // device clock stepped by skew (instant)
)

// faultParams lists, per kind, the parameters it takes (all required) and whether it lasts.
var faultParams = map[string]struct {
	params  []string
	instant bool
}{
	FaultBrokerDown:       {},
	FaultNetworkCut:       {},
	FaultNetworkLatency:   {params: []string{"latency"}},
	FaultNetworkLoss:      {params: []string{"loss"}},
	FaultNetworkBandwidth: {params: []string{"rate"}},
	FaultIngestDown:       {},
	FaultUARTCorrupt:      {params: []string{"byte_rate"}},
	FaultUARTStall:        {},
	FaultUARTGarbage:      {params: []string{"bytes", "every"}},
	FaultUARTCut:          {},
	FaultDeviceReset:      {},
	FaultPowerCut:         {},
	FaultGatewayCrash:     {},
	FaultClockSkew:        {params: []string{"skew"}, instant: true},
}

// FaultKinds lists the kinds, sorted.
func FaultKinds() []string {
	var out []string
	for k := range faultParams {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Fault is one step of the fault timeline: a kind, when it starts (offset from the start of the
// fault phase), how long it lasts, and the kind's parameters.
type Fault struct {
	Kind     string   `yaml:"kind"`
	At       Duration `yaml:"at"`
	Duration Duration `yaml:"duration"`
	Latency  Duration `yaml:"latency"`   // network-latency: one way
	Loss     float64  `yaml:"loss"`      // network-loss: probability per chunk, (0, 1)
	Rate     int64    `yaml:"rate"`      // network-bandwidth: bytes per second
	ByteRate float64  `yaml:"byte_rate"` // uart-corrupt: probability per byte, (0, 1)
	Bytes    int      `yaml:"bytes"`     // uart-garbage: bytes per burst
	Every    Duration `yaml:"every"`     // uart-garbage: burst period
	Skew     Duration `yaml:"skew"`      // clock-skew: step of the device clock (negative: back)
}

// End is when the fault is lifted.
func (f Fault) End() time.Duration { return f.At.D() + f.Duration.D() }

// Trust configures the telemetry-trust check.
type Trust struct {
	// Phase is how long telemetry flows with the faults injected; it must cover the last fault.
	Phase Duration `yaml:"phase"`
	// MaxLatency bounds the p99 latency device → store (gateway read to ingest commit).
	MaxLatency Duration `yaml:"max_latency"`
	// MaxRecovery bounds, for each fault, the time from its end until telemetry read after the
	// end reaches the store.
	MaxRecovery Duration `yaml:"max_recovery"`
	// Gateway: "process" runs the real gateway binary as a child process (needed for
	// gateway-crash); "in-process" runs it as a goroutine (the fleet).
	Gateway string `yaml:"gateway"`
}

// Fleet is the emulated devices of the telemetry-trust check.
type Fleet struct {
	Devices int `yaml:"devices"` // default 1; each device has its own in-memory link and gateway
	// DevicesPerGateway groups the devices behind multi-device gateways: each group's gateways
	// publish through one MQTT session under a gateway identity of its own, which the broker's
	// per-device ACL lets publish under the topics of its devices only. Default 1: a session per
	// device.
	DevicesPerGateway int `yaml:"devices_per_gateway"`
}

// maxDevicesPerGateway bounds fleet.devices_per_gateway: a session's in-flight publishes grow
// with its devices (paho's 65,535 packet ids, 256 per device).
const maxDevicesPerGateway = 250

// maxPhase bounds trust.phase, and so when a fault may start and end.
const maxPhase = time.Hour

func (s *Scenario) validateTrust(d *doc) error {
	var lastEnd time.Duration
	crash := false
	for i, f := range s.Faults {
		field := func(n string) string { return fmt.Sprintf("faults[%d].%s", i, n) }
		spec, ok := faultParams[f.Kind]
		if !ok {
			return d.at(field("kind"), "%q is not a fault kind (one of %s)", f.Kind, strings.Join(FaultKinds(), ", "))
		}
		if f.At < 0 {
			return d.at(field("at"), "%s is negative: faults start at an offset ≥ 0 from the start of the phase", f.At)
		}
		if f.At.D() > maxPhase {
			return d.at(field("at"), "%s is after the end of the longest fault phase (%s): a fault starts within trust.phase", f.At, maxPhase)
		}
		if f.Duration.D() > maxPhase || f.End() > maxPhase { // the first also keeps End from overflowing
			return d.at(field("duration"), "%s from %s ends after the longest fault phase (%s)", f.Duration, f.At, maxPhase)
		}
		switch {
		case spec.instant && f.Duration != 0:
			return d.at(field("duration"), "%s takes no duration (it is an instant step)", f.Kind)
		case !spec.instant && f.Duration <= 0:
			return d.at(field("duration"), "missing or not positive: %s needs how long it lasts (e.g. 2s)", f.Kind)
		}
		given := map[string]bool{
			"latency": f.Latency != 0, "loss": f.Loss != 0, "rate": f.Rate != 0, "byte_rate": f.ByteRate != 0,
			"bytes": f.Bytes != 0, "every": f.Every != 0, "skew": f.Skew != 0,
		}
		for p := range given {
			given[p] = given[p] || d.given(field(p)) // `loss: 0` is written, not missing
		}
		for _, p := range spec.params {
			if !given[p] {
				return d.at(field(p), "missing: %s needs %s", f.Kind, strings.Join(spec.params, " and "))
			}
		}
		for p, set := range given {
			if set && !slices.Contains(spec.params, p) {
				return d.at(field(p), "not a parameter of %s (it takes %s)", f.Kind, paramList(spec.params))
			}
		}
		switch {
		// A parameter written with the value 0 is out of range, not missing.
		case given["latency"] && (f.Latency <= 0 || f.Latency.D() > time.Minute):
			return d.at(field("latency"), "%s is outside (0s, 1m]", f.Latency)
		case given["loss"] && (f.Loss <= 0 || f.Loss >= 1):
			return d.at(field("loss"), "%g is outside (0, 1): want a probability", f.Loss)
		case given["rate"] && f.Rate <= 0:
			return d.at(field("rate"), "%d bytes/s is not positive", f.Rate)
		case given["byte_rate"] && (f.ByteRate <= 0 || f.ByteRate >= 1):
			return d.at(field("byte_rate"), "%g is outside (0, 1): want a probability per byte", f.ByteRate)
		case given["bytes"] && (f.Bytes < 1 || f.Bytes > 65536):
			return d.at(field("bytes"), "%d is outside 1..65536", f.Bytes)
		case given["skew"] && f.Skew == 0:
			return d.at(field("skew"), "0s: a clock-skew steps the device clock by a non-zero amount")
		case f.Every < 0 || (f.Kind == FaultUARTGarbage && f.Every.D() < time.Millisecond):
			return d.at(field("every"), "%s: give a period of at least 1ms", f.Every)
		}
		crash = crash || f.Kind == FaultGatewayCrash
		lastEnd = max(lastEnd, f.End())
	}
	t := &s.Trust
	if t.Phase == 0 {
		t.Phase = Duration(min(lastEnd+2*time.Second, maxPhase))
	}
	if t.Phase.D() < lastEnd {
		return d.at("trust.phase", "%s ends before the last fault is lifted (at %s)", t.Phase, lastEnd)
	}
	if t.Phase.D() > maxPhase {
		return d.at("trust.phase", "%s is longer than %s", t.Phase, maxPhase)
	}
	if err := durationIn(d, "trust.max_latency", &t.MaxLatency, 5*time.Second, time.Millisecond, time.Hour); err != nil {
		return err
	}
	if err := durationIn(d, "trust.max_recovery", &t.MaxRecovery, 10*time.Second, time.Millisecond, time.Hour); err != nil {
		return err
	}
	if t.Gateway == "" {
		t.Gateway = "in-process"
		if crash {
			t.Gateway = "process"
		}
	}
	if err := oneOf(d, "trust.gateway", t.Gateway, "process", "in-process"); err != nil {
		return err
	}
	if crash && t.Gateway != "process" {
		return d.at("trust.gateway", "in-process cannot be crashed: gateway-crash needs gateway: process")
	}
	if s.Fleet.Devices == 0 {
		s.Fleet.Devices = 1
	}
	if s.Fleet.Devices < 1 || s.Fleet.Devices > 10000 {
		return d.at("fleet.devices", "%d is outside 1..10000", s.Fleet.Devices)
	}
	if s.Fleet.Devices > 1 && t.Gateway == "process" {
		return d.at("fleet.devices", "a fleet runs its gateways in-process (set trust.gateway: in-process and drop gateway-crash)")
	}
	if s.Fleet.DevicesPerGateway == 0 {
		s.Fleet.DevicesPerGateway = 1
	}
	if s.Fleet.DevicesPerGateway < 1 || s.Fleet.DevicesPerGateway > maxDevicesPerGateway {
		return d.at("fleet.devices_per_gateway", "%d is outside 1..%d", s.Fleet.DevicesPerGateway, maxDevicesPerGateway)
	}
	if s.Fleet.DevicesPerGateway > s.Fleet.Devices {
		return d.at("fleet.devices_per_gateway", "%d is more than fleet.devices (%d)", s.Fleet.DevicesPerGateway, s.Fleet.Devices)
	}
	return nil
}

func paramList(p []string) string {
	if len(p) == 0 {
		return "no parameter"
	}
	return strings.Join(p, " and ")
}

func (g *GatewayProfile) validateDurability(d *doc) error {
	if g.SpoolMax < 0 {
		return d.at("gateway.spool_max", "%d is negative", g.SpoolMax)
	}
	if g.SpoolMax > 0 && !g.Spool {
		return d.at("gateway.spool_max", "set while gateway.spool is false")
	}
	b := &g.Backoff
	if err := durationIn(d, "gateway.backoff.min", &b.Min, 250*time.Millisecond, time.Millisecond, time.Minute); err != nil {
		return err
	}
	if err := durationIn(d, "gateway.backoff.max", &b.Max, 5*time.Second, b.Min.D(), time.Hour); err != nil {
		return err
	}
	if b.Jitter < 0 || b.Jitter > 1 {
		return d.at("gateway.backoff.jitter", "%g: want a fraction in 0..1", b.Jitter)
	}
	return nil
}
