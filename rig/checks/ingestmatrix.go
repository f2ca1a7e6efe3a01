package checks

import (
	"bytes"
	"context"
	"net/http"
	"net/url"

	"github.com/pathrig/rig/rig/record"
)

const (
	ctlIngestOversize    = "INGEST-OVERSIZE"
	ctlIngestOtherTenant = "INGEST-OTHER-TENANT"
	ctlIngestPlaintext   = "INGEST-PLAINTEXT"
	ctlIngestExpired     = "INGEST-EXPIRED"
)

// ingestMatrixCheck completes ingest-auth's status matrix: oversize bodies, another tenant's
// credential, plaintext HTTP.
func ingestMatrixCheck() Check {
	return Check{
		ID:       "ingest-matrix",
		Title:    "Ingest status matrix",
		Controls: []string{ctlIngestOversize, ctlIngestOtherTenant, ctlIngestExpired, ctlIngestPlaintext},
		Run: func(ctx context.Context, env *Env) map[string]Outcome {
			in := env.Targets.Ingest
			if in.URL == "" {
				r := "no ingest URL named in the targets (ingest url); nothing to probe"
				return map[string]Outcome{ctlIngestOversize: skip("%s", r), ctlIngestOtherTenant: skip("%s", r), ctlIngestExpired: skip("%s", r), ctlIngestPlaintext: skip("%s", r)}
			}
			if len(in.Sample) == 0 {
				r := "no sample request body named in the targets (ingest sample): a refusal of an empty body would prove nothing"
				return map[string]Outcome{
					ctlIngestOversize:    {Status: record.StatusError, Reason: r},
					ctlIngestOtherTenant: {Status: record.StatusError, Reason: r},
					ctlIngestExpired:     {Status: record.StatusError, Reason: r},
					ctlIngestPlaintext:   {Status: record.StatusError, Reason: r},
				}
			}
			client := probeHTTPClient(in, env.Limits.ProbeTimeout)
			defer client.CloseIdleConnections()
			return map[string]Outcome{
				ctlIngestOversize:    probeOversize(ctx, env),
				ctlIngestOtherTenant: probeOtherTenant(ctx, env, client),
				ctlIngestExpired:     probeExpired(ctx, env, client),
				ctlIngestPlaintext:   probePlainIngest(ctx, env, client),
			}
		},
	}
}

// oversizeBody is the sample followed by JSON whitespace up to n bytes: still the same valid
// document, so only its size can be the reason for a refusal.
func oversizeBody(sample []byte, n int) []byte {
	if len(sample) >= n {
		return sample
	}
	return append(bytes.Clone(sample), bytes.Repeat([]byte{' '}, n-len(sample))...)
}

func probeOversize(ctx context.Context, env *Env) Outcome {
	in := env.Targets.Ingest
	size := env.Limits.OversizeBytes
	big := in
	big.Sample = oversizeBody(in.Sample, size)
	cred := credNone
	if in.Token != "" {
		cred = credValid
	}
	// Expect: 100-continue lets a server refuse on the headers alone: without it, a server that
	// answers 413 and closes races the body still being written, and the client may see only a
	// reset connection.
	oc := probeHTTPClient(in, env.Limits.ProbeTimeout)
	oc.Transport.(*http.Transport).ExpectContinueTimeout = env.Limits.ProbeTimeout
	defer oc.CloseIdleConnections()
	x := postSampleWith(ctx, oc, big, cred, in.Token, env.Limits.ProbeTimeout, http.Header{"Expect": {"100-continue"}})
	x.Request.Body = "(the sample padded with whitespace to the oversize probe size)"
	ev := newEvidence(env, ctlIngestOversize)
	ev.json("request-oversize.json", x)
	obs := map[string]any{"oversize_bytes": size}
	if x.Response == nil {
		return ev.outcome(record.StatusError, obs, "the %d-byte request got no response: %s (a server that drops the connection instead of answering 413 cannot be told from a failure)", size, x.Error)
	}
	got := x.Response.Status
	obs["status"] = got
	switch {
	case got == http.StatusRequestEntityTooLarge:
		return ev.outcome(record.StatusPass, obs, "the ingest refused a %d-byte body with 413", size)
	case is2xx(got):
		return ev.outcome(record.StatusFail, obs, "the ingest accepted a %d-byte body with %d: no request size limit", size, got)
	case got == http.StatusUnauthorized || got == http.StatusForbidden:
		return ev.outcome(record.StatusError, obs, "the %d-byte request was refused for its credential (%d) before its size was judged: name a valid ingest token", size, got)
	}
	return ev.outcome(record.StatusFail, obs, "the ingest answered a %d-byte body with %d %s instead of 413: the limit, if any, is not reported as such", size, got, http.StatusText(got))
}

func probeOtherTenant(ctx context.Context, env *Env, client *http.Client) Outcome {
	in := env.Targets.Ingest
	if in.OtherTenantToken == "" {
		return skip("no second tenant's token named in the targets (ingest other_tenant_token); cannot probe tenant isolation")
	}
	return probeRefusedToken(ctx, env, client, ctlIngestOtherTenant, in.OtherTenantToken, "other tenant's token", "request-other-tenant.json", "with another tenant's token for this tenant's device")
}

func probeExpired(ctx context.Context, env *Env, client *http.Client) Outcome {
	in := env.Targets.Ingest
	if in.ExpiredToken == "" {
		return skip("no expired token named in the targets (ingest expired_token); cannot probe token expiry")
	}
	return probeRefusedToken(ctx, env, client, ctlIngestExpired, in.ExpiredToken, "expired token", "request-expired-token.json", "with an expired token")
}

// probeRefusedToken posts the sample with a token the ingest must refuse (401 or 403), beside a
// request with the valid token (when named) that shows the endpoint works.
func probeRefusedToken(ctx context.Context, env *Env, client *http.Client, control, token, label, file, phrase string) Outcome {
	in := env.Targets.Ingest
	ev := newEvidence(env, control)
	var valid *httpExchange
	if in.Token != "" {
		v := postSample(ctx, client, in, credValid, in.Token, env.Limits.ProbeTimeout)
		valid = &v
		ev.json("request-valid-token.json", v)
	}
	x := postSample(ctx, client, in, label, token, env.Limits.ProbeTimeout)
	ev.json(file, x)
	return judgeIngest(ev, valid, &x, map[int]bool{http.StatusUnauthorized: true, http.StatusForbidden: true}, phrase)
}

// probePlainIngest: an http URL is plaintext by definition; for an https URL, the same host and
// port are asked in plain HTTP.
func probePlainIngest(ctx context.Context, env *Env, client *http.Client) Outcome {
	in := env.Targets.Ingest
	u, err := url.Parse(in.URL)
	if err != nil {
		return Outcome{Status: record.StatusError, Reason: "the ingest URL does not parse: " + err.Error()}
	}
	ev := newEvidence(env, ctlIngestPlaintext)
	if u.Scheme == "http" {
		return ev.outcome(record.StatusFail, map[string]any{"scheme": "http"}, "the named ingest URL is plain HTTP: tokens and telemetry cross the network in clear text")
	}
	plain := *u
	plain.Scheme = "http"
	if plain.Port() == "" {
		plain.Host += ":443"
	}
	p := in
	p.URL = plain.String()
	x := postSample(ctx, client, p, credNone, "", env.Limits.ProbeTimeout)
	ev.json("request-plain-http.json", x)
	obs := map[string]any{"scheme": "https", "plain_url": p.URL}
	switch {
	case x.Response == nil:
		obs["plain"] = "no HTTP answer"
		return ev.outcome(record.StatusPass, obs, "plain HTTP to %s got no HTTP answer (%s)", p.URL, x.Error)
	case x.Response.Status == http.StatusBadRequest && bytes.Contains([]byte(x.Response.Body), []byte("HTTPS")):
		obs["plain"] = "refused: HTTPS only"
		return ev.outcome(record.StatusPass, obs, "plain HTTP to %s is refused (400: the server speaks HTTPS only)", p.URL)
	}
	obs["plain"] = x.Response.Status
	return ev.outcome(record.StatusFail, obs, "plain HTTP to %s is answered with %d: the ingest is reachable without TLS", p.URL, x.Response.Status)
}
