package checks

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

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
func guardDepthCheck() Check {
	return Check{
		ID:       "guardrails-depth",
		Title:    "Gateway guardrails in depth",
		Controls: []string{ctlGuardSys, ctlGuardSubOther, ctlGuardPubOther, ctlGuardRate, ctlGuardUART, ctlGuardMgmt},
		// The flood: enough to exceed any per-client rate a device needs, small enough to bound
		// the load (flood_messages × 64 bytes).
		Thresholds: map[string][]string{ctlGuardRate: {thFloodMessages}},
		Run: func(ctx context.Context, env *Env) map[string]Outcome {
			return map[string]Outcome{
				ctlGuardSys:      probe(env, ctlGuardSys, func() Outcome { return probeSys(ctx, env) }),
				ctlGuardSubOther: probe(env, ctlGuardSubOther, func() Outcome { return probeCrossDevice(ctx, env, false) }),
				ctlGuardPubOther: probe(env, ctlGuardPubOther, func() Outcome { return probeCrossDevice(ctx, env, true) }),
				ctlGuardRate:     probe(env, ctlGuardRate, func() Outcome { return probeRate(ctx, env) }),
				ctlGuardUART:     probe(env, ctlGuardUART, func() Outcome { return probeUART(ctx, env) }),
				ctlGuardMgmt:     probe(env, ctlGuardMgmt, func() Outcome { return probeMgmt(ctx, env) }),
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
func (p *mqttProbe) listen(filter string, want []byte) (mqtt.Token, *deliveries) {
	d := newDeliveries()
	tok := p.client.Subscribe(filter, 0, func(_ mqtt.Client, m mqtt.Message) {
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
func subscribeStep(ctx context.Context, p *mqttProbe, filter string, want []byte) (refused bool, code string, got *deliveries, err error) {
	step := p.begin("subscribe " + filter)
	tok, got := p.listen(filter, want)
	if !waitToken(ctx, tok, p.timeout) || tok.Error() != nil {
		if gone, how := p.dropped(200 * time.Millisecond); gone {
			step.end("disconnected", how)
			return true, "disconnected", nil, nil
		}
		step.end("no answer", fmt.Sprint(tok.Error()))
		return false, "none", nil, fmt.Errorf("no SUBACK for %s within %s", filter, p.timeout)
	}
	c, ok := tok.(*mqtt.SubscribeToken).Result()[filter]
	if !ok {
		step.end("malformed", "no code")
		return false, "none", nil, fmt.Errorf("SUBACK without a code for %s", filter)
	}
	code = fmt.Sprintf("0x%02x", c)
	if c == 0x80 {
		step.end("refused", "SUBACK 0x80")
		return true, code, nil, nil
	}
	step.end("granted", "SUBACK "+code)
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
func probeSys(ctx context.Context, env *Env) Outcome {
	id, addr, useTLS, why := probeIdentity(env)
	if why != "" {
		return skip("%s; nothing to probe", why)
	}
	ev := newEvidence(env, ctlGuardSys)
	p, err := connectProbe(ctx, env, id, addr, useTLS)
	defer p.close()
	obs := map[string]any{"identity": id.Name}
	if err != nil {
		ev.json("subscribe.json", p)
		return ev.outcome(record.StatusError, obs, "probe identity %q could not connect to %s: %v (check its credentials and client certificate)", id.Name, addr, err)
	}
	refused, code, got, err := subscribeStep(ctx, p, "$SYS/#", nil)
	obs["suback"] = code
	ev.fact("mqtt.suback.sys", code)
	if err != nil {
		ev.json("subscribe.json", p)
		return ev.outcome(record.StatusError, obs, "%v: cannot tell whether $SYS is readable", err)
	}
	if refused {
		ev.json("subscribe.json", p)
		return ev.outcome(record.StatusPass, obs, "the broker refused identity %q a subscription to $SYS/# (%s)", id.Name, code)
	}
	step := p.begin("wait for a $SYS message")
	if wait(ctx, got.first, p.timeout) {
		topics := got.seen() // never empty once first is closed
		step.end("delivered", strings.Join(topics, ", "))
		obs["delivered"] = true
		// The version is retained and comes in the same burst; wait a moment for it, as a fact
		// that identifies the broker build.
		if wait(ctx, got.versionSeen, min(p.timeout, 500*time.Millisecond)) {
			obs["broker_version"] = got.brokerVersion()
			ev.fact("broker.version", got.brokerVersion())
		}
		ev.json("subscribe.json", p)
		return ev.outcome(record.StatusFail, obs, "identity %q reads the broker's $SYS topics (e.g. %s): broker internals and client counts leak to every device", id.Name, topics[0])
	}
	step.end("nothing", fmt.Sprintf("no message within %s", p.timeout))
	obs["delivered"] = false
	ev.json("subscribe.json", p)
	return ev.outcome(record.StatusPass, obs, "the subscription to $SYS/# was granted (%s) but nothing was delivered within %s: $SYS is filtered or not published", code, p.timeout)
}

// probeCrossDevice checks one device identity against another's topic. Reading (publish false):
// probe A subscribes to B's topic, B publishes a canary there. Writing (publish true): B
// subscribes to its own topic and A publishes a canary to it. Either way the canary reaching the
// other side is the finding.
func probeCrossDevice(ctx context.Context, env *Env, publish bool) Outcome {
	ctl := ctlGuardSubOther
	if publish {
		ctl = ctlGuardPubOther
	}
	if len(env.Targets.Probes) < 2 {
		return skip("fewer than two probe identities named in the targets (probes): a cross-device probe needs a second device")
	}
	a, b := env.Targets.Probes[0], env.Targets.Probes[1]
	if b.Topic == "" {
		return skip("the second probe identity %q names no topic of its own (probes[1].topic)", b.Name)
	}
	addr, useTLS := probeEndpoint(env.Targets.Broker)
	if addr == "" {
		return skip("no broker endpoint named in the targets (broker plain, broker tls)")
	}
	ev := newEvidence(env, ctl)
	obs := map[string]any{"identity": a.Name, "other": b.Name}
	pa, err := connectProbe(ctx, env, a, addr, useTLS)
	defer pa.close()
	pb, errB := connectProbe(ctx, env, b, addr, useTLS)
	defer pb.close()
	if err != nil || errB != nil {
		ev.json("probes.json", []*mqttProbe{pa, pb})
		return ev.outcome(record.StatusError, obs, "the probe identities could not both connect (%v; %v): check their credentials", err, errB)
	}
	canary := []byte("rig guardrail probe: cross-device canary " + randomHex(8) + " (not telemetry)")
	sub, pub := pa, pb // reading: A listens on B's topic, B publishes
	if publish {
		sub, pub = pb, pa // writing: B listens on its own topic, A publishes there
	}
	refused, code, got, err := subscribeStep(ctx, sub, b.Topic, canary)
	obs["suback"] = code
	switch {
	case err != nil:
		ev.json("probes.json", []*mqttProbe{pa, pb})
		return ev.outcome(record.StatusError, obs, "%v", err)
	case refused && publish:
		ev.json("probes.json", []*mqttProbe{pa, pb})
		return ev.outcome(record.StatusError, obs, "identity %q may not subscribe to its own topic %q (%s): the write probe has no witness", b.Name, b.Topic, code)
	case refused:
		ev.json("probes.json", []*mqttProbe{pa, pb})
		return ev.outcome(record.StatusPass, obs, "the broker refused identity %q a subscription to %q's topic (%s)", a.Name, b.Name, code)
	}
	step := pub.begin("publish canary QoS 1 to " + b.Topic)
	tok := pub.client.Publish(b.Topic, 1, false, canary)
	acked := waitToken(ctx, tok, pub.timeout) && tok.Error() == nil
	if acked {
		step.end("puback", "")
	} else if gone, how := pub.dropped(200 * time.Millisecond); gone {
		step.end("disconnected", how)
		obs["publish"] = "disconnected"
		ev.json("probes.json", []*mqttProbe{pa, pb})
		if publish {
			return ev.outcome(record.StatusPass, obs, "the broker disconnected identity %q when it published to %q's topic", a.Name, b.Name)
		}
		return ev.outcome(record.StatusError, obs, "identity %q was disconnected publishing to its own topic: the read probe has no canary", b.Name)
	} else {
		step.end("no puback", fmt.Sprint(tok.Error()))
	}
	obs["puback"] = acked
	w := sub.begin("wait for the canary")
	delivered := wait(ctx, got.first, sub.timeout)
	if delivered {
		w.end("delivered", "")
	} else {
		w.end("not delivered", fmt.Sprintf("nothing within %s", sub.timeout))
	}
	obs["delivered"] = delivered
	ev.json("probes.json", []*mqttProbe{pa, pb})
	switch {
	case delivered && publish:
		return ev.outcome(record.StatusFail, obs, "identity %q published to %q's topic %q and the message was delivered: one device can spoof another's telemetry or commands", a.Name, b.Name, b.Topic)
	case delivered:
		return ev.outcome(record.StatusFail, obs, "identity %q subscribed to %q's topic %q and received its message: one device reads another's traffic", a.Name, b.Name, b.Topic)
	case !publish && !acked:
		return ev.outcome(record.StatusError, obs, "identity %q's publish to its own topic was not acknowledged: the read probe has no canary", b.Name)
	case publish:
		return ev.outcome(record.StatusPass, obs, "identity %q's publish to %q's topic was not delivered within %s (dropped by the write ACL)", a.Name, b.Name, sub.timeout)
	}
	return ev.outcome(record.StatusPass, obs, "identity %q was granted %q's topic (%s) but received nothing within %s (filtered by the read ACL)", a.Name, b.Name, code, sub.timeout)
}

// probeRate floods the probe identity's own topic with flood_messages QoS 0 publishes as fast as
// the connection takes them, while the same connection, subscribed to that topic, counts what the
// broker delivers. A broker that enforces a per-client rate drops or disconnects; one that
// delivers the whole flood does not limit.
func probeRate(ctx context.Context, env *Env) Outcome {
	if !env.Intrusive {
		return skip("intrusive probe (a publish flood): the scenario does not opt in (intrusive: true)")
	}
	id, addr, useTLS, why := probeIdentity(env)
	if why != "" {
		return skip("%s; nothing to probe", why)
	}
	if id.Topic == "" {
		return skip("probe identity %q names no topic of its own (probes[0].topic); nothing to publish to", id.Name)
	}
	ev := newEvidence(env, ctlGuardRate)
	floodMessages := env.threshold(ctlGuardRate, thFloodMessages)
	p, err := connectProbe(ctx, env, id, addr, useTLS)
	defer p.close()
	obs := map[string]any{"identity": id.Name, "flood": floodMessages}
	if err != nil {
		ev.json("flood.json", p)
		return ev.outcome(record.StatusError, obs, "probe identity %q could not connect to %s: %v", id.Name, addr, err)
	}
	tag := []byte("rig rate probe " + randomHex(4) + " ")
	var mu sync.Mutex
	count := 0
	all := make(chan struct{})
	step := p.begin("subscribe own topic " + id.Topic)
	tok := p.client.Subscribe(id.Topic, 0, func(_ mqtt.Client, m mqtt.Message) {
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
	if !waitToken(ctx, tok, p.timeout) || tok.Error() != nil {
		step.end("no suback", fmt.Sprint(tok.Error()))
		ev.json("flood.json", p)
		return ev.outcome(record.StatusError, obs, "identity %q could not subscribe to its own topic %q: the flood has no witness", id.Name, id.Topic)
	}
	if c := tok.(*mqtt.SubscribeToken).Result()[id.Topic]; c == 0x80 {
		step.end("refused", "SUBACK 0x80")
		ev.json("flood.json", p)
		return ev.outcome(record.StatusError, obs, "identity %q may not read its own topic %q: the flood has no witness", id.Name, id.Topic)
	}
	step.end("granted", "")
	flood := p.begin(fmt.Sprintf("publish %d messages QoS 0", floodMessages))
	start := time.Now()
	for i := 0; i < floodMessages; i++ {
		payload := append(bytes.Clone(tag), []byte(fmt.Sprintf("%04d (not telemetry)", i))...)
		t := p.client.Publish(id.Topic, 0, false, payload)
		if !waitToken(ctx, t, p.timeout) || t.Error() != nil {
			break // the connection is gone or stuck: the wait below tells
		}
	}
	sent := time.Since(start)
	flood.end("sent", fmt.Sprintf("in %s", sent.Round(time.Millisecond)))
	w := p.begin("count deliveries")
	got := wait(ctx, all, p.timeout)
	mu.Lock()
	n := count
	mu.Unlock()
	gone, how := p.dropped(100 * time.Millisecond)
	w.end(fmt.Sprintf("%d delivered", n), how)
	ev.json("flood.json", p)
	obs["delivered"] = n
	obs["disconnected"] = gone
	rate := float64(floodMessages) / sent.Seconds()
	switch {
	case got && !gone:
		return ev.outcome(record.StatusFail, obs, "the broker delivered all %d messages of a flood sent at about %.0f messages/s by one client: no per-client publish rate is enforced", floodMessages, rate)
	case gone:
		return ev.outcome(record.StatusPass, obs, "the broker disconnected identity %q during a %d-message flood (%d delivered): a rate or flood limit is enforced", id.Name, floodMessages, n)
	}
	return ev.outcome(record.StatusPass, obs, "the broker delivered %d of %d flood messages within %s: publishes beyond the client's rate are dropped", n, floodMessages, p.timeout)
}
