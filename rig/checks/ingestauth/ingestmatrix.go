package ingestauth

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/probe/httpprobe"
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
func ingestMatrixCheck() check.Check {
	return check.Check{
		ID:       "ingest-matrix",
		Title:    "Ingest status matrix",
		Controls: []string{ctlIngestOversize, ctlIngestOtherTenant, ctlIngestExpired, ctlIngestPlaintext},
		Run: func(ctx context.Context, env *check.Env) map[string]check.Outcome {
			in := env.Targets.Ingest
			if in.URL == "" {
				r := "no ingest URL named in the targets (ingest url); nothing to probe"
				return map[string]check.Outcome{ctlIngestOversize: check.Skip("%s", r), ctlIngestOtherTenant: check.Skip("%s", r), ctlIngestExpired: check.Skip("%s", r), ctlIngestPlaintext: check.Skip("%s", r)}
			}
			if len(in.Sample) == 0 {
				r := "no sample request body named in the targets (ingest sample): a refusal of an empty body would prove nothing"
				return map[string]check.Outcome{
					ctlIngestOversize:    {Status: record.StatusError, Reason: r},
					ctlIngestOtherTenant: {Status: record.StatusError, Reason: r},
					ctlIngestExpired:     {Status: record.StatusError, Reason: r},
					ctlIngestPlaintext:   {Status: record.StatusError, Reason: r},
				}
			}
			client := httpprobe.Client(in.Trust, env.Limits.ProbeTimeout)
			defer client.CloseIdleConnections()
			return map[string]check.Outcome{
				ctlIngestOversize:    probeOversize(ctx, env, client),
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

// probeOversize sends the sample at its own size, which the ingest must accept for the answer to
// the padded one to mean anything, then the padded one.
func probeOversize(ctx context.Context, env *check.Env, client *http.Client) check.Outcome {
	in := env.Targets.Ingest
	size := env.Limits.OversizeBytes
	cred := credNone
	if in.Token != "" {
		cred = credValid
	}
	ev := check.NewEvidence(env, ctlIngestOversize)
	obs := map[string]any{"oversize_bytes": size}
	base := postSample(ctx, client, in, cred, in.Token, env.Limits.ProbeTimeout)
	ev.JSON("request-sample.json", base)
	if base.Response != nil {
		obs["sample_status"] = base.Response.Status
	}
	if ingestAnswer(&base) == ingestNoAnswer {
		return ev.Outcome(record.StatusError, obs, "the sample request at its own size got no response: %s (nothing answered; check the ingest URL and that the ingest runs)", base.Error)
	}

	big := in
	big.Sample = oversizeBody(in.Sample, size)
	// Expect: 100-continue lets a server refuse on the headers alone, and the lenient connection
	// keeps a refusal that arrives while the body is still being written (see httpprobe.UploadClient).
	oc, conns := httpprobe.UploadClient(in.Trust, env.Limits.ProbeTimeout)
	defer oc.CloseIdleConnections()
	x := httpprobe.Post(ctx, oc, big.URL, big.Sample, cred, in.Token, env.Limits.ProbeTimeout, http.Header{"Expect": {"100-continue"}})
	x.Request.Body = "(the sample padded with whitespace to the oversize probe size)"
	if written, cut := conns.Cut(); cut != nil {
		x.BodyCutShort = fmt.Sprintf("the server stopped reading after %d bytes on the wire (%v)", written, cut)
	}
	ev.JSON("request-oversize.json", x)
	if x.Response != nil {
		obs["status"] = x.Response.Status
		ev.Fact("http.oversize", obs["status"])
	}
	switch sample := ingestAnswer(&base); {
	case x.Response != nil && httpprobe.Is2xx(x.Response.Status):
		return ev.Outcome(record.StatusFail, obs, "the ingest accepted a %d-byte body with %d: no request size limit", size, x.Response.Status)
	case sample == ingestRefused:
		return ev.Outcome(record.StatusError, obs, "the sample request was refused for its credential (%d) before any size was judged: name a valid ingest token", base.Response.Status)
	case sample == ingestBroken:
		return ev.Outcome(record.StatusError, obs, "the ingest answers the sample request at its own size with %d %s: it does not work for this request at all, so its answer to an oversize one proves nothing (check the URL and the sample)", base.Response.Status, http.StatusText(base.Response.Status))
	case x.Response == nil:
		return ev.Outcome(record.StatusError, obs, "the %d-byte request got no response: %s (a server that drops the connection instead of answering 413 cannot be told from a failure)", size, x.Error)
	}
	got := x.Response.Status
	switch {
	case got == http.StatusRequestEntityTooLarge:
		return ev.Outcome(record.StatusPass, obs, "the ingest accepted the sample with %d and refused a %d-byte body with 413", base.Response.Status, size)
	case got == http.StatusUnauthorized || got == http.StatusForbidden:
		return ev.Outcome(record.StatusError, obs, "the %d-byte request was refused for its credential (%d) although the sample with the same credential was accepted: the size was not judged", size, got)
	}
	return ev.Outcome(record.StatusFail, obs, "the ingest accepted the sample with %d but answered a %d-byte body with %d %s instead of 413: the limit, if any, is not reported as such", base.Response.Status, size, got, http.StatusText(got))
}

func probeOtherTenant(ctx context.Context, env *check.Env, client *http.Client) check.Outcome {
	in := env.Targets.Ingest
	if in.OtherTenantToken == "" {
		return check.Skip("no second tenant's token named in the targets (ingest other_tenant_token); cannot probe tenant isolation")
	}
	return probeRefusedToken(ctx, env, client, ctlIngestOtherTenant, in.OtherTenantToken, "other tenant's token", "request-other-tenant.json", "with another tenant's token for this tenant's device")
}

func probeExpired(ctx context.Context, env *check.Env, client *http.Client) check.Outcome {
	in := env.Targets.Ingest
	if in.ExpiredToken == "" {
		return check.Skip("no expired token named in the targets (ingest expired_token); cannot probe token expiry")
	}
	return probeRefusedToken(ctx, env, client, ctlIngestExpired, in.ExpiredToken, "expired token", "request-expired-token.json", "with an expired token")
}

// probeRefusedToken posts the sample with a token the ingest must refuse (401 or 403), beside a
// request with the valid token (when named) that shows the endpoint works.
func probeRefusedToken(ctx context.Context, env *check.Env, client *http.Client, control, token, label, file, phrase string) check.Outcome {
	in := env.Targets.Ingest
	ev := check.NewEvidence(env, control)
	var valid *httpprobe.Exchange
	if in.Token != "" {
		v := postSample(ctx, client, in, credValid, in.Token, env.Limits.ProbeTimeout)
		valid = &v
		ev.JSON("request-valid-token.json", v)
	}
	x := postSample(ctx, client, in, label, token, env.Limits.ProbeTimeout)
	ev.JSON(file, x)
	return judgeIngest(ev, valid, &x, map[int]bool{http.StatusUnauthorized: true, http.StatusForbidden: true}, phrase)
}

// probePlainIngest: an http URL is plaintext by definition; for an https URL, the same host and
// port are asked in plain HTTP. Either way the named URL must first answer the sample request as
// an ingest does (accepted, or refused for the credential): a refused connection or an ingest
// broken for everyone shows nothing about plaintext.
func probePlainIngest(ctx context.Context, env *check.Env, client *http.Client) check.Outcome {
	in := env.Targets.Ingest
	u, err := url.Parse(in.URL)
	if err != nil {
		return check.Outcome{Status: record.StatusError, Reason: "the ingest URL does not parse: " + err.Error()}
	}
	ev := check.NewEvidence(env, ctlIngestPlaintext)
	obs := map[string]any{"scheme": u.Scheme}
	ev.Fact("http.scheme", u.Scheme)
	cred := credNone
	if in.Token != "" {
		cred = credValid
	}
	named := postSample(ctx, client, in, cred, in.Token, env.Limits.ProbeTimeout)
	ev.JSON("request-named-url.json", named)
	switch ingestAnswer(&named) {
	case ingestNoAnswer:
		return ev.Outcome(record.StatusError, obs, "the ingest URL itself got no response: %s (nothing answered, so nothing shows whether plain HTTP reaches the ingest; check the URL and that the ingest runs)", named.Error)
	case ingestBroken:
		obs["named_status"] = named.Response.Status
		return ev.Outcome(record.StatusError, obs, "the ingest URL answers the sample request with %d %s: the ingest does not work for anyone at this URL, so plaintext reachability cannot be judged (check the URL)", named.Response.Status, http.StatusText(named.Response.Status))
	}
	obs["named_status"] = named.Response.Status
	if u.Scheme == "http" {
		return ev.Outcome(record.StatusFail, obs, "the named ingest URL is plain HTTP and the ingest answers there (%d): tokens and telemetry cross the network in clear text", named.Response.Status)
	}
	plain := *u
	plain.Scheme = "http"
	if plain.Port() == "" {
		plain.Host += ":443"
	}
	p := in
	p.URL = plain.String()
	x := postSample(ctx, client, p, credNone, "", env.Limits.ProbeTimeout)
	ev.JSON("request-plain-http.json", x)
	obs["plain_url"] = p.URL
	switch {
	case x.Response == nil:
		obs["plain"] = "no HTTP answer"
		ev.Fact("http.plaintext", obs["plain"])
		return ev.Outcome(record.StatusPass, obs, "the ingest answers over HTTPS (%d) and plain HTTP to %s got no HTTP answer (%s)", named.Response.Status, p.URL, x.Error)
	case x.Response.Status == http.StatusBadRequest && bytes.Contains([]byte(x.Response.Body), []byte("HTTPS")):
		obs["plain"] = "refused: HTTPS only"
		ev.Fact("http.plaintext", obs["plain"])
		return ev.Outcome(record.StatusPass, obs, "the ingest answers over HTTPS (%d) and plain HTTP to %s is refused (400: the server speaks HTTPS only)", named.Response.Status, p.URL)
	}
	obs["plain"] = x.Response.Status
	ev.Fact("http.plaintext", obs["plain"])
	return ev.Outcome(record.StatusFail, obs, "plain HTTP to %s is answered with %d: the ingest is reachable without TLS", p.URL, x.Response.Status)
}
