package identity

import (
	"context"
	"fmt"
	"time"

	"github.com/pathrig/rig/rig/checks/probe/mqttclient"
)

// Enforcement is what one door (a protocol version, or a listener) did with the three attempts
// the identity rules are about. Each field is true when the attempt got through.
type Enforcement struct {
	Anonymous     mqttclient.Connack `json:"anonymous"`      // CONNECT without credentials or certificate
	WrongPassword mqttclient.Connack `json:"wrong_password"` // the identity's username with a wrong password
	Identity      mqttclient.Connack `json:"identity"`       // the identity's right credentials
	// PublishOther: the identity published to another identity's topic; Delivered says whether
	// that identity received it (nil: not probed).
	PublishOther *bool `json:"publish_other_delivered,omitempty"`
	PubackCode   *byte `json:"publish_other_puback,omitempty"` // MQTT 5 PUBACK reason code, when QoS 1
}

// AnonymousIn, WrongIn and OtherIn report what got through.
func (e Enforcement) AnonymousIn() bool { return e.Anonymous.Accepted() }
func (e Enforcement) WrongIn() bool     { return e.WrongPassword.Accepted() }
func (e Enforcement) OtherIn() bool     { return e.PublishOther != nil && *e.PublishOther }

// DoorResult is what probing one door observed.
type DoorResult struct {
	Trace
	Endpoint string      `json:"endpoint"`
	Version  byte        `json:"protocol_version"`
	Seen     Enforcement `json:"seen"`
	// ObserverReady: the other identity's subscription delivered its own control message, so a
	// missing delivery of the identity's message means the broker held it back.
	ObserverReady bool   `json:"observer_ready"`
	Error         string `json:"error,omitempty"`
}

// Door probes one listener with one protocol version: an anonymous CONNECT, the identity with a
// wrong password, the identity with its right credentials, and that identity publishing to the
// other identity's topic while the other one (connected on observe, with MQTT 3.1.1) listens.
func Door(ctx context.Context, ep, observe mqttclient.Endpoint, version byte, id, other Identity, timeout time.Duration) DoorResult {
	r := DoorResult{Endpoint: ep.String(), Version: version}
	start := time.Now()
	r.Seen.Anonymous = connectQuiet(ctx, ep, mqttclient.ConnectOpts{Version: version}, timeout)
	r.Trace.connect("anonymous CONNECT", start, r.Seen.Anonymous)
	start = time.Now()
	r.Seen.WrongPassword = connectQuiet(ctx, ep, mqttclient.ConnectOpts{Version: version, ClientID: id.ClientID, Username: id.Username, Password: mqttclient.RandomID("rig-wrong-password-"), Cert: id.Cert}, timeout)
	r.Trace.connect("identity "+id.Name+" with a wrong password", start, r.Seen.WrongPassword)
	c, ca := connectAs(ctx, ep, id, version, timeout, &r.Trace, "identity "+id.Name+" with its credentials")
	r.Seen.Identity = ca
	if !ca.Accepted() {
		r.Error = fmt.Sprintf("identity %q could not connect with its own credentials over %s (MQTT %s): %s %s", id.Name, ep, versionName(version), ca.Answer, ca.Detail)
		return r
	}
	defer c.Disconnect()
	if other.Topic == "" {
		return r
	}
	s, why := subscriber(ctx, observe, other, timeout, &r.Trace)
	if s == nil {
		r.Error = why
		return r
	}
	defer s.Disconnect()
	canary := []byte(mqttclient.RandomID("rig identity probe cross-device canary (not telemetry) "))
	start = time.Now()
	qos := byte(0)
	if version == 5 {
		qos = 1 // a v5 broker answers a refused QoS 1 publish with a PUBACK reason code
	}
	code, err := c.Publish(other.Topic, canary, qos, false)
	switch {
	case err != nil:
		r.add("identity publishes to "+other.Topic, start, "closed", err.Error())
	default:
		if qos == 1 {
			r.Seen.PubackCode = &code
		}
		r.add("identity publishes to "+other.Topic, start, "sent", fmt.Sprintf("QoS %d, PUBACK 0x%02x", qos, code))
		_, _ = ping(c, &r.Trace, "identity pings (the broker has routed the publish)")
	}
	r.ObserverReady = control(ctx, s, other, &r.Trace) // after the canary, if it was routed
	_, got := s.Has(canary)
	if !r.ObserverReady && !got {
		r.Error = fmt.Sprintf("identity %q's own control message on %s did not come back: a missing delivery shows nothing", other.Name, other.Topic)
		return r
	}
	r.Seen.PublishOther = &got
	return r
}

// connectQuiet connects and, when accepted, disconnects at once.
func connectQuiet(ctx context.Context, ep mqttclient.Endpoint, o mqttclient.ConnectOpts, timeout time.Duration) mqttclient.Connack {
	c, ca := mqttclient.Connect(ctx, ep, o, timeout)
	c.Disconnect() // nil-safe
	return ca
}

func versionName(v byte) string {
	if v == 5 {
		return "5"
	}
	return "3.1.1"
}

// Gap is one rule the second door let through while the first enforced it.
type Gap struct {
	Rule   string `json:"rule"`
	First  string `json:"first"`
	Second string `json:"second"`
}

// Gaps lists the rules base enforced and other did not.
func Gaps(base, other Enforcement) []Gap {
	var out []Gap
	if !base.AnonymousIn() && other.AnonymousIn() {
		out = append(out, Gap{"anonymous CONNECT", base.Anonymous.Answer, other.Anonymous.Answer})
	}
	if !base.WrongIn() && other.WrongIn() {
		out = append(out, Gap{"wrong password", base.WrongPassword.Answer, other.WrongPassword.Answer})
	}
	if base.PublishOther != nil && other.PublishOther != nil && !*base.PublishOther && *other.PublishOther {
		out = append(out, Gap{"publish to another device's topic", "not delivered", "delivered"})
	}
	return out
}

// Enforces reports whether e enforced at least one rule (so a comparison with it means something).
func (e Enforcement) Enforces() bool {
	return !e.AnonymousIn() || !e.WrongIn() || (e.PublishOther != nil && !*e.PublishOther)
}
