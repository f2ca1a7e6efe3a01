package guardrails

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/probe"
	"github.com/pathrig/rig/rig/checks/probe/mqttprobe"
	"github.com/pathrig/rig/rig/record"
)

const (
	ctlGuardSys      = "GUARD-SUB-SYS"
	ctlGuardSubOther = "GUARD-SUB-OTHER"
	ctlGuardPubOther = "GUARD-PUB-OTHER"
	ctlGuardRate     = "GUARD-RATE"
)

// guardDepthCheck probes what one device identity can do to another and to the broker's own
// topics. Every verdict rests on delivery, not on the acknowledgement alone: Mosquitto with an
// acl_file grants any subscription and acknowledges any QoS 1 publish, and filters by ACL when it
// delivers.
func guardDepthCheck() check.Check {
	return check.Check{
		ID:       "guardrails-depth",
		Title:    "Gateway guardrails in depth",
		Controls: []string{ctlGuardSys, ctlGuardSubOther, ctlGuardPubOther, ctlGuardRate, ctlGuardUART, ctlGuardMgmt},
		// The flood: enough to exceed any per-client rate a device needs, small enough to bound
		// the load (flood_messages × 64 bytes).
		Thresholds: map[string][]string{ctlGuardRate: {check.ThFloodMessages}},
		Run: func(ctx context.Context, env *check.Env) map[string]check.Outcome {
			return map[string]check.Outcome{
				ctlGuardSys:      check.Probe(env, ctlGuardSys, func() check.Outcome { return probeSys(ctx, env) }),
				ctlGuardSubOther: check.Probe(env, ctlGuardSubOther, func() check.Outcome { return probeCrossDevice(ctx, env, false) }),
				ctlGuardPubOther: check.Probe(env, ctlGuardPubOther, func() check.Outcome { return probeCrossDevice(ctx, env, true) }),
				ctlGuardRate:     check.Probe(env, ctlGuardRate, func() check.Outcome { return probeRate(ctx, env) }),
				ctlGuardUART:     check.Probe(env, ctlGuardUART, func() check.Outcome { return probeUART(ctx, env) }),
				ctlGuardMgmt:     check.Probe(env, ctlGuardMgmt, func() check.Outcome { return probeMgmt(ctx, env) }),
			}
		},
	}
}

// deliveries records what a subscription received. The client's router calls add on its own
// goroutines, and keeps calling it after the first match while the probe reports: every access
// goes through the lock.
type deliveries struct {
	first  chan struct{} // closed on the first matching message
	once   sync.Once
	mu     sync.Mutex
	topics []string // the first few topics, for the evidence
	// version is the payload of $SYS/broker/version (the broker's own name and build, a fact
	// for drift); versionSeen is closed once it arrived.
	version     string
	versionSeen chan struct{}
	versionOnce sync.Once
}

func newDeliveries() *deliveries {
	return &deliveries{first: make(chan struct{}), versionSeen: make(chan struct{})}
}

// sysVersionTopic is where mochi and Mosquitto publish (retained) their name and version.
const sysVersionTopic = "$SYS/broker/version"

// maxVersionLen bounds the broker version kept as a fact.
const maxVersionLen = 120

func (d *deliveries) addVersion(payload []byte) {
	v := strings.TrimSpace(string(payload))
	if len(v) > maxVersionLen {
		v = v[:maxVersionLen]
	}
	d.versionOnce.Do(func() {
		d.mu.Lock()
		d.version = v
		d.mu.Unlock()
		close(d.versionSeen)
	})
}

// brokerVersion returns $SYS/broker/version's payload, "" when it did not arrive.
func (d *deliveries) brokerVersion() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.version
}

// maxDeliveryTopics bounds the topics kept for the evidence.
const maxDeliveryTopics = 5

func (d *deliveries) add(topic string) {
	d.mu.Lock()
	if len(d.topics) < maxDeliveryTopics {
		d.topics = append(d.topics, topic)
	}
	d.mu.Unlock()
	d.once.Do(func() { close(d.first) })
}

// seen returns a copy of the topics recorded so far.
func (d *deliveries) seen() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.topics)
}

// listen subscribes p to filter and records the messages whose payload is want (any message when
// want is nil).
func listen(p *mqttprobe.Client, filter string, want []byte) (mqtt.Token, *deliveries) {
	d := newDeliveries()
	tok := p.Paho.Subscribe(filter, 0, func(_ mqtt.Client, m mqtt.Message) {
		if want != nil && !bytes.Equal(m.Payload(), want) {
			return
		}
		if m.Topic() == sysVersionTopic {
			d.addVersion(m.Payload())
		}
		d.add(m.Topic())
	})
	return tok, d
}

// subscribeStep subscribes and records the SUBACK; refused is true for 0x80 or a disconnect.
func subscribeStep(ctx context.Context, p *mqttprobe.Client, filter string, want []byte) (refused bool, code string, got *deliveries, err error) {
	step := p.Begin("subscribe " + filter)
	tok, got := listen(p, filter, want)
	if !mqttprobe.WaitToken(ctx, tok, p.Timeout) || tok.Error() != nil {
		if gone, how := p.Dropped(200 * time.Millisecond); gone {
			step.End("disconnected", how)
			return true, "disconnected", nil, nil
		}
		step.End("no answer", fmt.Sprint(tok.Error()))
		return false, "none", nil, fmt.Errorf("no SUBACK for %s within %s", filter, p.Timeout)
	}
	c, ok := tok.(*mqtt.SubscribeToken).Result()[filter]
	if !ok {
		step.End("malformed", "no code")
		return false, "none", nil, fmt.Errorf("SUBACK without a code for %s", filter)
	}
	code = fmt.Sprintf("0x%02x", c)
	if c == 0x80 {
		step.End("refused", "SUBACK 0x80")
		return true, code, nil, nil
	}
	step.End("granted", "SUBACK "+code)
	return false, code, got, nil
}

// wait waits up to d for ch.
func wait(ctx context.Context, ch <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// probeSys subscribes the probe identity to $SYS/#, where brokers publish (mostly retained)
// internals: version, clients, load.
func probeSys(ctx context.Context, env *check.Env) check.Outcome {
	id, addr, useTLS, why := probeIdentity(env)
	if why != "" {
		return check.Skip("%s; nothing to probe", why)
	}
	ev := check.NewEvidence(env, ctlGuardSys)
	p, err := connectProbe(ctx, env, id, addr, useTLS)
	defer p.Close()
	obs := map[string]any{"identity": id.Name}
	if err != nil {
		ev.JSON("subscribe.json", p)
		return ev.Outcome(record.StatusError, obs, "probe identity %q could not connect to %s: %v (check its credentials and client certificate)", id.Name, addr, err)
	}
	refused, code, got, err := subscribeStep(ctx, p, "$SYS/#", nil)
	obs["suback"] = code
	ev.Fact("mqtt.suback.sys", code)
	if err != nil {
		ev.JSON("subscribe.json", p)
		return ev.Outcome(record.StatusError, obs, "%v: cannot tell whether $SYS is readable", err)
	}
	if refused {
		ev.JSON("subscribe.json", p)
		return ev.Outcome(record.StatusPass, obs, "the broker refused identity %q a subscription to $SYS/# (%s)", id.Name, code)
	}
	step := p.Begin("wait for a $SYS message")
	if wait(ctx, got.first, p.Timeout) {
		topics := got.seen() // never empty once first is closed
		step.End("delivered", strings.Join(topics, ", "))
		obs["delivered"] = true
		// The version is retained and comes in the same burst; wait a moment for it, as a fact
		// that identifies the broker build.
		if wait(ctx, got.versionSeen, min(p.Timeout, 500*time.Millisecond)) {
			obs["broker_version"] = got.brokerVersion()
			ev.Fact("broker.version", got.brokerVersion())
		}
		ev.JSON("subscribe.json", p)
		return ev.Outcome(record.StatusFail, obs, "identity %q reads the broker's $SYS topics (e.g. %s): broker internals and client counts leak to every device", id.Name, topics[0])
	}
	step.End("nothing", fmt.Sprintf("no message within %s", p.Timeout))
	obs["delivered"] = false
	ev.JSON("subscribe.json", p)
	return ev.Outcome(record.StatusPass, obs, "the subscription to $SYS/# was granted (%s) but nothing was delivered within %s: $SYS is filtered or not published", code, p.Timeout)
}

// probeCrossDevice checks one device identity against another's topic. Reading (publish false):
// probe A subscribes to B's topic, B publishes a canary there. Writing (publish true): B
// subscribes to its own topic and A publishes a canary to it. Either way the canary reaching the
// other side is the finding.
func probeCrossDevice(ctx context.Context, env *check.Env, publish bool) check.Outcome {
	ctl := ctlGuardSubOther
	if publish {
		ctl = ctlGuardPubOther
	}
	if len(env.Targets.Probes) < 2 {
		return check.Skip("fewer than two probe identities named in the targets (probes): a cross-device probe needs a second device")
	}
	a, b := env.Targets.Probes[0], env.Targets.Probes[1]
	if b.Topic == "" {
		return check.Skip("the second probe identity %q names no topic of its own (probes[1].topic)", b.Name)
	}
	addr, useTLS := probeEndpoint(env.Targets.Broker)
	if addr == "" {
		return check.Skip("no broker endpoint named in the targets (broker plain, broker tls)")
	}
	ev := check.NewEvidence(env, ctl)
	obs := map[string]any{"identity": a.Name, "other": b.Name}
	pa, err := connectProbe(ctx, env, a, addr, useTLS)
	defer pa.Close()
	pb, errB := connectProbe(ctx, env, b, addr, useTLS)
	defer pb.Close()
	if err != nil || errB != nil {
		ev.JSON("probes.json", []*mqttprobe.Client{pa, pb})
		return ev.Outcome(record.StatusError, obs, "the probe identities could not both connect (%v; %v): check their credentials", err, errB)
	}
	canary := []byte("rig guardrail probe: cross-device canary " + probe.RandomHex(8) + " (not telemetry)")
	sub, pub := pa, pb // reading: A listens on B's topic, B publishes
	if publish {
		sub, pub = pb, pa // writing: B listens on its own topic, A publishes there
	}
	refused, code, got, err := subscribeStep(ctx, sub, b.Topic, canary)
	obs["suback"] = code
	switch {
	case err != nil:
		ev.JSON("probes.json", []*mqttprobe.Client{pa, pb})
		return ev.Outcome(record.StatusError, obs, "%v", err)
	case refused && publish:
		ev.JSON("probes.json", []*mqttprobe.Client{pa, pb})
		return ev.Outcome(record.StatusError, obs, "identity %q may not subscribe to its own topic %q (%s): the write probe has no witness", b.Name, b.Topic, code)
	case refused:
		ev.JSON("probes.json", []*mqttprobe.Client{pa, pb})
		return ev.Outcome(record.StatusPass, obs, "the broker refused identity %q a subscription to %q's topic (%s)", a.Name, b.Name, code)
	}
	step := pub.Begin("publish canary QoS 1 to " + b.Topic)
	tok := pub.Paho.Publish(b.Topic, 1, false, canary)
	acked := mqttprobe.WaitToken(ctx, tok, pub.Timeout) && tok.Error() == nil
	if acked {
		step.End("puback", "")
	} else if gone, how := pub.Dropped(200 * time.Millisecond); gone {
		step.End("disconnected", how)
		obs["publish"] = "disconnected"
		ev.JSON("probes.json", []*mqttprobe.Client{pa, pb})
		if publish {
			return ev.Outcome(record.StatusPass, obs, "the broker disconnected identity %q when it published to %q's topic", a.Name, b.Name)
		}
		return ev.Outcome(record.StatusError, obs, "identity %q was disconnected publishing to its own topic: the read probe has no canary", b.Name)
	} else {
		step.End("no puback", fmt.Sprint(tok.Error()))
	}
	obs["puback"] = acked
	w := sub.Begin("wait for the canary")
	delivered := wait(ctx, got.first, sub.Timeout)
	if delivered {
		w.End("delivered", "")
	} else {
		w.End("not delivered", fmt.Sprintf("nothing within %s", sub.Timeout))
	}
	obs["delivered"] = delivered
	ev.JSON("probes.json", []*mqttprobe.Client{pa, pb})
	switch {
	case delivered && publish:
		return ev.Outcome(record.StatusFail, obs, "identity %q published to %q's topic %q and the message was delivered: one device can spoof another's telemetry or commands", a.Name, b.Name, b.Topic)
	case delivered:
		return ev.Outcome(record.StatusFail, obs, "identity %q subscribed to %q's topic %q and received its message: one device reads another's traffic", a.Name, b.Name, b.Topic)
	case !publish && !acked:
		return ev.Outcome(record.StatusError, obs, "identity %q's publish to its own topic was not acknowledged: the read probe has no canary", b.Name)
	case publish:
		return ev.Outcome(record.StatusPass, obs, "identity %q's publish to %q's topic was not delivered within %s (dropped by the write ACL)", a.Name, b.Name, sub.Timeout)
	}
	return ev.Outcome(record.StatusPass, obs, "identity %q was granted %q's topic (%s) but received nothing within %s (filtered by the read ACL)", a.Name, b.Name, code, sub.Timeout)
}

// probeRate floods the probe identity's own topic with flood_messages QoS 0 publishes as fast as
// the connection takes them, while the same connection, subscribed to that topic, counts what the
// broker delivers. A broker that enforces a per-client rate drops or disconnects; one that
// delivers the whole flood does not limit.
func probeRate(ctx context.Context, env *check.Env) check.Outcome {
	if !env.Intrusive {
		return check.Skip("intrusive probe (a publish flood): the scenario does not opt in (intrusive: true)")
	}
	id, addr, useTLS, why := probeIdentity(env)
	if why != "" {
		return check.Skip("%s; nothing to probe", why)
	}
	if id.Topic == "" {
		return check.Skip("probe identity %q names no topic of its own (probes[0].topic); nothing to publish to", id.Name)
	}
	ev := check.NewEvidence(env, ctlGuardRate)
	floodMessages := env.Threshold(ctlGuardRate, check.ThFloodMessages)
	p, err := connectProbe(ctx, env, id, addr, useTLS)
	defer p.Close()
	obs := map[string]any{"identity": id.Name, "flood": floodMessages}
	if err != nil {
		ev.JSON("flood.json", p)
		return ev.Outcome(record.StatusError, obs, "probe identity %q could not connect to %s: %v", id.Name, addr, err)
	}
	tag := []byte("rig rate probe " + probe.RandomHex(4) + " ")
	var mu sync.Mutex
	count := 0
	all := make(chan struct{})
	step := p.Begin("subscribe own topic " + id.Topic)
	tok := p.Paho.Subscribe(id.Topic, 0, func(_ mqtt.Client, m mqtt.Message) {
		if !bytes.HasPrefix(m.Payload(), tag) {
			return
		}
		mu.Lock()
		count++
		if count == floodMessages {
			close(all)
		}
		mu.Unlock()
	})
	if !mqttprobe.WaitToken(ctx, tok, p.Timeout) || tok.Error() != nil {
		step.End("no suback", fmt.Sprint(tok.Error()))
		ev.JSON("flood.json", p)
		return ev.Outcome(record.StatusError, obs, "identity %q could not subscribe to its own topic %q: the flood has no witness", id.Name, id.Topic)
	}
	if c := tok.(*mqtt.SubscribeToken).Result()[id.Topic]; c == 0x80 {
		step.End("refused", "SUBACK 0x80")
		ev.JSON("flood.json", p)
		return ev.Outcome(record.StatusError, obs, "identity %q may not read its own topic %q: the flood has no witness", id.Name, id.Topic)
	}
	step.End("granted", "")
	flood := p.Begin(fmt.Sprintf("publish %d messages QoS 0", floodMessages))
	start := time.Now()
	for i := 0; i < floodMessages; i++ {
		payload := append(bytes.Clone(tag), []byte(fmt.Sprintf("%04d (not telemetry)", i))...)
		t := p.Paho.Publish(id.Topic, 0, false, payload)
		if !mqttprobe.WaitToken(ctx, t, p.Timeout) || t.Error() != nil {
			break // the connection is gone or stuck: the wait below tells
		}
	}
	sent := time.Since(start)
	flood.End("sent", fmt.Sprintf("in %s", sent.Round(time.Millisecond)))
	w := p.Begin("count deliveries")
	got := wait(ctx, all, p.Timeout)
	mu.Lock()
	n := count
	mu.Unlock()
	gone, how := p.Dropped(100 * time.Millisecond)
	w.End(fmt.Sprintf("%d delivered", n), how)
	ev.JSON("flood.json", p)
	obs["delivered"] = n
	obs["disconnected"] = gone
	rate := float64(floodMessages) / sent.Seconds()
	switch {
	case got && !gone:
		return ev.Outcome(record.StatusFail, obs, "the broker delivered all %d messages of a flood sent at about %.0f messages/s by one client: no per-client publish rate is enforced", floodMessages, rate)
	case gone:
		return ev.Outcome(record.StatusPass, obs, "the broker disconnected identity %q during a %d-message flood (%d delivered): a rate or flood limit is enforced", id.Name, floodMessages, n)
	}
	return ev.Outcome(record.StatusPass, obs, "the broker delivered %d of %d flood messages within %s: publishes beyond the client's rate are dropped", n, floodMessages, p.Timeout)
}
