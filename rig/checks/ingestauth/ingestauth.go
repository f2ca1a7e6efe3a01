// Package ingestauth holds the ingest checks: ingest-auth (no credential, a wrong token) and
// ingest-matrix (oversize body, another tenant's token, an expired token, plaintext HTTP), each
// judged against a valid request that shows the ingest works.
package ingestauth

import (
	"context"
	"crypto/rand"
	"net/http"
	"strings"
	"time"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/probe"
	"github.com/pathrig/rig/rig/checks/probe/httpprobe"
	"github.com/pathrig/rig/rig/record"
)

const (
	ctlIngestUnauth    = "INGEST-UNAUTH"
	ctlIngestWrongCred = "INGEST-WRONGCRED"
)

// Checks returns the family's checks in registry order.
func Checks() []check.Check { return []check.Check{ingestAuthCheck(), ingestMatrixCheck()} }

func ingestAuthCheck() check.Check {
	return check.Check{
		ID:       "ingest-auth",
		Title:    "Ingest authentication",
		Controls: []string{ctlIngestUnauth, ctlIngestWrongCred},
		Run:      runIngestAuth,
	}
}

// The three requests of the status matrix. The Sample body is sent unchanged each time: the
// reference ingest is idempotent on (device, boot, seq), so a path that wrongly accepts the second
// or third copy stores nothing twice, and the verdicts rest on status codes alone.
const (
	credNone  = "none"
	credValid = "valid token"
	credWrong = "wrong token"
)

func runIngestAuth(ctx context.Context, env *check.Env) map[string]check.Outcome {
	in := env.Targets.Ingest
	if in.URL == "" {
		r := "no ingest URL named in the targets (ingest url); nothing to probe"
		return map[string]check.Outcome{ctlIngestUnauth: check.Skip("%s", r), ctlIngestWrongCred: check.Skip("%s", r)}
	}
	if len(in.Sample) == 0 {
		r := "no sample request body named in the targets (ingest sample): a refusal of an empty body would prove nothing"
		return map[string]check.Outcome{
			ctlIngestUnauth:    {Status: record.StatusError, Reason: r},
			ctlIngestWrongCred: {Status: record.StatusError, Reason: r},
		}
	}
	client := httpprobe.Client(in.Trust, env.Limits.ProbeTimeout)
	defer client.CloseIdleConnections()

	var valid *httpprobe.Exchange
	if in.Token != "" {
		x := postSample(ctx, client, in, credValid, in.Token, env.Limits.ProbeTimeout)
		valid = &x
	}
	none := postSample(ctx, client, in, credNone, "", env.Limits.ProbeTimeout)
	wrong := postSample(ctx, client, in, credWrong, wrongToken(in.Token), env.Limits.ProbeTimeout)

	for _, x := range []*httpprobe.Exchange{valid, &none, &wrong} {
		if x != nil {
			env.Log.Debug("ingest request", "credential", x.Credential, "url", in.URL, "status", httpprobe.Status(x), "error", x.Error)
		}
	}
	evU := check.NewEvidence(env, ctlIngestUnauth)
	evW := check.NewEvidence(env, ctlIngestWrongCred)
	if valid != nil {
		// The valid-token baseline backs both controls.
		evU.JSON("request-valid-token.json", valid)
		evW.Inherit(evU)
	}
	evU.JSON("request-no-credential.json", none)
	evW.JSON("request-wrong-token.json", wrong)

	return map[string]check.Outcome{
		ctlIngestUnauth:    judgeIngest(evU, valid, &none, map[int]bool{http.StatusUnauthorized: true}, "without a credential"),
		ctlIngestWrongCred: judgeIngest(evW, valid, &wrong, map[int]bool{http.StatusUnauthorized: true, http.StatusForbidden: true}, "with a wrong bearer token"),
	}
}

// wrongToken returns a bearer token the ingest never issued with the shape of the valid one, so
// that only a lookup of the token, not a check of its format, can refuse it: the same length,
// the same separators in the same places, and every other character replaced by a different one
// of its own class (a hex run stays hex, digits stay digits, letters keep their case). Short
// alphabetic labels beside the random part (the "tok" of "tok-3f9a…", "sk_live") are kept: they
// name a kind of token, not a secret. A JWT keeps its header and claims and gets another
// signature, which only a signature check refuses. Without a valid token there is no shape to
// copy: 32 random hex digits.
func wrongToken(valid string) string {
	if valid == "" {
		return probe.RandomHex(16)
	}
	if parts := strings.Split(valid, "."); len(parts) == 3 && strings.HasPrefix(parts[0], "eyJ") && parts[2] != "" {
		return parts[0] + "." + parts[1] + "." + mutateRun(parts[2])
	}
	runs := alnumRuns(valid)
	out := []byte(valid)
	mutated := false
	for _, r := range runs {
		if len(runs) > 1 && isLabel(valid[r[0]:r[1]]) {
			continue
		}
		copy(out[r[0]:r[1]], mutateRun(valid[r[0]:r[1]]))
		mutated = true
	}
	if !mutated { // only labels: change them all rather than send the valid token
		for _, r := range runs {
			copy(out[r[0]:r[1]], mutateRun(valid[r[0]:r[1]]))
		}
	}
	if string(out) == valid { // no letter or digit at all
		return probe.RandomHex(16)
	}
	return string(out)
}

// alnumRuns returns the [start, end) byte ranges of the runs of ASCII letters and digits in s.
func alnumRuns(s string) [][2]int {
	var runs [][2]int
	start := -1
	for i := 0; i <= len(s); i++ {
		in := i < len(s) && isAlnum(s[i])
		switch {
		case in && start < 0:
			start = i
		case !in && start >= 0:
			runs = append(runs, [2]int{start, i})
			start = -1
		}
	}
	return runs
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// isLabel: a short run of letters only, like "tok", "sk", "live", "Bearer".
func isLabel(run string) bool {
	if len(run) > 8 {
		return false
	}
	for i := 0; i < len(run); i++ {
		if c := run[i]; c >= '0' && c <= '9' {
			return false
		}
	}
	return true
}

const (
	digits   = "0123456789"
	hexLower = "0123456789abcdef"
	hexUpper = "0123456789ABCDEF"
	lower    = "abcdefghijklmnopqrstuvwxyz"
	upper    = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

// mutateRun replaces every character of a run of letters and digits with a different character
// of the run's alphabet: digits, lower- or upper-case hex when the run is hex, else the
// character's own class.
func mutateRun(run string) string {
	within := func(alphabet string) bool {
		for i := 0; i < len(run); i++ {
			if !strings.ContainsRune(alphabet, rune(run[i])) {
				return false
			}
		}
		return true
	}
	alphabet := ""
	switch {
	case within(digits):
		alphabet = digits
	case within(hexLower):
		alphabet = hexLower
	case within(hexUpper):
		alphabet = hexUpper
	}
	out := []byte(run)
	for i := range out {
		a := alphabet
		if a == "" {
			switch c := out[i]; {
			case c >= '0' && c <= '9':
				a = digits
			case c >= 'a' && c <= 'z':
				a = lower
			case c >= 'A' && c <= 'Z':
				a = upper
			default:
				continue // not in a run; kept
			}
		}
		out[i] = otherThan(a, out[i])
	}
	return string(out)
}

// otherThan picks a random character of alphabet other than c.
func otherThan(alphabet string, c byte) byte {
	for {
		b := alphabet[randomIndex(len(alphabet))]
		if b != c {
			return b
		}
	}
}

// randomIndex returns a uniform random index below n (n at most 256).
func randomIndex(n int) int {
	var b [1]byte
	for {
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		if int(b[0]) < 256-256%n {
			return int(b[0]) % n
		}
	}
}

// Kinds of answer to the sample request, for a control that needs the ingest to work before its
// own probe means anything.
const (
	ingestNoAnswer = "no answer" // nothing answered: refused, reset, timed out, TLS failed
	ingestBroken   = "broken"    // an answer nobody gets past: 404, 405, 5xx, or the valid sample refused as such
	ingestRefused  = "refused"   // 401 or 403: an ingest that wants another credential
	ingestAccepted = "accepted"  // 2xx
)

// ingestAnswer classifies the answer to the sample request. Only refused and accepted show an
// ingest at work; no answer and broken are a target nobody could use, about which a refusal or
// an acceptance of a probe proves nothing.
func ingestAnswer(x *httpprobe.Exchange) string {
	switch {
	case x.Response == nil:
		return ingestNoAnswer
	case httpprobe.Is2xx(x.Response.Status):
		return ingestAccepted
	case x.Response.Status == http.StatusUnauthorized || x.Response.Status == http.StatusForbidden:
		return ingestRefused
	}
	return ingestBroken
}

// judgeIngest decides one control from its probe and the valid-token baseline. An accepted probe
// is a finding whatever the baseline says; a refusal only counts once a valid request is known to
// work, otherwise a broken request would pass for a guarded endpoint.
func judgeIngest(ev *check.EvidenceSet, valid, probe *httpprobe.Exchange, want map[int]bool, what string) check.Outcome {
	obs := map[string]any{}
	baseline := 0
	if valid != nil && valid.Response != nil {
		baseline = valid.Response.Status
		obs["valid_token_status"] = baseline
		ev.Fact(credentialFact(valid.Credential), baseline)
		serverFact(ev, valid)
	}
	if probe.Response == nil {
		return ev.Outcome(record.StatusError, obs, "the request %s got no response: %s (check the ingest URL and that the ingest runs)", what, probe.Error)
	}
	got := probe.Response.Status
	obs["probe_status"] = got
	ev.Fact(credentialFact(probe.Credential), got)
	serverFact(ev, probe)
	if httpprobe.Is2xx(got) {
		return ev.Outcome(record.StatusFail, obs, "the ingest accepted a request %s with %d %s", what, got, http.StatusText(got))
	}
	switch {
	case valid == nil:
		return ev.Outcome(record.StatusError, obs, "the request %s got %d, but no valid token is named in the targets (ingest token), so a working request could not be established and the refusal proves nothing", what, got)
	case valid.Response == nil:
		return ev.Outcome(record.StatusError, obs, "could not establish a working request: the valid-token request got no response (%s)", valid.Error)
	case !httpprobe.Is2xx(baseline):
		return ev.Outcome(record.StatusError, obs, "could not establish a working request: the valid-token request got %d %s (check the token and the sample body)", baseline, http.StatusText(baseline))
	case want[got]:
		return ev.Outcome(record.StatusPass, obs, "the request %s got %d while the valid token got %d", what, got, baseline)
	case got == http.StatusForbidden:
		// 403 is still a refusal: a finding of low weight, not a pass, since clients are told
		// "forbidden" where they should be asked to authenticate.
		o := ev.Outcome(record.StatusFail, obs, "the request %s got 403 instead of 401 (a missing credential should be answered 401 with WWW-Authenticate)", what)
		o.Severity = record.SeverityLow
		return o
	}
	return ev.Outcome(record.StatusError, obs, "the request %s got %d %s, which is neither a refusal nor an acceptance", what, got, http.StatusText(got))
}

// postSample POSTs the sample body with the given credential and records the exchange.
func postSample(ctx context.Context, client *http.Client, in check.Ingest, cred, token string, timeout time.Duration) httpprobe.Exchange {
	return httpprobe.Post(ctx, client, in.URL, in.Sample, cred, token, timeout, nil)
}

// credentialFact is the fact name of the ingest's answer to one credential of the status matrix.
func credentialFact(credential string) string {
	return "http.status." + strings.NewReplacer(" ", "_", "-", "_").Replace(strings.ToLower(credential))
}

// serverFact records the ingest's Server header, which names its software (and often its
// version) when the ingest sends one.
func serverFact(ev *check.EvidenceSet, x *httpprobe.Exchange) {
	if x == nil || x.Response == nil {
		return
	}
	for k, v := range x.Response.Headers {
		if strings.EqualFold(k, "Server") && v != "" {
			ev.Fact("http.server", v)
		}
	}
}
