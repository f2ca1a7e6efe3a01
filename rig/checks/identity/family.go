// Package identity owns the identity family of checks: whether one identity can take over
// another's session through its client id, whether repeated failed logins lock an identity out,
// whether retained messages and Last Wills obey the topic ACL, whether an MQTT 5 client meets the
// same authentication and ACL as an MQTT 3.1.1 one, and whether WebSocket listeners enforce the
// rules of the TLS listener.
//
// The probes speak MQTT through the rig's own session (rig/checks/probe/mqttclient), so the
// evidence holds the exact reason codes and CONNACK properties a broker answered. Every sequence
// takes plain parameters (endpoints, identities, bounds) and returns what it observed; the
// verdicts are taken from those observations.
package identity

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/pathrig/rig/rig/checks/probe/mqttclient"
	"github.com/pathrig/rig/rig/record"
)

// Identity is a device identity the probes connect as.
type Identity struct {
	Name     string           // label in evidence (probe-a)
	ClientID string           // its MQTT client id
	Username string           // may be empty
	Password string           // may be empty; secret, never in evidence
	Cert     *tls.Certificate // client certificate for mTLS; may be nil
	Topic    string           // a topic it may publish to and read (its own)
}

// The controls of the identity family.
const (
	CtlTakeover  = "IDENT-TAKEOVER"
	CtlLockout   = "IDENT-LOCKOUT"
	CtlRetainACL = "IDENT-RETAIN-ACL"
	CtlWillACL   = "IDENT-WILL-ACL"
	CtlMQTT5     = "IDENT-MQTT5"
	CtlWebSocket = "IDENT-WEBSOCKET"
)

// Controls lists the family's controls in the order they run: the lockout last, because it
// locks an identity for a window it then waits out.
var Controls = []string{CtlTakeover, CtlRetainACL, CtlWillACL, CtlMQTT5, CtlWebSocket, CtlLockout}

// Defaults of the scenario's identity: block when a caller leaves a bound at zero.
const (
	DefaultLockoutAttempts = 5
	DefaultLockoutWindow   = 2 * time.Second
	DefaultWillWait        = time.Second
)

// Input is everything the family probes with, as plain values: the caller maps its targets and
// bounds onto it.
type Input struct {
	// Endpoint is where devices connect: the TLS listener when one is named, else the plaintext one.
	Endpoint mqttclient.Endpoint
	// WebSocket lists the WebSocket listeners to hold to the rules.
	WebSocket []mqttclient.Endpoint
	// Probes are the device identities: the first is the victim, writer and probing identity, the
	// second the other device (attacker, topic owner, observer); the last one is locked out.
	Probes          []Identity
	LockoutAttempts int
	LockoutWindow   time.Duration
	WillWait        time.Duration
	Timeout         time.Duration // one connection or exchange
}

// Report is one control's verdict and the evidence files behind it (name → JSON value).
type Report struct {
	Verdict
	Files map[string]any
}

func skipReport(format string, args ...any) Report {
	return Report{Verdict: Verdict{Status: record.StatusSkip, Reason: fmt.Sprintf(format, args...)}}
}

// Run probes every control run(control) selects and returns its report. A control whose input is
// not named is skipped with the reason.
func Run(ctx context.Context, in Input, run func(control string) bool) map[string]Report {
	if in.LockoutAttempts <= 0 {
		in.LockoutAttempts = DefaultLockoutAttempts
	}
	if in.LockoutWindow <= 0 {
		in.LockoutWindow = DefaultLockoutWindow
	}
	if in.WillWait <= 0 {
		in.WillWait = DefaultWillWait
	}
	out := map[string]Report{}
	noBroker := in.Endpoint.Addr == ""
	two := len(in.Probes) >= 2
	for _, ctl := range Controls {
		if !run(ctl) {
			continue
		}
		switch {
		case ctx.Err() != nil:
			out[ctl] = Report{Verdict: Verdict{Status: record.StatusError, Reason: fmt.Sprintf("not run: %v", ctx.Err())}}
			continue
		case noBroker && ctl != CtlWebSocket:
			out[ctl] = skipReport("no broker endpoint named in the targets (broker plain, broker tls); nothing to probe")
			continue
		}
		out[ctl] = runOne(ctx, in, ctl, two)
	}
	return out
}

func runOne(ctx context.Context, in Input, ctl string, two bool) Report {
	t := in.Timeout
	var a, b Identity
	if len(in.Probes) > 0 {
		a = in.Probes[0]
	}
	if two {
		b = in.Probes[1]
	}
	switch ctl {
	case CtlTakeover:
		if !two {
			return skipReport("needs two probe identities (targets.probes): one whose session a second one tries to take over")
		}
		r := Takeover(ctx, in.Endpoint, a, b, t)
		return Report{TakeoverVerdict(r), map[string]any{"takeover.json": r}}
	case CtlRetainACL, CtlWillACL:
		if !two || b.Topic == "" {
			return skipReport("needs two probe identities, the second with a topic of its own (targets.probes[1].topic): the topic the first may not write")
		}
		if ctl == CtlRetainACL {
			r := RetainACL(ctx, in.Endpoint, a, b, t)
			return Report{RetainVerdict(r), map[string]any{"retained.json": r}}
		}
		r := WillACL(ctx, in.Endpoint, a, b, in.WillWait, t)
		return Report{WillVerdict(r, in.WillWait.String()), map[string]any{"will.json": r}}
	case CtlMQTT5:
		if len(in.Probes) == 0 {
			return skipReport("no probe identity named in the targets (probes)")
		}
		v3 := Door(ctx, in.Endpoint, in.Endpoint, 4, a, b, t)
		v5 := Door(ctx, in.Endpoint, in.Endpoint, 5, a, b, t)
		return Report{MQTT5Verdict(v3, v5), map[string]any{"mqtt311.json": v3, "mqtt5.json": v5}}
	case CtlWebSocket:
		switch {
		case len(in.WebSocket) == 0:
			return skipReport("no WebSocket listener named in the targets (broker websocket: ws:// or wss:// URLs)")
		case len(in.Probes) == 0:
			return skipReport("no probe identity named in the targets (probes)")
		}
		return webSocketReport(ctx, in, a, b)
	case CtlLockout:
		id := in.Probes[len(in.Probes)-1:]
		switch {
		case len(id) == 0:
			return skipReport("no probe identity named in the targets (probes)")
		case id[0].Password == "":
			return skipReport("probe identity %q has no password (targets.probes[].password): failed logins cannot be told from right ones", id[0].Name)
		}
		r := Lockout(ctx, in.Endpoint, id[0], in.LockoutAttempts, in.LockoutWindow, t)
		return Report{LockoutVerdict(r), map[string]any{"lockout.json": r}}
	}
	return Report{Verdict: Verdict{Status: record.StatusError, Reason: "unknown control " + ctl + " (a rig defect)"}}
}

// webSocketReport probes every WebSocket listener; the worst verdict is the control's.
func webSocketReport(ctx context.Context, in Input, a, b Identity) Report {
	observe := in.Endpoint
	files := map[string]any{}
	var worst Verdict
	rank := map[record.Status]int{record.StatusPass: 1, record.StatusError: 2, record.StatusFail: 3}
	listeners := map[string]any{}
	for i, ep := range in.WebSocket {
		if observe.Addr == "" {
			observe = ep
		}
		d := Door(ctx, ep, observe, 4, a, b, in.Timeout)
		v := WebSocketVerdict(fmt.Sprintf("WebSocket listener %d (%s)", i+1, strings.SplitN(ep.URL, "://", 2)[0]), ep.URL, d)
		files[fmt.Sprintf("websocket-%d.json", i+1)] = d
		listeners[fmt.Sprint(i+1)] = map[string]any{"status": v.Status, "seen": v.Observed["seen"], "scheme": v.Observed["scheme"]}
		if rank[v.Status] > rank[worst.Status] {
			worst = v
		}
	}
	if len(in.WebSocket) > 1 {
		worst.Observed = map[string]any{"listeners": listeners}
	}
	return Report{worst, files}
}
