package identity

import (
	"context"
	"crypto/tls"
	"slices"
	"strings"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/probe/mqttclient"
	"github.com/pathrig/rig/rig/checks/probe/tlsprobe"
)

// Checks returns the identity family's check for the evaluator's registry.
func Checks() []check.Check { return []check.Check{identityCheck()} }

func identityCheck() check.Check {
	return check.Check{
		ID:       "identity",
		Title:    "MQTT identity",
		Controls: slices.Clone(Controls),
		Run:      run,
	}
}

// run maps the targets and limits onto the family's plain inputs, runs the controls the run
// selects and writes each one's evidence.
func run(ctx context.Context, env *check.Env) map[string]check.Outcome {
	reports := Run(ctx, input(env), func(control string) bool { return !env.Skipped(control) })
	outs := map[string]check.Outcome{}
	for _, ctl := range Controls {
		r, ok := reports[ctl]
		if !ok {
			outs[ctl] = check.Probe(env, ctl, func() check.Outcome { return check.Skip("not run") })
			continue
		}
		ev := check.NewEvidence(env, ctl)
		names := make([]string, 0, len(r.Files))
		for n := range r.Files {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			ev.JSON(n, r.Files[n])
		}
		for k, v := range r.Facts {
			ev.Fact(k, v)
		}
		outs[ctl] = ev.Outcome(r.Status, r.Observed, "%s", r.Reason)
	}
	return outs
}

// input is what the identity probes use: the probe endpoint (the TLS listener when named, where
// devices connect, else the plaintext one), the WebSocket listeners, the probe identities and the
// scenario's identity bounds.
func input(env *check.Env) Input {
	b := env.Targets.Broker
	// The identity probes judge who may connect as whom, not the broker's certificate (the CERT
	// controls do): like the other MQTT probes they offer TLS 1.0-1.3 and verify nothing.
	conf := func(addr string) *tls.Config {
		return tlsprobe.Config(addr, b.ServerName, tls.VersionTLS10, tls.VersionTLS13, nil)
	}
	in := Input{
		LockoutAttempts: env.Limits.LockoutAttempts,
		LockoutWindow:   env.Limits.LockoutWindow,
		WillWait:        env.Limits.WillWait,
		Timeout:         env.Limits.ProbeTimeout,
	}
	switch {
	case b.TLS != "":
		in.Endpoint = mqttclient.Endpoint{Label: "tls", Addr: b.TLS, TLS: conf(b.TLS)}
	case b.Plain != "":
		in.Endpoint = mqttclient.Endpoint{Label: "plain", Addr: b.Plain}
	}
	for _, u := range b.WebSocket {
		ep := mqttclient.Endpoint{Label: "websocket", URL: u}
		if rest, ok := strings.CutPrefix(u, "wss://"); ok {
			host, _, _ := strings.Cut(rest, "/")
			ep.TLS = conf(host)
		}
		in.WebSocket = append(in.WebSocket, ep)
	}
	for _, p := range env.Targets.Probes {
		in.Probes = append(in.Probes, Identity{Name: p.Name, ClientID: p.ClientID, Username: p.Username, Password: p.Password, Cert: p.Cert, Topic: p.Topic})
	}
	return in
}
