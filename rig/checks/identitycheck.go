package checks

import (
	"context"
	"crypto/tls"
	"slices"

	"github.com/pathrig/rig/rig/checks/identity"
	"github.com/pathrig/rig/rig/record"
)

// identityCheck is the identity family (rig/checks/identity): client id takeover, failed-login
// lockout, retained messages and Last Wills under the ACL, MQTT 5 against 3.1.1, and WebSocket
// listeners. It maps the targets and limits onto the family's plain inputs.
func identityCheck() Check {
	return Check{
		ID:       "identity",
		Title:    "MQTT identity",
		Controls: slices.Clone(identity.Controls),
		Run: func(ctx context.Context, env *Env) map[string]Outcome {
			in := identityInput(env)
			reports := identity.Run(ctx, in, func(control string) bool { return !env.skipped(control) })
			outs := map[string]Outcome{}
			for _, ctl := range identity.Controls {
				r, ok := reports[ctl]
				if !ok {
					outs[ctl] = Outcome{Status: record.StatusSkip, Reason: SkippedReason}
					continue
				}
				ev := newEvidence(env, ctl)
				names := make([]string, 0, len(r.Files))
				for n := range r.Files {
					names = append(names, n)
				}
				slices.Sort(names)
				for _, n := range names {
					ev.json(n, r.Files[n])
				}
				for k, v := range r.Facts {
					ev.fact(k, v)
				}
				outs[ctl] = ev.outcome(r.Status, r.Observed, "%s", r.Reason)
			}
			return outs
		},
	}
}

// identityInput is what the identity probes use: the probe endpoint (TLS when named), the
// WebSocket listeners, the probe identities and the scenario's bounds.
func identityInput(env *Env) identity.Input {
	b := env.Targets.Broker
	addr, useTLS := probeEndpoint(b)
	conf := func(addr string) *tls.Config {
		// The identity probes judge who may connect as whom, not the broker's certificate (the
		// CERT controls do): they verify nothing, as the other MQTT probes.
		return probeTLSConfig(addr, b.ServerName, tls.VersionTLS10, tls.VersionTLS13, nil)
	}
	in := identity.Input{
		LockoutAttempts: env.Limits.LockoutAttempts,
		LockoutWindow:   env.Limits.LockoutWindow,
		WillWait:        env.Limits.WillWait,
		Timeout:         env.Limits.ProbeTimeout,
	}
	if addr != "" {
		in.Endpoint = identity.Endpoint{Label: endpointLabel(useTLS), Addr: addr}
		if useTLS {
			in.Endpoint.TLS = conf(addr)
		}
	}
	for _, u := range b.WebSocket {
		ep := identity.Endpoint{Label: "websocket", URL: u}
		if len(u) > 6 && u[:6] == "wss://" {
			ep.TLS = conf(hostOf(u))
		}
		in.WebSocket = append(in.WebSocket, ep)
	}
	for _, p := range env.Targets.Probes {
		in.Probes = append(in.Probes, identity.Identity{Name: p.Name, ClientID: p.ClientID, Username: p.Username, Password: p.Password, Cert: p.Cert, Topic: p.Topic})
	}
	return in
}

// hostOf returns host:port of a ws:// or wss:// URL, for the SNI rule of probeTLSConfig.
func hostOf(u string) string {
	for _, p := range []string{"wss://", "ws://"} {
		if len(u) > len(p) && u[:len(p)] == p {
			u = u[len(p):]
		}
	}
	for i := 0; i < len(u); i++ {
		if u[i] == '/' {
			return u[:i]
		}
	}
	return u
}
