package guardrails

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/probe"
	"github.com/pathrig/rig/rig/checks/probe/httpprobe"
	"github.com/pathrig/rig/rig/checks/probe/tlsprobe"
	"github.com/pathrig/rig/rig/record"
)

const ctlGuardMgmt = "GUARD-MGMT"

// debugPaths are asked on the origin of every named management URL: the usual unauthenticated
// debug and metrics endpoints of Go, Node and embedded web servers.
var debugPaths = []string{"/debug/pprof/", "/debug/vars", "/metrics"}

// maxMgmtURLs bounds the probe.
const maxMgmtURLs = 8

type mgmtAnswer struct {
	URL    string `json:"url"`
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
}

// probeMgmt asks every named management URL, and the usual debug paths beside it, without any
// credential. A 2xx is an open management or debug surface.
func probeMgmt(ctx context.Context, env *check.Env) check.Outcome {
	named := env.Targets.Management
	if len(named) == 0 {
		return check.Skip("no management or debug endpoint named in the targets (management); the rig's reference gateway serves none")
	}
	if len(named) > maxMgmtURLs {
		named = named[:maxMgmtURLs]
	}
	ev := check.NewEvidence(env, ctlGuardMgmt)
	client := &http.Client{
		Timeout:       env.Limits.ProbeTimeout,
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true, TLSClientConfig: tlsprobe.Config("", "", 0x0301, 0x0304, nil)},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	var asked []string
	seen := map[string]bool{}
	for _, n := range named {
		u, err := url.Parse(n)
		if err != nil || u.Host == "" {
			continue
		}
		for _, p := range append([]string{u.String()}, debugURLs(u)...) {
			if !seen[p] {
				seen[p] = true
				asked = append(asked, p)
			}
		}
	}
	var answers []mgmtAnswer
	var open, unsure []string
	reached := 0
	for _, a := range asked {
		ans := mgmtAnswer{URL: a}
		pctx, cancel := probe.Context(ctx, env.Limits.ProbeTimeout)
		req, _ := http.NewRequestWithContext(pctx, http.MethodGet, a, nil)
		req.Header.Set("User-Agent", "rig-checks/guardrails-depth")
		resp, err := client.Do(req)
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			ans.Error = "connection refused"
		case err != nil:
			ans.Error = err.Error()
			unsure = append(unsure, a)
		default:
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
			ans.Status = resp.StatusCode
			reached++
			if httpprobe.Is2xx(resp.StatusCode) {
				open = append(open, fmt.Sprintf("%s (%d)", a, resp.StatusCode))
			}
		}
		cancel()
		answers = append(answers, ans)
	}
	ev.JSON("requests.json", map[string]any{"asked_at": time.Now().UTC(), "answers": answers})
	obs := map[string]any{"asked": len(asked), "open": len(open)}
	switch {
	case len(open) > 0:
		return ev.Outcome(record.StatusFail, obs, "management or debug endpoints answer without any credential: %s", strings.Join(open, ", "))
	case len(unsure) > 0:
		return ev.Outcome(record.StatusError, obs, "could not get an answer from %s: cannot tell whether they are open", strings.Join(unsure, ", "))
	}
	return ev.Outcome(record.StatusPass, obs, "none of %d management and debug URLs answers without a credential (%d answered 401/403/404 or similar, the rest refused the connection)", len(asked), reached)
}

func debugURLs(u *url.URL) []string {
	var out []string
	for _, p := range debugPaths {
		d := *u
		d.Path, d.RawQuery, d.Fragment = p, "", ""
		out = append(out, d.String())
	}
	return out
}
