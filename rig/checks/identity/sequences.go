package identity

import (
	"context"
	"fmt"
	"time"

	"github.com/pathrig/rig/rig/checks/probe/mqttclient"
)

// Step is one step of a probe sequence, as written to the evidence. Passwords are never in it.
type Step struct {
	Step       string              `json:"step"`
	Result     string              `json:"result"`
	Detail     string              `json:"detail,omitempty"`
	Connack    *mqttclient.Connack `json:"connack,omitempty"`
	DurationMs float64             `json:"duration_ms"`
}

// Trace records the steps of one sequence.
type Trace struct {
	Steps []Step `json:"steps"`
}

func (t *Trace) add(name string, start time.Time, result, detail string) {
	t.Steps = append(t.Steps, Step{Step: name, Result: result, Detail: detail, DurationMs: float64(time.Since(start).Microseconds()) / 1000})
}

func (t *Trace) connect(name string, start time.Time, ca mqttclient.Connack) {
	c := ca
	t.Steps = append(t.Steps, Step{Step: name, Result: ca.Answer, Detail: ca.Detail, Connack: &c, DurationMs: float64(time.Since(start).Microseconds()) / 1000})
}

// connectAs connects id over ep with its own client id and credentials.
func connectAs(ctx context.Context, ep mqttclient.Endpoint, id Identity, version byte, timeout time.Duration, t *Trace, label string) (*mqttclient.Client, mqttclient.Connack) {
	start := time.Now()
	c, ca := mqttclient.Connect(ctx, ep, mqttclient.ConnectOpts{Version: version, ClientID: id.ClientID, Username: id.Username, Password: id.Password, Cert: id.Cert}, timeout)
	t.connect(label, start, ca)
	return c, ca
}

// ping runs Ping and records it; it reports whether the connection is alive.
func ping(c *mqttclient.Client, t *Trace, label string) (bool, error) {
	start := time.Now()
	err := c.Ping()
	switch {
	case err == nil:
		t.add(label, start, "pingresp", "")
		return true, nil
	case mqttclient.Closed(err):
		t.add(label, start, "closed", err.Error())
		return false, nil
	}
	t.add(label, start, "no answer", err.Error())
	return false, err
}

// TakeoverResult is what the takeover sequence observed.
type TakeoverResult struct {
	Trace
	Victim   string `json:"victim"`
	Attacker string `json:"attacker"`
	ClientID string `json:"client_id"`
	// VictimConnected: the victim's own CONNECT was accepted (without it nothing is shown).
	VictimConnected bool `json:"victim_connected"`
	// Attempt is how the broker answered the second identity's CONNECT with the victim's id.
	Attempt mqttclient.Connack `json:"attempt"`
	// VictimSurvived: after that answer, the victim's session still answered a PINGREQ.
	VictimSurvived bool `json:"victim_survived"`
	// VictimUnknown: the victim's connection neither answered nor closed (no verdict).
	VictimUnknown bool   `json:"victim_unknown,omitempty"`
	Error         string `json:"error,omitempty"`
}

// Takeover connects victim with its own client id, then attacker (its own credentials and
// certificate) with the victim's client id, then asks the victim's session for a PINGRESP. The
// broker ends a taken-over session before it acknowledges the new CONNECT (MQTT 3.1.1 §3.1.4,
// mochi and Mosquitto alike), so the victim's answer after the attacker's CONNACK is the verdict,
// not a race.
func Takeover(ctx context.Context, ep mqttclient.Endpoint, victim, attacker Identity, timeout time.Duration) TakeoverResult {
	r := TakeoverResult{Victim: victim.Name, Attacker: attacker.Name, ClientID: victim.ClientID}
	v, ca := connectAs(ctx, ep, victim, 4, timeout, &r.Trace, "victim "+victim.Name+" connects as "+victim.ClientID)
	if !ca.Accepted() {
		r.Error = fmt.Sprintf("identity %q could not connect with its own client id %q: %s %s", victim.Name, victim.ClientID, ca.Answer, ca.Detail)
		return r
	}
	defer v.Disconnect()
	r.VictimConnected = true
	start := time.Now()
	a, ca := mqttclient.Connect(ctx, ep, mqttclient.ConnectOpts{Version: 4, ClientID: victim.ClientID, Username: attacker.Username, Password: attacker.Password, Cert: attacker.Cert}, timeout)
	r.Trace.connect("attacker "+attacker.Name+" connects as "+victim.ClientID, start, ca)
	r.Attempt = ca
	if a != nil {
		defer a.Disconnect()
	}
	alive, err := ping(v, &r.Trace, "victim pings")
	r.VictimSurvived = alive
	if err != nil {
		r.VictimUnknown = true
		r.Error = fmt.Sprintf("the victim's session neither answered a PINGREQ nor closed: %v", err)
	}
	return r
}

// LockoutResult is what the lockout sequence observed.
type LockoutResult struct {
	Trace
	Identity string `json:"identity"`
	Attempts int    `json:"attempts"`
	Window   string `json:"window"`
	// Baseline: the identity's right credentials were accepted before the failures.
	Baseline mqttclient.Connack `json:"baseline"`
	// WrongAccepted counts the wrong-password CONNECTs the broker accepted.
	WrongAccepted int `json:"wrong_password_accepted"`
	// WrongUnanswered counts wrong-password CONNECTs without a clear answer.
	WrongUnanswered int `json:"wrong_password_unanswered"`
	// AfterFailures is how the right credentials were answered after the failures.
	AfterFailures mqttclient.Connack `json:"after_failures"`
	// Released: after waiting out the window the right credentials were accepted again (nil when
	// not tried because nothing was locked).
	Released *bool  `json:"released,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Lockout sends attempts CONNECTs of id with a wrong password, then one with the right one; when
// that is refused it waits out window and tries once more, so that the identity it locked can
// connect again when the probe ends.
func Lockout(ctx context.Context, ep mqttclient.Endpoint, id Identity, attempts int, window, timeout time.Duration) LockoutResult {
	r := LockoutResult{Identity: id.Name, Attempts: attempts, Window: window.String()}
	c, ca := connectAs(ctx, ep, id, 4, timeout, &r.Trace, "right credentials (baseline)")
	r.Baseline = ca
	if !ca.Accepted() {
		r.Error = fmt.Sprintf("identity %q could not connect with its own credentials before the test (%s %s): it may be locked out already or its credentials are wrong", id.Name, ca.Answer, ca.Detail)
		return r
	}
	c.Disconnect()
	wrong := mqttclient.RandomID("rig-wrong-password-")
	for i := 1; i <= attempts; i++ {
		start := time.Now()
		c, ca := mqttclient.Connect(ctx, ep, mqttclient.ConnectOpts{Version: 4, ClientID: id.ClientID, Username: id.Username, Password: wrong, Cert: id.Cert}, timeout)
		r.Trace.connect(fmt.Sprintf("wrong password %d/%d", i, attempts), start, ca)
		switch {
		case ca.Accepted():
			r.WrongAccepted++
			c.Disconnect()
		case ca.Unanswered():
			r.WrongUnanswered++
		}
		if ctx.Err() != nil {
			r.Error = "interrupted"
			return r
		}
	}
	c, ca = connectAs(ctx, ep, id, 4, timeout, &r.Trace, "right credentials after the failures")
	r.AfterFailures = ca
	if ca.Accepted() {
		c.Disconnect()
		return r
	}
	// Locked (or refused for another reason): wait the policy's window out and try again, so the
	// identity is usable by whatever runs next.
	select {
	case <-time.After(window + window/10 + 50*time.Millisecond):
	case <-ctx.Done():
		r.Error = "interrupted while waiting out the lockout window"
		return r
	}
	c, ca = connectAs(ctx, ep, id, 4, timeout, &r.Trace, "right credentials after the window")
	released := ca.Accepted()
	r.Released = &released
	if released {
		c.Disconnect()
	}
	return r
}

// DeliveryResult is what a retained-message or will sequence observed.
type DeliveryResult struct {
	Trace
	Writer string `json:"writer"`
	Owner  string `json:"owner"`
	Topic  string `json:"topic"`
	// SubscriberReady: the owner subscribed to its own topic and received its own control message
	// there: the subscriber would have seen the canary.
	SubscriberReady bool `json:"subscriber_ready"`
	// Refused: the broker refused the writer's CONNECT carrying the will (will sequence).
	Refused *mqttclient.Connack `json:"connect_refused,omitempty"`
	// Delivered: the canary reached the owner (live, or retained on a new subscription).
	Delivered bool `json:"delivered"`
	// Retained: the canary came back as a retained message on a new subscription.
	Retained bool   `json:"retained"`
	Cleared  *bool  `json:"cleared,omitempty"` // the probe removed the retained canary again
	Error    string `json:"error,omitempty"`
}

// subscriber connects owner and subscribes it to its own topic.
func subscriber(ctx context.Context, ep mqttclient.Endpoint, owner Identity, timeout time.Duration, t *Trace) (*mqttclient.Client, string) {
	s, ca := connectAs(ctx, ep, owner, 4, timeout, t, "owner "+owner.Name+" connects")
	if !ca.Accepted() {
		return nil, fmt.Sprintf("identity %q could not connect: %s %s", owner.Name, ca.Answer, ca.Detail)
	}
	start := time.Now()
	code, err := s.Subscribe(owner.Topic, 0)
	switch {
	case err != nil:
		t.add("owner subscribes to "+owner.Topic, start, "error", err.Error())
		s.Drop()
		return nil, fmt.Sprintf("identity %q could not subscribe to its own topic %q: %v", owner.Name, owner.Topic, err)
	case code >= 0x80:
		t.add("owner subscribes to "+owner.Topic, start, "refused", fmt.Sprintf("SUBACK 0x%02x", code))
		s.Disconnect()
		return nil, fmt.Sprintf("identity %q may not subscribe to its own topic %q (SUBACK 0x%02x): nothing could show a delivery", owner.Name, owner.Topic, code)
	}
	t.add("owner subscribes to "+owner.Topic, start, "granted", fmt.Sprintf("SUBACK 0x%02x", code))
	return s, ""
}

// control publishes a control message from the owner to its own topic and waits for it to come
// back. It is the positive evidence that the subscription delivers, and the barrier of every
// sequence: a broker queues what it sends one client in order (mochi's outbound queue, Mosquitto's
// per-client list), so whatever it routed to the owner before it handled the control message has
// arrived once the control message has. (A PINGRESP is no such barrier: mochi writes it directly,
// past the queue.)
func control(ctx context.Context, s *mqttclient.Client, owner Identity, t *Trace) bool {
	payload := []byte(mqttclient.RandomID("rig identity probe control message (not telemetry) "))
	start := time.Now()
	if _, err := s.Publish(owner.Topic, payload, 0, false); err != nil {
		t.add("owner publishes a control message", start, "error", err.Error())
		return false
	}
	ok, err := s.Wait(ctx, s.Timeout(), payload)
	t.add("control message back to the owner", start, fmt.Sprint(ok), errString(err))
	return ok
}

// RetainACL has writer publish a retained canary to owner's topic (one writer may not write),
// then checks whether owner receives it, live or as a retained message on a new subscription.
func RetainACL(ctx context.Context, ep mqttclient.Endpoint, writer, owner Identity, timeout time.Duration) DeliveryResult {
	r := DeliveryResult{Writer: writer.Name, Owner: owner.Name, Topic: owner.Topic}
	s, why := subscriber(ctx, ep, owner, timeout, &r.Trace)
	if s == nil {
		r.Error = why
		return r
	}
	defer s.Disconnect()
	w, ca := connectAs(ctx, ep, writer, 4, timeout, &r.Trace, "writer "+writer.Name+" connects")
	if !ca.Accepted() {
		r.Error = fmt.Sprintf("identity %q could not connect: %s %s", writer.Name, ca.Answer, ca.Detail)
		return r
	}
	canary := []byte(mqttclient.RandomID("rig identity probe retained canary (not telemetry) "))
	start := time.Now()
	if _, err := w.Publish(owner.Topic, canary, 0, true); err != nil {
		r.add("writer publishes a retained canary to "+owner.Topic, start, "closed", err.Error())
	} else {
		r.add("writer publishes a retained canary to "+owner.Topic, start, "sent", "QoS 0, retain")
		_, _ = ping(w, &r.Trace, "writer pings (the broker has handled the publish)")
	}
	w.Disconnect()
	r.SubscriberReady = control(ctx, s, owner, &r.Trace)
	if _, ok := s.Has(canary); ok {
		r.Delivered = true
	}
	start = time.Now()
	if err := s.Unsubscribe(owner.Topic); err != nil {
		r.add("owner subscribes again", start, "error", err.Error())
		r.Error = fmt.Sprintf("could not subscribe again to look for a retained message: %v", err)
		return r
	}
	if _, err := s.Subscribe(owner.Topic, 0); err != nil {
		r.add("owner subscribes again", start, "error", err.Error())
		r.Error = fmt.Sprintf("could not subscribe again to look for a retained message: %v", err)
		return r
	}
	r.add("owner subscribes again", start, "granted", "")
	n := len(s.Received())
	if !control(ctx, s, owner, &r.Trace) { // retained messages are queued on the subscription, before it
		r.Error = "the owner's control message did not come back after it subscribed again: cannot tell whether a retained message was held"
		return r
	}
	for _, m := range s.Received()[n:] {
		if string(m.Payload) == string(canary) {
			r.Retained, r.Delivered = true, true
		}
	}
	if r.Retained {
		cleared := clearRetained(ctx, ep, writer, owner, timeout, &r.Trace)
		r.Cleared = &cleared
	}
	return r
}

// clearRetained removes the retained canary (an empty retained message) so that the probe leaves
// the broker as it found it.
func clearRetained(ctx context.Context, ep mqttclient.Endpoint, writer, owner Identity, timeout time.Duration, t *Trace) bool {
	w, ca := connectAs(ctx, ep, writer, 4, timeout, t, "writer connects to clear the retained canary")
	if !ca.Accepted() {
		return false
	}
	defer w.Disconnect()
	start := time.Now()
	if _, err := w.Publish(owner.Topic, nil, 0, true); err != nil {
		t.add("writer clears the retained canary", start, "error", err.Error())
		return false
	}
	alive, _ := ping(w, t, "writer pings")
	t.add("writer clears the retained canary", start, fmt.Sprint(alive), "")
	return alive
}

// WillACL connects writer with a Last Will on owner's topic, drops the connection without
// DISCONNECT, and waits up to wait for the will to reach owner. A broker that refuses the CONNECT
// for its will decides at once; otherwise the wait bounds how long a broker may take to publish a
// will once it has seen the connection end.
func WillACL(ctx context.Context, ep mqttclient.Endpoint, writer, owner Identity, wait, timeout time.Duration) DeliveryResult {
	r := DeliveryResult{Writer: writer.Name, Owner: owner.Name, Topic: owner.Topic}
	s, why := subscriber(ctx, ep, owner, timeout, &r.Trace)
	if s == nil {
		r.Error = why
		return r
	}
	defer s.Disconnect()
	r.SubscriberReady = control(ctx, s, owner, &r.Trace)
	canary := []byte(mqttclient.RandomID("rig identity probe will canary (not telemetry) "))
	start := time.Now()
	w, ca := mqttclient.Connect(ctx, ep, mqttclient.ConnectOpts{Version: 4, ClientID: writer.ClientID, Username: writer.Username, Password: writer.Password, Cert: writer.Cert,
		Will: &mqttclient.Will{Topic: owner.Topic, Payload: canary}}, timeout)
	r.Trace.connect("writer "+writer.Name+" connects with a will on "+owner.Topic, start, ca)
	if !ca.Accepted() {
		// The refusal counts only if the same identity connects without the will.
		plain, pca := connectAs(ctx, ep, writer, 4, timeout, &r.Trace, "writer connects without a will")
		if !pca.Accepted() {
			r.Error = fmt.Sprintf("identity %q could not connect at all (%s %s): the will's refusal shows nothing", writer.Name, pca.Answer, pca.Detail)
			return r
		}
		plain.Disconnect()
		r.Refused = &ca
		return r
	}
	w.Drop()
	r.add("writer drops its connection without DISCONNECT", start, "dropped", "")
	start = time.Now()
	got, err := s.Wait(ctx, wait, canary)
	r.add(fmt.Sprintf("owner waits up to %s for the will", wait), start, fmt.Sprint(got), errString(err))
	if err != nil && !got {
		r.Error = fmt.Sprintf("the owner's connection failed while waiting for the will: %v", err)
		return r
	}
	if !got && !control(ctx, s, owner, &r.Trace) {
		r.SubscriberReady = false
	}
	_, r.Delivered = s.Has(canary)
	return r
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
