// Package guardrails holds the gateway guardrail checks: guardrails (anonymous access, wildcard
// subscription, maximum packet size, runtime health) and guardrails-depth (broker internals,
// cross-device reads and writes, publish rate, malformed UART frames, management endpoints).
// Every verdict rests on what the broker delivers, not on its acknowledgement alone.
package guardrails

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/probe"
	"github.com/pathrig/rig/rig/checks/probe/mqttprobe"
	"github.com/pathrig/rig/rig/checks/probe/tlsprobe"
	"github.com/pathrig/rig/rig/record"
)

const (
	ctlGuardAnon      = "GUARD-ANON"
	ctlGuardWildcard  = "GUARD-SUB-WILDCARD"
	ctlGuardMaxPacket = "GUARD-MAX-PACKET"
	ctlGuardHealth    = "GUARD-HEALTH"
)

// Checks returns the family's checks in registry order.
func Checks() []check.Check { return []check.Check{guardrailsCheck(), guardDepthCheck()} }

func guardrailsCheck() check.Check {
	return check.Check{
		ID:       "guardrails",
		Title:    "Gateway guardrails",
		Controls: []string{ctlGuardAnon, ctlGuardWildcard, ctlGuardMaxPacket, ctlGuardHealth},
		Run: func(ctx context.Context, env *check.Env) map[string]check.Outcome {
			outs := map[string]check.Outcome{}
			outs[ctlGuardAnon] = check.Probe(env, ctlGuardAnon, func() check.Outcome { return probeAnonymous(ctx, env) })
			outs[ctlGuardWildcard] = check.Probe(env, ctlGuardWildcard, func() check.Outcome { return probeWildcard(ctx, env) })
			outs[ctlGuardMaxPacket] = check.Probe(env, ctlGuardMaxPacket, func() check.Outcome { return probeMaxPacket(ctx, env) })
			// Last, so that it shows telemetry still flowed while the guardrails were probed.
			outs[ctlGuardHealth] = check.Probe(env, ctlGuardHealth, func() check.Outcome { return probeHealth(ctx, env) })
			return outs
		},
	}
}

// Verdicts of one endpoint under the anonymous probe.
const (
	anonAdmitted    = "admitted"
	anonRefused     = "refused"
	anonUnreachable = "unreachable"
	anonNotMQTT     = "not-mqtt"
	anonUnknown     = "indeterminate"
)

// probeAnonymous sends a CONNECT without username, password or client certificate to every named
// broker endpoint.
func probeAnonymous(ctx context.Context, env *check.Env) check.Outcome {
	b := env.Targets.Broker
	type target struct {
		label string
		addr  string
		tls   bool
	}
	var targets []target
	if b.Plain != "" {
		targets = append(targets, target{"plain", b.Plain, false})
	}
	if b.TLS != "" {
		targets = append(targets, target{"tls", b.TLS, true})
	}
	if len(targets) == 0 {
		return check.Skip("no broker endpoint named in the targets (broker plain, broker tls); nothing to probe")
	}
	ev := check.NewEvidence(env, ctlGuardAnon)
	var exchanges []mqttprobe.Exchange
	endpoints := map[string]any{}
	var admitted, refused, unsure, absent []string
	for _, t := range targets {
		var conf *tls.Config
		if t.tls {
			conf = tlsprobe.Config(t.addr, b.ServerName, tls.VersionTLS10, tls.VersionTLS13, nil)
		}
		x := mqttprobe.Connect(ctx, t.addr, conf, env.Limits.ProbeTimeout)
		env.Log.Debug("anonymous CONNECT", "control", ctlGuardAnon, "endpoint", t.addr, "answer", x.Answer, "alert", x.Alert, "error", x.Error)
		exchanges = append(exchanges, x)
		verdict, why := anonVerdict(x)
		seen := map[string]any{"verdict": verdict, "answer": x.Answer}
		if x.ReturnCode != nil {
			seen["connack_return_code"] = int(*x.ReturnCode)
		}
		if x.Alert != "" {
			seen["tls_alert"] = x.Alert
		}
		endpoints[t.label] = seen
		ev.Fact("mqtt.anonymous."+t.label, verdict)
		line := t.label + ": " + why
		switch verdict {
		case anonAdmitted:
			admitted = append(admitted, line)
		case anonRefused:
			refused = append(refused, line)
		case anonUnknown:
			unsure = append(unsure, line)
		default:
			absent = append(absent, line)
		}
	}
	ev.JSON("connect.json", exchanges)
	obs := map[string]any{"endpoints": endpoints}
	switch {
	case len(admitted) > 0:
		return ev.Outcome(record.StatusFail, obs, "the broker admits anonymous clients (%s)", strings.Join(admitted, "; "))
	case len(unsure) > 0:
		return ev.Outcome(record.StatusError, obs, "could not tell whether the broker admits anonymous clients (%s)", strings.Join(unsure, "; "))
	case len(refused) == 0:
		return ev.Outcome(record.StatusError, obs, "no named broker endpoint could be reached by MQTT; anonymous access could not be probed (check the addresses in the targets and that the broker runs)")
	}
	return ev.Outcome(record.StatusPass, obs, "anonymous clients are refused (%s)", strings.Join(append(refused, absent...), "; "))
}

func anonVerdict(x mqttprobe.Exchange) (verdict, why string) {
	switch x.Answer {
	case probe.AnswerConnack:
		if *x.ReturnCode == 0 {
			return anonAdmitted, "CONNACK 0 (connection accepted)"
		}
		return anonRefused, fmt.Sprintf("CONNACK %d (%s)", *x.ReturnCode, x.Meaning)
	case probe.AnswerTLSAlert:
		return anonRefused, fmt.Sprintf("TLS alert %q at %s", x.Alert, x.Stage)
	case probe.AnswerClosed:
		if x.RefusedAfterCertRequest() {
			return anonRefused, fmt.Sprintf("client certificate requested, none given, connection closed at %s without CONNACK", x.Stage)
		}
		// A broker that refuses sends CONNACK 5 (3.1.1) or 0x87 (5.0); a bare close is as likely a
		// network failure as a refusal.
		return anonUnknown, "connection closed without CONNACK"
	case probe.AnswerRefusedTCP, probe.AnswerNoTCP, probe.AnswerUnreachable:
		return anonUnreachable, fmt.Sprintf("not reachable (%s)", x.Answer)
	case probe.AnswerNotMQTT:
		return anonNotMQTT, "not an MQTT listener"
	}
	return anonUnknown, fmt.Sprintf("%s at %s: %s", x.Answer, x.Stage, x.Error)
}

// probeIdentity returns the identity and endpoint of the paho probes, or why they cannot run.
func probeIdentity(env *check.Env) (check.Identity, string, bool, string) {
	if len(env.Targets.Probes) == 0 {
		return check.Identity{}, "", false, "no probe identity named in the targets (probes)"
	}
	addr, useTLS := probeEndpoint(env.Targets.Broker)
	if addr == "" {
		return check.Identity{}, "", false, "no broker endpoint named in the targets (broker plain, broker tls)"
	}
	return env.Targets.Probes[0], addr, useTLS, ""
}

// probeWildcard subscribes the probe identity to "#".
func probeWildcard(ctx context.Context, env *check.Env) check.Outcome {
	id, addr, useTLS, why := probeIdentity(env)
	if why != "" {
		return check.Skip("%s; nothing to probe", why)
	}
	ev := check.NewEvidence(env, ctlGuardWildcard)
	p, err := connectProbe(ctx, env, id, addr, useTLS)
	defer p.Close()
	obs := map[string]any{"endpoint": endpointLabel(useTLS), "identity": id.Name}
	if err != nil {
		ev.JSON("subscribe.json", p)
		return ev.Outcome(record.StatusError, obs, "probe identity %q could not connect to %s: %v (check its credentials, client certificate and the broker address)", id.Name, addr, err)
	}
	canary := []byte("rig guardrail probe: wildcard delivery canary " + probe.RandomHex(8) + " (not telemetry)")
	delivered := make(chan struct{})
	var once sync.Once
	step := p.Begin("subscribe #")
	tok := p.Paho.Subscribe("#", 0, func(_ mqtt.Client, m mqtt.Message) {
		if bytes.Equal(m.Payload(), canary) {
			once.Do(func() { close(delivered) })
		}
	})
	done := mqttprobe.WaitToken(ctx, tok, p.Timeout)
	var out check.Outcome
	switch {
	case !done || tok.Error() != nil:
		detail := fmt.Sprintf("no SUBACK within %s", p.Timeout)
		if done {
			detail = tok.Error().Error()
		}
		if gone, how := p.Dropped(200 * time.Millisecond); gone {
			step.End("disconnected", detail+"; "+how)
			obs["suback"] = "disconnected"
			ev.Fact("mqtt.suback.wildcard", obs["suback"])
			ev.JSON("subscribe.json", p)
			out = ev.Outcome(record.StatusPass, obs, "the broker disconnected identity %q when it subscribed to #", id.Name)
			break
		}
		step.End("no answer", detail)
		obs["suback"] = "none"
		ev.Fact("mqtt.suback.wildcard", obs["suback"])
		ev.JSON("subscribe.json", p)
		out = ev.Outcome(record.StatusError, obs, "the subscription to # got no answer (%s) and the connection stayed open: cannot tell whether it was granted", detail)
	default:
		code, ok := tok.(*mqtt.SubscribeToken).Result()["#"]
		obs["suback"] = fmt.Sprintf("0x%02x", code)
		ev.Fact("mqtt.suback.wildcard", obs["suback"])
		switch {
		case !ok:
			step.End("malformed", "SUBACK without a code for #")
			ev.JSON("subscribe.json", p)
			out = ev.Outcome(record.StatusError, obs, "the broker's SUBACK carries no return code for #")
		case code == 0x80:
			step.End("refused", "SUBACK 0x80")
			ev.JSON("subscribe.json", p)
			out = ev.Outcome(record.StatusPass, obs, "the broker refused identity %q a subscription to # (SUBACK 0x80)", id.Name)
		case code <= 2:
			step.End("granted", fmt.Sprintf("SUBACK granted QoS %d", code))
			out = wildcardDelivery(ctx, env, ev, p, obs, id, code, canary, delivered)
		default:
			step.End("unknown", fmt.Sprintf("SUBACK 0x%02x", code))
			ev.JSON("subscribe.json", p)
			out = ev.Outcome(record.StatusError, obs, "the broker answered the subscription to # with SUBACK 0x%02x, not an MQTT 3.1.1 code", code)
		}
	}
	return out
}

// wildcardDelivery decides a granted subscription to #. Some brokers (Mosquitto with an
// acl_file) grant any subscription and filter each message against the read ACL on delivery: the
// grant alone does not show that one device reads another's traffic. With a second probe
// identity, that identity publishes a canary to its own topic and the verdict rests on whether
// the wildcard subscriber receives it. Without one, the grant is the finding.
func wildcardDelivery(ctx context.Context, env *check.Env, ev *check.EvidenceSet, p *mqttprobe.Client, obs map[string]any, id check.Identity, code byte, canary []byte, delivered <-chan struct{}) check.Outcome {
	if len(env.Targets.Probes) < 2 || env.Targets.Probes[1].Topic == "" {
		ev.JSON("subscribe.json", p)
		obs["delivery"] = "not probed"
		return ev.Outcome(record.StatusFail, obs, "the broker granted identity %q a subscription to # (QoS %d): one device can read every device's traffic (name a second probe identity with a topic to tell a grant filtered at delivery from real access)", id.Name, code)
	}
	other := env.Targets.Probes[1]
	addr, useTLS := p.Endpoint, p.TLS
	q, err := connectProbe(ctx, env, other, addr, useTLS)
	defer q.Close()
	if err != nil {
		ev.JSON("subscribe.json", []*mqttprobe.Client{p, q})
		obs["delivery"] = "not probed"
		return ev.Outcome(record.StatusError, obs, "identity %q was granted # but the second probe identity %q could not connect to publish a canary: %v (check its credentials)", id.Name, other.Name, err)
	}
	step := q.Begin("publish canary QoS 1 to " + other.Topic)
	tok := q.Paho.Publish(other.Topic, 1, false, canary)
	if !mqttprobe.WaitToken(ctx, tok, q.Timeout) || tok.Error() != nil {
		step.End("not acknowledged", fmt.Sprint(tok.Error()))
		ev.JSON("subscribe.json", []*mqttprobe.Client{p, q})
		obs["delivery"] = "not probed"
		return ev.Outcome(record.StatusError, obs, "identity %q was granted # but identity %q could not publish a canary to its own topic %q: check its write ACL", id.Name, other.Name, other.Topic)
	}
	step.End("puback", "")
	wait := p.Begin("wait for the canary on #")
	t := time.NewTimer(p.Timeout)
	defer t.Stop()
	select {
	case <-delivered:
		wait.End("delivered", "")
		obs["delivery"] = "delivered"
		ev.JSON("subscribe.json", []*mqttprobe.Client{p, q})
		return ev.Outcome(record.StatusFail, obs, "the broker granted identity %q a subscription to # (QoS %d) and delivered it identity %q's message: one device reads every device's traffic", id.Name, code, other.Name)
	case <-t.C:
		wait.End("not delivered", fmt.Sprintf("nothing within %s", p.Timeout))
	case <-ctx.Done():
		wait.End("interrupted", "")
		ev.JSON("subscribe.json", []*mqttprobe.Client{p, q})
		return ev.Outcome(record.StatusError, obs, "interrupted while waiting for the canary")
	}
	obs["delivery"] = "filtered"
	ev.JSON("subscribe.json", []*mqttprobe.Client{p, q})
	return ev.Outcome(record.StatusPass, obs, "the broker granted identity %q a subscription to # but did not deliver identity %q's message within %s: reads are filtered by ACL at delivery", id.Name, other.Name, p.Timeout)
}

func endpointLabel(useTLS bool) string {
	if useTLS {
		return "tls"
	}
	return "plain"
}

// probePayload marks the probe's messages for whoever reads the topic: they are not telemetry, and
// a strict ingest rejects them as malformed rather than storing them.
var probePayload = []byte("rig guardrail probe: maximum packet size baseline (not telemetry)")

// probeMaxPacket publishes a small message, then an oversize one, to the identity's own topic.
func probeMaxPacket(ctx context.Context, env *check.Env) check.Outcome {
	id, addr, useTLS, why := probeIdentity(env)
	if why != "" {
		return check.Skip("%s; nothing to probe", why)
	}
	if id.Topic == "" {
		return check.Skip("probe identity %q names no topic of its own (probes[0].topic); nothing to publish to", id.Name)
	}
	size := env.Limits.OversizeBytes
	ev := check.NewEvidence(env, ctlGuardMaxPacket)
	p, err := connectProbe(ctx, env, id, addr, useTLS)
	defer p.Close()
	obs := map[string]any{"endpoint": endpointLabel(useTLS), "identity": id.Name, "oversize_bytes": size}
	if err != nil {
		ev.JSON("publish.json", p)
		return ev.Outcome(record.StatusError, obs, "probe identity %q could not connect to %s: %v (check its credentials, client certificate and the broker address)", id.Name, addr, err)
	}

	// A refusal of the oversize message means something only if a normal one gets through.
	step := p.Begin(fmt.Sprintf("publish %d bytes QoS 1", len(probePayload)))
	tok := p.Paho.Publish(id.Topic, 1, false, probePayload)
	if !mqttprobe.WaitToken(ctx, tok, p.Timeout) || tok.Error() != nil {
		detail := fmt.Sprintf("no PUBACK within %s", p.Timeout)
		if tok.Error() != nil {
			detail = tok.Error().Error()
		}
		step.End("not acknowledged", detail)
		obs["small_puback"] = false
		ev.JSON("publish.json", p)
		return ev.Outcome(record.StatusError, obs, "a %d-byte publish to the identity's own topic %q was not acknowledged (%s): check the identity's write ACL before judging the size limit", len(probePayload), id.Topic, detail)
	}
	step.End("puback", "")
	obs["small_puback"] = true

	step = p.Begin(fmt.Sprintf("publish %d bytes QoS 1", size))
	tok = p.Paho.Publish(id.Topic, 1, false, bytes.Repeat([]byte{'x'}, size))
	done := mqttprobe.WaitToken(ctx, tok, p.Timeout)
	if done && tok.Error() == nil {
		step.End("puback", "")
		obs["oversize"] = "acknowledged"
		ev.Fact("mqtt.oversize", obs["oversize"])
		ev.JSON("publish.json", p)
		return ev.Outcome(record.StatusFail, obs, "the broker acknowledged a %d-byte publish: no maximum packet size is enforced", size)
	}
	detail := fmt.Sprintf("no PUBACK within %s", p.Timeout)
	if done {
		detail = tok.Error().Error()
	}
	if gone, how := p.Dropped(200 * time.Millisecond); gone {
		step.End("connection closed", detail+"; "+how)
		obs["oversize"] = "connection closed"
		ev.Fact("mqtt.oversize", obs["oversize"])
		ev.JSON("publish.json", p)
		return ev.Outcome(record.StatusPass, obs, "the broker closed the connection on a %d-byte publish after acknowledging a %d-byte one", size, len(probePayload))
	}
	step.End("no answer", detail)
	obs["oversize"] = "no answer"
	ev.Fact("mqtt.oversize", obs["oversize"])
	ev.JSON("publish.json", p)
	return ev.Outcome(record.StatusError, obs, "the %d-byte publish was neither acknowledged nor answered by a disconnect (%s): cannot tell whether a limit is enforced", size, detail)
}

// probeHealth judges the path's telemetry balance over the run's window: every frame the device
// sent is stored once, with the values it sent.
func probeHealth(ctx context.Context, env *check.Env) check.Outcome {
	if env.Telemetry == nil {
		// The input (a device whose own counters the rig can read) is not part of this path: a
		// skip with the reason, like any control whose target is not named - never a pass.
		return check.Skip("no device in this run whose own telemetry counters the rig can read (external targets name none): runtime health is not evaluated")
	}
	drain := env.Limits.DrainTimeout
	ctx, cancel := context.WithTimeout(ctx, drain+env.Limits.ProbeTimeout+10*time.Second)
	defer cancel()
	started := time.Now()
	acc, err := env.Telemetry.Account(ctx, drain)
	ev := check.NewEvidence(env, ctlGuardHealth)
	if err != nil {
		return ev.Outcome(record.StatusError, nil, "telemetry accounting failed: %v (is the device answering and the store reachable?)", err)
	}
	rows := slices.Clone(acc.Accounts)
	slices.SortFunc(rows, func(a, b check.TrustAccount) int {
		return cmp.Or(cmp.Compare(a.Device, b.Device), cmp.Compare(a.Boot, b.Boot))
	})
	ev.JSON("accounting.json", map[string]any{"drain_timeout": drain.String(), "account_duration_ms": probe.MsSince(started), "devices": rows, "totals": acc.Totals, "altered": acc.Altered})

	var lossy, extra, silent []string
	for _, r := range rows {
		label := fmt.Sprintf("%s boot %d", r.Device, r.Boot)
		switch {
		case r.Lost > 0:
			lossy = append(lossy, fmt.Sprintf("%s: sent %d (seq %d…%d), stored %d, lost %d", label, r.Sent, r.From, r.From+r.Sent, r.Delivered, r.Lost))
		case r.StoredDuplicates > 0:
			extra = append(extra, fmt.Sprintf("%s: sent %d, %d rows beyond what it sent", label, r.Sent, r.StoredDuplicates))
		case r.Sent == 0:
			silent = append(silent, label)
		}
	}
	tot := acc.Totals
	obs := map[string]any{"device_boots": len(rows), "sent": tot.Sent, "delivered": tot.Delivered, "lost": tot.Lost, "unexpected": tot.StoredDuplicates, "altered": tot.Altered}
	switch {
	case len(rows) == 0:
		return ev.Outcome(record.StatusError, obs, "telemetry accounting lists no device: nothing shows that telemetry flows")
	case len(acc.Altered) > 0:
		return ev.Outcome(record.StatusFail, obs, "%d stored readings differ from what the device sent: %s", tot.Altered, acc.Altered[0])
	case len(lossy) > 0:
		return ev.Outcome(record.StatusFail, obs, "telemetry was lost within the %s drain: %s", drain, strings.Join(lossy, "; "))
	case len(extra) > 0:
		return ev.Outcome(record.StatusFail, obs, "the store holds rows the devices did not send (spoofed or replayed telemetry): %s", strings.Join(extra, "; "))
	case len(silent) > 0 && tot.Sent == 0:
		return ev.Outcome(record.StatusError, obs, "the devices sent nothing during the run, so their health cannot be shown: %s", strings.Join(silent, "; "))
	}
	return ev.Outcome(record.StatusPass, obs, "every frame the devices sent during the run (%d, over %d device boots) is stored once, with the values sent; nothing lost", tot.Sent, len(rows))
}

// probeEndpoint picks the endpoint a probe identity connects to: the TLS one when named, since that
// is where devices are meant to connect, else the plaintext one.
func probeEndpoint(b check.Broker) (addr string, useTLS bool) {
	if b.TLS != "" {
		return b.TLS, true
	}
	return b.Plain, false
}

// connectProbe connects id to addr with its credentials and client certificate (mqttprobe.Dial).
// The returned probe must be closed, also when err is not nil.
func connectProbe(ctx context.Context, env *check.Env, id check.Identity, addr string, useTLS bool) (*mqttprobe.Client, error) {
	pid := mqttprobe.Identity{Name: id.Name, ClientID: id.ClientID, Username: id.Username, Password: id.Password, Cert: id.Cert}
	return mqttprobe.Dial(ctx, env.Log, pid, addr, useTLS, env.Targets.Broker.ServerName, env.Limits.ProbeTimeout)
}
