package identity

import (
	"fmt"
	"strings"

	"github.com/pathrig/rig/rig/checks/probe/mqttclient"
	"github.com/pathrig/rig/rig/record"
)

// Verdict is a control's status and reason as taken from one sequence's observations, with the
// values a report shows (Observed) and the configuration facts compared between runs (Facts).
type Verdict struct {
	Status   record.Status
	Reason   string
	Observed map[string]any
	Facts    map[string]any
}

func verdict(st record.Status, obs, facts map[string]any, format string, args ...any) Verdict {
	return Verdict{Status: st, Reason: fmt.Sprintf(format, args...), Observed: obs, Facts: facts}
}

func how(c mqttclient.Connack) string {
	switch {
	case c.Code != nil:
		return fmt.Sprintf("%s, CONNACK 0x%02x (%s)", c.Answer, *c.Code, c.Detail)
	case c.Detail != "":
		return c.Answer + ": " + c.Detail
	}
	return c.Answer
}

// TakeoverVerdict: pass when the victim's session survives a second identity's CONNECT with its
// client id; fail when that CONNECT ended it.
func TakeoverVerdict(r TakeoverResult) Verdict {
	obs := map[string]any{"client_id": r.ClientID, "second_identity": r.Attacker, "second_connect": r.Attempt.Answer, "victim_session": "survived"}
	facts := map[string]any{"mqtt.client_id_takeover": "refused"}
	switch {
	case !r.VictimConnected:
		return verdict(record.StatusError, nil, nil, "%s (check its credentials and the broker address)", r.Error)
	case r.VictimUnknown:
		obs["victim_session"] = "unknown"
		return verdict(record.StatusError, obs, nil, "%s", r.Error)
	case r.Attempt.Unanswered() && r.VictimSurvived:
		obs["victim_session"] = "survived"
		return verdict(record.StatusError, obs, nil, "identity %q's CONNECT with client id %q got no answer (%s): cannot tell whether the broker would hand it the session", r.Attacker, r.ClientID, how(r.Attempt))
	case !r.VictimSurvived:
		obs["victim_session"] = "ended"
		facts["mqtt.client_id_takeover"] = "taken"
		if r.Attempt.Accepted() {
			return verdict(record.StatusFail, obs, facts, "identity %q connected with identity %q's client id %q and the broker ended %q's session: any identity can take over a device's session and knock it off the broker", r.Attacker, r.Victim, r.ClientID, r.Victim)
		}
		return verdict(record.StatusFail, obs, facts, "the broker refused identity %q's CONNECT with client id %q (%s) but still ended identity %q's session", r.Attacker, r.ClientID, how(r.Attempt), r.Victim)
	case r.Attempt.Accepted():
		facts["mqtt.client_id_takeover"] = "reassigned"
		return verdict(record.StatusPass, obs, facts, "identity %q's CONNECT with client id %q was accepted but identity %q's session survived it: the broker gave the second connection a client id of its own (as Mosquitto's use_username_as_clientid does)", r.Attacker, r.ClientID, r.Victim)
	}
	return verdict(record.StatusPass, obs, facts, "the broker refused identity %q's CONNECT with identity %q's client id %q (%s) and %q's session survived", r.Attacker, r.Victim, r.ClientID, how(r.Attempt), r.Victim)
}

// LockoutVerdict: pass when the right password is refused after the failed logins.
func LockoutVerdict(r LockoutResult) Verdict {
	obs := map[string]any{"identity": r.Identity, "failed_logins": r.Attempts, "window": r.Window, "wrong_password_accepted": r.WrongAccepted, "after_failures": r.AfterFailures.Answer}
	if r.Released != nil {
		obs["released_after_window"] = *r.Released
	}
	facts := map[string]any{"mqtt.lockout": "locks"}
	switch {
	case r.Error != "":
		return verdict(record.StatusError, obs, nil, "%s", r.Error)
	case r.WrongAccepted > 0:
		facts["mqtt.lockout"] = "no-password-check"
		return verdict(record.StatusFail, obs, facts, "the broker accepted %d of %d CONNECTs of identity %q with a wrong password: passwords are not checked, so nothing limits guessing them", r.WrongAccepted, r.Attempts, r.Identity)
	case r.WrongUnanswered > 0:
		return verdict(record.StatusError, obs, nil, "%d of %d wrong-password CONNECTs got no answer: cannot tell how the broker treats failed logins", r.WrongUnanswered, r.Attempts)
	case r.AfterFailures.Accepted():
		facts["mqtt.lockout"] = "none"
		return verdict(record.StatusFail, obs, facts, "after %d failed logins of identity %q the right password was accepted at once: repeated guesses are not locked out", r.Attempts, r.Identity)
	case r.AfterFailures.Unanswered():
		return verdict(record.StatusError, obs, nil, "the CONNECT with the right password after %d failures got no answer (%s)", r.Attempts, how(r.AfterFailures))
	}
	release := "the identity was not accepted again after the window (the broker locks for longer than the scenario's identity.lockout_window, or for good)"
	if r.Released != nil && *r.Released {
		release = "it was accepted again after the " + r.Window + " window"
	}
	return verdict(record.StatusPass, obs, facts, "after %d failed logins the broker refused identity %q's right password (%s); %s", r.Attempts, r.Identity, how(r.AfterFailures), release)
}

// RetainVerdict: pass when a retained message on a topic the writer may not write is neither
// delivered nor stored.
func RetainVerdict(r DeliveryResult) Verdict {
	obs := map[string]any{"writer": r.Writer, "topic": r.Topic, "delivered": r.Delivered, "stored": r.Retained}
	facts := map[string]any{"mqtt.retain_acl": "enforced"}
	switch {
	case r.Error != "":
		return verdict(record.StatusError, obs, nil, "%s", r.Error)
	case r.Retained:
		facts["mqtt.retain_acl"] = "stored"
		cleared := "the probe removed it again"
		if r.Cleared == nil || !*r.Cleared {
			cleared = "the probe could NOT remove it: clear the retained message on " + r.Topic + " by hand"
		}
		return verdict(record.StatusFail, obs, facts, "the broker stored identity %q's retained message on %s, a topic it may not write, and served it to the topic's owner %q on a new subscription (%s)", r.Writer, r.Topic, r.Owner, cleared)
	case r.Delivered:
		facts["mqtt.retain_acl"] = "delivered"
		return verdict(record.StatusFail, obs, facts, "the broker delivered identity %q's retained message on %s, a topic it may not write, to the topic's owner %q", r.Writer, r.Topic, r.Owner)
	case !r.SubscriberReady:
		return verdict(record.StatusError, obs, nil, "identity %q's own control message on %s did not come back: its subscription shows nothing", r.Owner, r.Topic)
	}
	return verdict(record.StatusPass, obs, facts, "identity %q's retained message on %s (identity %q's topic) was neither delivered nor stored, while %q's own messages there were", r.Writer, r.Topic, r.Owner, r.Owner)
}

// WillVerdict: pass when a Last Will on a topic the writer may not publish to never arrives.
func WillVerdict(r DeliveryResult, wait string) Verdict {
	obs := map[string]any{"writer": r.Writer, "topic": r.Topic, "delivered": r.Delivered, "refused_at_connect": r.Refused != nil, "wait": wait}
	facts := map[string]any{"mqtt.will_acl": "enforced"}
	switch {
	case r.Error != "":
		return verdict(record.StatusError, obs, nil, "%s", r.Error)
	case r.Delivered:
		facts["mqtt.will_acl"] = "delivered"
		return verdict(record.StatusFail, obs, facts, "when identity %q dropped its connection the broker published its Last Will on %s, identity %q's topic, which %q may not publish to", r.Writer, r.Topic, r.Owner, r.Writer)
	case r.Refused != nil:
		facts["mqtt.will_acl"] = "refused-at-connect"
		return verdict(record.StatusPass, obs, facts, "the broker refused identity %q's CONNECT carrying a Last Will on %s (%s) and accepted the same identity without it", r.Writer, r.Topic, how(*r.Refused))
	case !r.SubscriberReady:
		return verdict(record.StatusError, obs, nil, "identity %q's own control message on %s did not come back: its subscription shows nothing", r.Owner, r.Topic)
	}
	return verdict(record.StatusPass, obs, facts, "identity %q's Last Will on %s (identity %q's topic) did not arrive within %s of the dropped connection, while %q's own messages did", r.Writer, r.Topic, r.Owner, wait, r.Owner)
}

// MQTT5Verdict compares the MQTT 5 door with the MQTT 3.1.1 one on the same listener.
func MQTT5Verdict(v3, v5 DoorResult) Verdict {
	obs := map[string]any{"mqtt311": doorSeen(v3), "mqtt5": doorSeen(v5)}
	if p := v5.Seen.Identity.Properties; len(p) > 0 {
		obs["connack_properties"] = p
	}
	facts := map[string]any{"mqtt.v5": "same-rules"}
	if c := v5.Seen.Identity; c.Answer == mqttclient.AnswerRefused && c.Code != nil && (*c.Code == 0x01 || *c.Code == 0x84) {
		facts["mqtt.v5"] = "unsupported"
		return verdict(record.StatusPass, obs, facts, "the broker refuses MQTT 5 (%s): there is no MQTT 5 door to hold to the 3.1.1 rules", how(c))
	}
	switch {
	case v3.Error != "":
		return verdict(record.StatusError, obs, nil, "MQTT 3.1.1 baseline: %s", v3.Error)
	case v5.Error != "":
		return verdict(record.StatusError, obs, nil, "MQTT 5: %s", v5.Error)
	case !v3.Seen.Enforces():
		return verdict(record.StatusSkip, obs, nil, "MQTT 3.1.1 itself admits anonymous clients and wrong passwords and delivers cross-device publishes (GUARD-ANON, GUARD-PUB-OTHER report it): there is no rule for MQTT 5 to bypass")
	}
	if gaps := Gaps(v3.Seen, v5.Seen); len(gaps) > 0 {
		facts["mqtt.v5"] = "bypass"
		obs["gaps"] = gaps
		var s []string
		for _, g := range gaps {
			s = append(s, fmt.Sprintf("%s: 3.1.1 %s, 5 %s", g.Rule, g.First, g.Second))
		}
		return verdict(record.StatusFail, obs, facts, "an MQTT 5 client gets through where an MQTT 3.1.1 client is stopped (%s)", strings.Join(s, "; "))
	}
	return verdict(record.StatusPass, obs, facts, "an MQTT 5 client meets the rules an MQTT 3.1.1 client does (anonymous %s, wrong password %s, publish to another device's topic %s)",
		v5.Seen.Anonymous.Answer, v5.Seen.WrongPassword.Answer, deliveredWord(v5.Seen.PublishOther))
}

// WebSocketVerdict holds one WebSocket listener to the rules: anonymous and wrong-password
// CONNECTs refused, another device's topic out of reach, and TLS under it. name labels it in the
// reason ("WebSocket listener 1 (wss)"): the URL, whose port changes from run to run on the
// reference stack, stays in the evidence.
func WebSocketVerdict(name, url string, ws DoorResult) Verdict {
	scheme := strings.SplitN(url, "://", 2)[0]
	obs := map[string]any{"scheme": scheme, "seen": doorSeen(ws)}
	facts := map[string]any{}
	key := "mqtt.websocket." + scheme
	// What got through is a finding even when the identity's own session failed afterwards.
	if ws.Error != "" && !ws.Seen.AnonymousIn() && !ws.Seen.WrongIn() {
		return verdict(record.StatusError, obs, nil, "%s: %s", name, ws.Error)
	}
	var bad []string
	if ws.Seen.AnonymousIn() {
		bad = append(bad, "it admits anonymous clients")
	}
	if ws.Seen.WrongIn() {
		bad = append(bad, "it admits a wrong password")
	}
	if ws.Seen.OtherIn() {
		bad = append(bad, "it delivers an identity's publish on another device's topic")
	}
	if scheme == "ws" {
		bad = append(bad, "it is plain ws:// (credentials and telemetry in clear)")
	}
	if len(bad) > 0 {
		facts[key] = "bypass"
		return verdict(record.StatusFail, obs, facts, "%s does not hold the broker's rules: %s", name, strings.Join(bad, "; "))
	}
	if ws.Seen.PublishOther == nil {
		return verdict(record.StatusError, obs, nil, "%s refused anonymous and wrong-password clients, but the ACL could not be shown (the observer's control message did not come back)", name)
	}
	facts[key] = "enforced"
	return verdict(record.StatusPass, obs, facts, "%s runs over TLS, refuses anonymous (%s) and wrong-password (%s) clients and keeps another device's topic out of reach", name, ws.Seen.Anonymous.Answer, ws.Seen.WrongPassword.Answer)
}

func deliveredWord(b *bool) string {
	switch {
	case b == nil:
		return "not probed"
	case *b:
		return "delivered"
	}
	return "not delivered"
}

func doorSeen(d DoorResult) map[string]any {
	return map[string]any{
		"anonymous":      d.Seen.Anonymous.Answer,
		"wrong_password": d.Seen.WrongPassword.Answer,
		"identity":       d.Seen.Identity.Answer,
		"publish_other":  deliveredWord(d.Seen.PublishOther),
	}
}
