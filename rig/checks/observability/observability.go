// Package observability is the observability check family: whether the path records what
// happens to it (security events of the broker, the ingest and the gateway), who can read its
// metrics, whether its logs, metrics or $SYS topics hold a credential, whether a silent device
// raises an alert and whether gateway clock skew is detected.
package observability

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/probe"
	"github.com/pathrig/rig/rig/checks/probe/httpprobe"
	"github.com/pathrig/rig/rig/checks/probe/mqttclient"
	"github.com/pathrig/rig/rig/checks/probe/obsprobe"
	"github.com/pathrig/rig/rig/checks/probe/uartprobe"
	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/secevent"
)

// The observability check: whether the path records what happens to it. Each event control
// injects one event of its kind, marked so that it can be told from the path's own traffic, and
// looks for it in the log the targets name, within a catalog bound; the metrics, secrets, gap
// and clock controls read the metrics and alerts endpoints and the logs the same way. The check
// never reads the profile: a log, an endpoint or a device it is not given is a skip.
const (
	ctlObsAuth    = "OBS-AUTH-EVENTS"
	ctlObsACL     = "OBS-ACL-EVENTS"
	ctlObsIngest  = "OBS-INGEST-EVENTS"
	ctlObsUART    = "OBS-UART-EVENTS"
	ctlObsMetrics = "OBS-METRICS-AUTH"
	ctlObsSecrets = "OBS-LOG-SECRETS"
	ctlObsGap     = "OBS-GAP-ALERT"
	ctlObsClock   = "OBS-CLOCK"
)

// Checks returns the family: one check.
func Checks() []check.Check { return []check.Check{observabilityCheck()} }

func observabilityCheck() check.Check {
	within := []string{"event_within_ms"}
	return check.Check{
		ID:       "observability",
		Title:    "Observability: security events, metrics access, secrets in logs, gap alert, clock skew",
		Controls: []string{ctlObsAuth, ctlObsACL, ctlObsIngest, ctlObsUART, ctlObsMetrics, ctlObsGap, ctlObsClock, ctlObsSecrets},
		Thresholds: map[string][]string{
			ctlObsAuth: within, ctlObsACL: within, ctlObsIngest: within, ctlObsUART: within,
			ctlObsSecrets: {"sys_read_ms"},
			ctlObsClock:   {"injected_skew_s", "detect_within_ms"},
		},
		Run: runObservability,
	}
}

func runObservability(ctx context.Context, env *check.Env) map[string]check.Outcome {
	o := &obsRun{env: env}
	outs := map[string]check.Outcome{}
	var mu sync.Mutex
	run := func(controls []string, probes ...func(context.Context) check.Outcome) func() {
		return func() {
			for i, control := range controls {
				out := check.Probe(env, control, func() check.Outcome { return probes[i](ctx) })
				mu.Lock()
				outs[control] = out
				mu.Unlock()
			}
		}
	}
	// A miss is declared only after the whole bound, so the probes that do not disturb each
	// other wait side by side. Within a lane they run in turn: the broker's refusals and denials
	// (a Mosquitto refusal is tied to its probe by the latest connection line, so no other CONNECT
	// may come between), and the clock before the gap (a silent device sends nothing to skew).
	var wg sync.WaitGroup
	for _, lane := range []func(){
		run([]string{ctlObsAuth, ctlObsACL, ctlObsMetrics}, o.authEvents, o.aclEvents, o.metricsAuth),
		run([]string{ctlObsIngest}, o.ingestEvents),
		run([]string{ctlObsUART}, o.uartEvents),
		run([]string{ctlObsClock, ctlObsGap}, o.clock, o.gapAlert),
	} {
		wg.Add(1)
		go func() { defer wg.Done(); lane() }()
	}
	wg.Wait()
	// Last: it searches everything the other probes made the path write.
	outs[ctlObsSecrets] = check.Probe(env, ctlObsSecrets, func() check.Outcome { return o.secrets(ctx) })
	return outs
}

// obsRun carries what the probes of one run share: the credentials they used, for the secret
// search.
type obsRun struct {
	env  *check.Env
	mu   sync.Mutex // guards used: the probes run side by side
	used []obsprobe.Secret
}

func (o *obsRun) use(label, user, value string) {
	if value != "" {
		o.mu.Lock()
		o.used = append(o.used, obsprobe.Secret{Label: label, User: user, Value: value})
		o.mu.Unlock()
	}
}

// eventLog is one watched log: where, from which offset, attributed to which service.
type eventLog struct {
	path, source string
	mark         int64
}

func markLog(path, source string) (eventLog, error) {
	m, err := obsprobe.Mark(path)
	return eventLog{path: path, source: source, mark: m}, err
}

// await polls the log until an event matching one of wants is read or within has passed. The
// verdict never races the service: a miss is only declared after the whole bound.
func (l eventLog) await(ctx context.Context, within time.Duration, wants ...obsprobe.Want) (obsprobe.Log, *secevent.Event, error) {
	deadline := time.Now().Add(within)
	var last obsprobe.Log
	for {
		// A log that does not exist yet is waited for: the service may create it with its
		// first event.
		if _, serr := os.Stat(l.path); !errors.Is(serr, fs.ErrNotExist) {
			got, err := obsprobe.Read(l.path, l.mark, obsprobe.MaxLogRead, l.source)
			if err != nil {
				return last, nil, err
			}
			last = got
			for _, w := range wants {
				if e, ok := obsprobe.Match(got.Events, w); ok {
					return got, &e, nil
				}
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return last, nil, ctx.Err()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logSummary is what the evidence keeps of a log read: never its raw bytes (they may hold
// what OBS-LOG-SECRETS looks for), only the events and counts.
func logSummary(l obsprobe.Log, matched *secevent.Event) map[string]any {
	return map[string]any{"path": l.Path, "from_offset": l.From, "bytes_read": l.Bytes, "lines": l.Lines, "format": l.Format,
		"unparsed_lines": l.Unparsed, "events_read": len(l.Events), "events": l.Events[:min(len(l.Events), 50)], "matched": matched}
}

// eventVerdict turns a wait into the verdict of an event control.
func eventVerdict(ev *check.EvidenceSet, what, logName string, l obsprobe.Log, e *secevent.Event, err error, within time.Duration, obs map[string]any) check.Outcome {
	ev.JSON("log.json", logSummary(l, e))
	if err != nil && e == nil {
		return ev.Outcome(record.StatusError, obs, "could not read %s %s: %v", logName, l.Path, err)
	}
	obs["event_found"] = e != nil
	if e == nil {
		return ev.Outcome(record.StatusFail, obs, "%s was not recorded in %s within %s (%d lines read after the injection, %d security events, format %s)",
			what, logName, within, l.Lines, len(l.Events), l.Format)
	}
	// Times, addresses and marker names change every run: they stay in log.json, out of the
	// result, so that two runs compare.
	obs["event_source"], obs["event_outcome"] = e.Source, e.Outcome
	return ev.Outcome(record.StatusPass, obs, "%s was recorded in %s: a %s event of the %s with its time, %s and outcome %s (log.json)",
		what, logName, e.Kind, e.Source, who(e), e.Outcome)
}

// who says what an event names of its subject.
func who(e *secevent.Event) string {
	switch {
	case e.Identity != "" && e.Remote != "":
		return "identity, address"
	case e.Identity != "":
		return "identity"
	case e.Remote != "":
		return "address"
	}
	return "no identity"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// maxSysMessages bounds the $SYS messages read for credentials (a broker publishes a few dozen).
const maxSysMessages = 2000

func msThreshold(env *check.Env, control, key string) time.Duration {
	return time.Duration(env.Threshold(control, key)) * time.Millisecond
}

// login connects to the listener at addr as the broker's authentication sees a probe: MQTT
// 3.1.1, a clean session, the given client id and credentials. The certificate is not judged
// here (the transport and certificate checks do): the probe only needs the broker to read its
// CONNECT. A probe identity's client certificate is presented when there is one, so that a broker
// requiring one lets the CONNECT through to authentication. The endpoint is returned for errors
// that name it.
func (o *obsRun) login(ctx context.Context, addr string, useTLS bool, clientID, user, password string) (*mqttclient.Client, mqttclient.Connack, mqttclient.Endpoint) {
	ep := mqttclient.Endpoint{Label: "plain", Addr: addr}
	var cert *tls.Certificate
	if useTLS {
		ep = mqttclient.Endpoint{Label: "tls", Addr: addr,
			TLS: &tls.Config{ServerName: o.env.Targets.Broker.ServerName, InsecureSkipVerify: true}} //nolint:gosec // reaching authentication, not judging the certificate
		if len(o.env.Targets.Probes) > 0 {
			cert = o.env.Targets.Probes[0].Cert
		}
	}
	c, ca := mqttclient.Connect(ctx, ep, mqttclient.ConnectOpts{Version: 4, ClientID: clientID, Username: user, Password: password, Cert: cert}, o.env.Limits.ProbeTimeout)
	return c, ca, ep
}

// authEvents sends a CONNECT with a marker identity and a wrong password and looks for its
// refusal in the broker's log.
func (o *obsRun) authEvents(ctx context.Context) check.Outcome {
	env := o.env
	obs := env.Targets.Observability
	addr, useTLS := probeEndpoint(env.Targets.Broker)
	switch {
	case obs.BrokerLog == "":
		return check.Skip("no broker security log named (targets.observability.broker_log): nowhere to look for a failed login")
	case addr == "":
		return check.Skip("no broker endpoint named: no failed login can be injected")
	}
	ev := check.NewEvidence(env, ctlObsAuth)
	within := msThreshold(env, ctlObsAuth, "event_within_ms")
	log, err := markLog(obs.BrokerLog, "broker")
	if err != nil {
		return ev.Outcome(record.StatusError, nil, "broker log: %v", err)
	}
	marker, wrong := "rig-obs-"+probe.RandomHex(6), "rig-obs-wrong-"+probe.RandomHex(10)
	env.Evidence.AddSecret(wrong)
	o.use("marker wrong password", marker, wrong)
	since := time.Now()
	c, ca, ep := o.login(ctx, addr, useTLS, marker, marker, wrong)
	c.Disconnect()
	inj := map[string]any{"endpoint": addr, "tls": useTLS, "marker_identity": marker, "password": "a wrong one (redacted)", "started": since.UTC()}
	if err := ca.Err(ep); err != nil {
		inj["error"] = err.Error()
		ev.JSON("injection.json", inj)
		return ev.Outcome(record.StatusError, nil, "the failed login could not be injected: nothing answered in MQTT (%v)", err)
	}
	rc := *ca.Code
	inj["local_address"], inj["connack_return_code"] = ca.Local, rc
	ev.JSON("injection.json", inj)
	res := map[string]any{"connack": int(rc), "within_ms": within.Milliseconds()}
	if ca.Accepted() {
		return ev.Outcome(record.StatusFail, res, "the broker accepted a CONNECT with a wrong password for a marker identity (injection.json): it authenticates nothing, so no failed login is ever recorded (see GUARD-ANON)")
	}
	l, e, err := log.await(ctx, within, obsprobe.Want{Kind: secevent.AuthFailure, Identity: marker, Remote: ca.Local, Since: since, Slack: time.Second})
	return eventVerdict(ev, fmt.Sprintf("the refused login of a marker identity (CONNACK %d)", rc), "the broker log", l, e, err, within, res)
}

// aclEvents has a probe identity subscribe to # and publish to another device's topic, and
// looks for the ACL's refusal in the broker's log.
func (o *obsRun) aclEvents(ctx context.Context) check.Outcome {
	env := o.env
	obs := env.Targets.Observability
	addr, useTLS := probeEndpoint(env.Targets.Broker)
	switch {
	case obs.BrokerLog == "":
		return check.Skip("no broker security log named (targets.observability.broker_log): nowhere to look for an ACL denial")
	case addr == "":
		return check.Skip("no broker endpoint named: no ACL denial can be injected")
	case len(env.Targets.Probes) == 0:
		return check.Skip("no probe identity named (targets.probes): an ACL denial needs an authenticated client")
	}
	id := env.Targets.Probes[0]
	ev := check.NewEvidence(env, ctlObsACL)
	within := msThreshold(env, ctlObsACL, "event_within_ms")
	log, err := markLog(obs.BrokerLog, "broker")
	if err != nil {
		return ev.Outcome(record.StatusError, nil, "broker log: %v", err)
	}
	o.use(id.Name+" password", id.Username, id.Password)
	clientID := id.ClientID
	if clientID == "" {
		clientID = "rig-obs-" + probe.RandomHex(6)
	}
	since := time.Now()
	c, ca, ep := o.login(ctx, addr, useTLS, clientID, id.Username, id.Password)
	if err := ca.Err(ep); err != nil {
		return ev.Outcome(record.StatusError, nil, "nothing answered in MQTT: %v", err)
	}
	defer c.Disconnect()
	if !ca.Accepted() {
		return ev.Outcome(record.StatusError, map[string]any{"connack": int(*ca.Code)}, "the probe identity %s was refused (CONNACK %d): no ACL decision can be injected", id.Name, *ca.Code)
	}
	code, err := c.Subscribe("#", 0)
	inj := map[string]any{"endpoint": addr, "identity": id.Name, "client_id": clientID, "local_address": ca.Local, "subscribe": "#", "suback": code, "started": since.UTC()}
	if err != nil {
		inj["error"] = err.Error()
		ev.JSON("injection.json", inj)
		return ev.Outcome(record.StatusError, nil, "no SUBACK for #: %v", err)
	}
	if len(env.Targets.Probes) > 1 && env.Targets.Probes[1].Topic != "" {
		inj["publish"] = env.Targets.Probes[1].Topic
		_, _ = c.Publish(env.Targets.Probes[1].Topic, []byte("rig-obs acl probe"), 0, false)
	}
	ev.JSON("injection.json", inj)
	res := map[string]any{"suback": int(code), "within_ms": within.Milliseconds()}
	if code != 0x80 {
		return ev.Outcome(record.StatusFail, res, "the broker granted # to %s (SUBACK %#x): its ACL refuses nothing, so no denial is ever recorded (see GUARD-SUB-WILDCARD)", id.Name, code)
	}
	wants := []obsprobe.Want{{Kind: secevent.ACLDeny, Remote: ca.Local, Since: since, Slack: time.Second}}
	for _, who := range []string{id.Username, clientID} {
		if who != "" {
			wants = append(wants, obsprobe.Want{Kind: secevent.ACLDeny, Identity: who, Since: since, Slack: time.Second})
		}
	}
	l, e, err := log.await(ctx, within, wants...)
	return eventVerdict(ev, fmt.Sprintf("the ACL's refusal of %s's subscription to #", id.Name), "the broker log", l, e, err, within, res)
}

// ingestEvents sends the ingest a request it must refuse (a wrong bearer token, a body that is
// not a record) and looks for the refusal, by the probe's own address, in the ingest's log.
func (o *obsRun) ingestEvents(ctx context.Context) check.Outcome {
	env := o.env
	obs := env.Targets.Observability
	switch {
	case obs.IngestLog == "":
		return check.Skip("no ingest security log named (targets.observability.ingest_log): nowhere to look for a refused request")
	case env.Targets.Ingest.URL == "":
		return check.Skip("no ingest URL named: no refused request can be injected")
	}
	ev := check.NewEvidence(env, ctlObsIngest)
	within := msThreshold(env, ctlObsIngest, "event_within_ms")
	log, err := markLog(obs.IngestLog, "ingest")
	if err != nil {
		return ev.Outcome(record.StatusError, nil, "ingest log: %v", err)
	}
	marker := "rig-obs-" + probe.RandomHex(6)
	pctx, cancel := probe.Context(ctx, env.Limits.ProbeTimeout)
	defer cancel()
	var local string
	pctx = httptrace.WithClientTrace(pctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { local = i.Conn.LocalAddr().String() }})
	req, err := http.NewRequestWithContext(pctx, http.MethodPost, env.Targets.Ingest.URL, strings.NewReader(`{"rig_probe":"`+marker+`"}`))
	if err != nil {
		return ev.Outcome(record.StatusError, nil, "ingest URL %s: %v", env.Targets.Ingest.URL, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer rig-obs-invalid-"+probe.RandomHex(8))
	since := time.Now()
	resp, err := httpprobe.Client(env.Targets.Ingest.Trust, env.Limits.ProbeTimeout).Do(req)
	inj := map[string]any{"url": env.Targets.Ingest.URL, "marker": marker, "request": "POST, an invalid bearer token, a body that is not a telemetry record", "started": since.UTC()}
	if err != nil {
		inj["error"] = err.Error()
		ev.JSON("injection.json", inj)
		return ev.Outcome(record.StatusError, nil, "the ingest did not answer: %v", err)
	}
	resp.Body.Close()
	inj["status"], inj["local_address"] = resp.StatusCode, local
	ev.JSON("injection.json", inj)
	res := map[string]any{"status": resp.StatusCode, "within_ms": within.Milliseconds()}
	if resp.StatusCode < 400 {
		return ev.Outcome(record.StatusFail, res, "the ingest accepted (%d) a request with an invalid token and a body that is not a record: nothing was refused to record", resp.StatusCode)
	}
	l, e, err := log.await(ctx, within, obsprobe.Want{Kind: secevent.IngestRefused, Remote: local, Since: since, Slack: time.Second})
	return eventVerdict(ev, fmt.Sprintf("the refused request (%d)", resp.StatusCode), "the ingest log", l, e, err, within, res)
}

// uartEvents writes one malformed frame on the device's UART and looks for it in the gateway's
// log.
func (o *obsRun) uartEvents(ctx context.Context) check.Outcome {
	env := o.env
	obs := env.Targets.Observability
	switch {
	case obs.GatewayLog == "":
		return check.Skip("no gateway security log named (targets.observability.gateway_log): nowhere to look for a malformed frame")
	case env.UART == nil:
		return check.Skip("no access to the device's UART in this run: no malformed frame can be injected")
	}
	ev := check.NewEvidence(env, ctlObsUART)
	within := msThreshold(env, ctlObsUART, "event_within_ms")
	log, err := markLog(obs.GatewayLog, "gateway")
	if err != nil {
		return ev.Outcome(record.StatusError, nil, "gateway log: %v", err)
	}
	frame := uartprobe.MalformedFrames()[0]
	_, bad0 := env.UART.Frames()
	since := time.Now()
	err = env.UART.Inject(ctx, frame)
	if errors.Is(err, check.ErrNoUART) {
		return check.Skip("%v: no malformed frame can be injected in this run", err)
	}
	inj := map[string]any{"frame_hex": fmt.Sprintf("% x", frame), "started": since.UTC()}
	if err != nil {
		inj["error"] = err.Error()
		ev.JSON("injection.json", inj)
		return ev.Outcome(record.StatusError, nil, "could not write onto the UART: %v", err)
	}
	l, e, werr := log.await(ctx, within, obsprobe.Want{Kind: secevent.UARTMalformed, Since: since, Slack: time.Second})
	_, bad1 := env.UART.Frames()
	inj["gateway_rejected"] = bad1 - bad0
	ev.JSON("injection.json", inj)
	res := map[string]any{"gateway_rejected": bad1 - bad0, "within_ms": within.Milliseconds()}
	return eventVerdict(ev, "the malformed device frame", "the gateway log", l, e, werr, within, res)
}

// metricsAuth reads every metrics URL without credentials (it must be refused) and with the
// named ones (it must serve metrics).
func (o *obsRun) metricsAuth(ctx context.Context) check.Outcome {
	env := o.env
	obs := env.Targets.Observability
	if len(obs.Metrics) == 0 {
		return check.Skip("no metrics endpoint named (targets.observability.metrics)")
	}
	ev := check.NewEvidence(env, ctlObsMetrics)
	creds := obsprobe.Credentials{User: obs.MetricsUser, Password: obs.MetricsPassword, Token: obs.MetricsToken}
	client := obsHTTPClient(env)
	type row struct {
		Anonymous     obsprobe.Response  `json:"anonymous"`
		Authenticated *obsprobe.Response `json:"authenticated,omitempty"`
		Families      int                `json:"metric_families"`
		Error         string             `json:"error,omitempty"`
	}
	var rows []row
	var open, errs, unproven, served []string
	for _, u := range obs.Metrics {
		pctx, cancel := probe.Context(ctx, env.Limits.ProbeTimeout)
		anon, err := obsprobe.Get(pctx, client, u, obsprobe.Credentials{})
		cancel()
		r := row{Anonymous: anon}
		if err != nil {
			r.Error = err.Error()
			rows = append(rows, r)
			errs = append(errs, fmt.Sprintf("%s: %v", endpointName(u), err))
			continue
		}
		if anon.Status < 300 {
			if m, perr := obsprobe.ParseMetrics(anon.Body); perr == nil {
				r.Families = len(m.Families)
			}
			open = append(open, fmt.Sprintf("%s (%d, %d metric families to anyone)", endpointName(u), anon.Status, r.Families))
			rows = append(rows, r)
			continue
		}
		if creds.None() {
			unproven = append(unproven, endpointName(u))
			rows = append(rows, r)
			continue
		}
		pctx, cancel = probe.Context(ctx, env.Limits.ProbeTimeout)
		auth, err := obsprobe.Get(pctx, client, u, creds)
		cancel()
		r.Authenticated = &auth
		switch {
		case err != nil:
			r.Error = err.Error()
			errs = append(errs, fmt.Sprintf("%s with credentials: %v", endpointName(u), err))
		case auth.Status != http.StatusOK:
			errs = append(errs, fmt.Sprintf("%s refused the named credential too (%d): check targets.observability's credential", endpointName(u), auth.Status))
		default:
			m, perr := obsprobe.ParseMetrics(auth.Body)
			if perr != nil {
				errs = append(errs, fmt.Sprintf("%s with credentials: %v", endpointName(u), perr))
			} else {
				r.Families = len(m.Families)
				served = append(served, fmt.Sprintf("%s (anonymous %d, authenticated 200 with %d metric families)", endpointName(u), anon.Status, r.Families))
			}
		}
		rows = append(rows, r)
	}
	ev.JSON("requests.json", rows)
	res := map[string]any{"endpoints": len(obs.Metrics), "open": len(open), "protected": len(served)}
	switch {
	case len(open) > 0:
		return ev.Outcome(record.StatusFail, res, "metrics served without credentials: %s", strings.Join(open, "; "))
	case len(errs) > 0:
		return ev.Outcome(record.StatusError, res, "%s", strings.Join(errs, "; "))
	case len(unproven) > 0:
		return check.Skip("%s refused an anonymous request, but no metrics credential is named (targets.observability.metrics_token or metrics_user/metrics_password) to show it serves metrics to its readers", strings.Join(unproven, ", "))
	}
	return ev.Outcome(record.StatusPass, res, "every metrics endpoint refuses an anonymous request and serves metrics with the credential: %s", strings.Join(served, "; "))
}

// endpointName is how a result names a URL: its path, since hosts and ports of the reference
// path change every run (requests.json keeps the whole URL).
func endpointName(u string) string {
	if p, err := url.Parse(u); err == nil && p.Path != "" {
		return p.Path
	}
	return u
}

func obsHTTPClient(env *check.Env) *http.Client {
	return httpprobe.Client(env.Targets.Ingest.Trust, env.Limits.ProbeTimeout)
}

// gapAlert silences the device and waits, up to the scenario's bound, for an active alert that
// names it on the alerts endpoint or a device-silent event in the gateway's log.
func (o *obsRun) gapAlert(ctx context.Context) check.Outcome {
	env := o.env
	obs := env.Targets.Observability
	switch {
	case obs.Alerts == "" && obs.GatewayLog == "":
		return check.Skip("neither an alerts endpoint (targets.observability.alerts) nor a gateway log is named: nowhere to see a gap alert")
	case env.Device == nil:
		return check.Skip("the rig cannot silence the device in this run (only a device behind the rig's relay can be told to stop sending)")
	}
	ev := check.NewEvidence(env, ctlObsGap)
	within := env.Limits.AlertWithin
	dev := env.Device.DeviceName()
	var log *eventLog
	if obs.GatewayLog != "" {
		l, err := markLog(obs.GatewayLog, "gateway")
		if err != nil {
			return ev.Outcome(record.StatusError, nil, "gateway log: %v", err)
		}
		log = &l
	}
	creds := obsprobe.Credentials{User: obs.MetricsUser, Password: obs.MetricsPassword, Token: obs.MetricsToken}
	client := obsHTTPClient(env)
	resume, err := env.Device.Silence(ctx)
	if err != nil {
		return ev.Outcome(record.StatusError, nil, "could not silence the device: %v", err)
	}
	since := time.Now()
	var alert *obsprobe.Alert
	var event *secevent.Event
	var polls, alertErrs int
	var lastAlertErr string
	deadline := since.Add(within)
	for alert == nil && event == nil && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
		polls++
		if obs.Alerts != "" {
			pctx, cancel := probe.Context(ctx, env.Limits.ProbeTimeout)
			r, err := obsprobe.Get(pctx, client, obs.Alerts, creds)
			cancel()
			if err == nil && r.Status == http.StatusOK {
				if al, perr := obsprobe.ParseAlerts(r.Body); perr == nil {
					if a, ok := obsprobe.FindAlert(al, dev); ok {
						alert = &a
					}
				} else {
					alertErrs, lastAlertErr = alertErrs+1, perr.Error()
				}
			} else {
				alertErrs++
				if err != nil {
					lastAlertErr = err.Error()
				} else {
					lastAlertErr = fmt.Sprintf("status %d", r.Status)
				}
			}
		}
		if log != nil {
			if got, err := obsprobe.Read(log.path, log.mark, obsprobe.MaxLogRead, "gateway"); err == nil {
				if e, ok := obsprobe.Match(got.Events, obsprobe.Want{Kind: secevent.DeviceSilent, Since: since, Slack: time.Second}); ok {
					event = &e
				}
			}
		}
	}
	took := time.Since(since)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	resumeErr := resume(rctx)
	cancel()
	rec := map[string]any{"device": dev, "silenced_at": since.UTC(), "bound_ms": within.Milliseconds(), "polls": polls, "waited_ms": took.Milliseconds(),
		"alerts_endpoint": obs.Alerts, "gateway_log": obs.GatewayLog, "alert": alert, "event": event, "alert_read_errors": alertErrs, "last_alert_read_error": lastAlertErr}
	if resumeErr != nil {
		rec["resume_error"] = resumeErr.Error()
	}
	ev.JSON("silence.json", rec)
	res := map[string]any{"bound_ms": within.Milliseconds(), "alert_raised": alert != nil || event != nil}
	switch {
	case resumeErr != nil:
		return ev.Outcome(record.StatusError, res, "the device could not be made to send again after the silence: %v", resumeErr)
	case alert != nil:
		return ev.Outcome(record.StatusPass, res, "the device's silence raised alert %s naming it within the scenario's bound of %s (silence.json)", orDash(alert.Name), within)
	case event != nil:
		return ev.Outcome(record.StatusPass, res, "the device's silence raised a %s event in the gateway log within the scenario's bound of %s (silence.json)", event.Kind, within)
	case obs.Alerts != "" && alertErrs == polls && log == nil:
		return ev.Outcome(record.StatusError, res, "the alerts endpoint %s could not be read (%s)", endpointName(obs.Alerts), lastAlertErr)
	}
	return ev.Outcome(record.StatusFail, res, "the device was silent for the scenario's bound of %s and no alert or device-silent event named it (silence.json)", within)
}

// clock skews the gateway's clock past any sane bound and looks for a clock-skew event in the
// named logs within the catalog's bound.
func (o *obsRun) clock(ctx context.Context) check.Outcome {
	env := o.env
	obs := env.Targets.Observability
	var logs []eventLog
	for _, l := range []struct{ path, source string }{{obs.IngestLog, "ingest"}, {obs.GatewayLog, "gateway"}} {
		if l.path == "" {
			continue
		}
		m, err := markLog(l.path, l.source)
		if err != nil {
			return check.Outcome{Status: record.StatusError, Reason: fmt.Sprintf("%s log: %v", l.source, err)}
		}
		logs = append(logs, m)
	}
	switch {
	case len(logs) == 0:
		return check.Skip("no ingest or gateway log named: nowhere to see clock skew reported")
	case env.Clock == nil:
		return check.Skip("the rig cannot skew the gateway's clock in this run (a gateway the rig does not run)")
	}
	ev := check.NewEvidence(env, ctlObsClock)
	skew := time.Duration(env.Threshold(ctlObsClock, "injected_skew_s")) * time.Second
	within := msThreshold(env, ctlObsClock, "detect_within_ms")
	restore, err := env.Clock.SkewGateway(skew)
	if errors.Is(err, check.ErrNoSkew) {
		return check.Skip("%v", err)
	}
	if err != nil {
		return ev.Outcome(record.StatusError, nil, "could not skew the gateway's clock: %v", err)
	}
	since := time.Now()
	var found *secevent.Event
	var where string
	var last []map[string]any
	for time.Since(since) < within && found == nil && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
		last = last[:0]
		for _, l := range logs {
			got, err := obsprobe.Read(l.path, l.mark, obsprobe.MaxLogRead, l.source)
			if err != nil {
				continue
			}
			var e *secevent.Event
			if m, ok := obsprobe.Match(got.Events, obsprobe.Want{Kind: secevent.ClockSkew, Since: since, Slack: time.Second}); ok {
				e, found, where = &m, &m, l.source
			}
			last = append(last, logSummary(got, e))
		}
	}
	took := time.Since(since)
	restore()
	ev.JSON("skew.json", map[string]any{"injected_skew_s": skew.Seconds(), "bound_ms": within.Milliseconds(), "waited_ms": took.Milliseconds(), "logs": last, "event": found})
	res := map[string]any{"injected_skew_s": skew.Seconds(), "detected": found != nil}
	if found == nil {
		return ev.Outcome(record.StatusFail, res, "the gateway's clock was put %s ahead and no clock-skew event was recorded within %s", skew, within)
	}
	return ev.Outcome(record.StatusPass, res, "the gateway's clock was put %s ahead and the %s recorded a clock-skew event within the bound of %s (skew.json)", skew, where, within)
}

// secrets reads every named log, every metrics endpoint (with its credential) and the broker's
// $SYS topics after a probe identity has logged in, and searches them for every credential the
// probes used, in every encoding.
func (o *obsRun) secrets(ctx context.Context) check.Outcome {
	env := o.env
	t := env.Targets
	obs := t.Observability
	ev := check.NewEvidence(env, ctlObsSecrets)
	for _, id := range t.Probes {
		o.use(id.Name+" password", id.Username, id.Password)
	}
	o.use("ingest token", "", t.Ingest.Token)
	o.use("ingest other-tenant token", "", t.Ingest.OtherTenantToken)
	o.use("ingest expired token", "", t.Ingest.ExpiredToken)
	o.use("metrics password", obs.MetricsUser, obs.MetricsPassword)
	o.use("metrics token", "", obs.MetricsToken)
	var secrets []obsprobe.Secret
	seen := map[string]bool{}
	for _, s := range o.used {
		if obsprobe.Searchable(s) && !seen[s.Label+"\x00"+s.Value] {
			seen[s.Label+"\x00"+s.Value] = true
			secrets = append(secrets, s)
		}
	}
	if len(secrets) == 0 {
		return check.Skip("no credential of at least %d bytes was used by the probes: nothing to search for", obsprobe.MinSecretLen)
	}
	// A login with a real credential first, so that a log that writes what it sees has it.
	addr, useTLS := probeEndpoint(t.Broker)
	var sys []mqttclient.Message
	sysState := "not read (no broker or probe identity named)"
	if addr != "" && len(t.Probes) > 0 {
		id := t.Probes[0]
		clientID := id.ClientID
		if clientID == "" {
			clientID = "rig-obs-" + probe.RandomHex(6)
		}
		c, ca, ep := o.login(ctx, addr, useTLS, clientID, id.Username, id.Password)
		switch err := ca.Err(ep); {
		case err != nil:
			sysState = "not read: " + err.Error()
		case !ca.Accepted():
			sysState = fmt.Sprintf("not read: %s refused (CONNACK %d)", id.Name, *ca.Code)
		default:
			code, err := c.Subscribe("$SYS/#", 0)
			switch {
			case err != nil:
				sysState = "not read: " + err.Error()
			case code == 0x80:
				sysState = "refused to " + id.Name + " (SUBACK 0x80)"
			default:
				// What was read counts also when the read ended early (the broker closed, the run
				// ended): each message is a source searched.
				sys, err = c.Collect(ctx, msThreshold(env, ctlObsSecrets, "sys_read_ms"), maxSysMessages)
				sysState = fmt.Sprintf("%d messages read", len(sys))
				if err != nil {
					sysState += " (then " + err.Error() + ")"
				}
			}
			c.Disconnect()
		}
	}
	type source struct {
		Where string `json:"where"`
		Bytes int    `json:"bytes"`
		Error string `json:"error,omitempty"`
	}
	var sources []source
	var leaks []obsprobe.Leak
	read := 0
	type named struct{ label, path string }
	logs := []named{{"the broker log", obs.BrokerLog}, {"the gateway log", obs.GatewayLog}, {"the ingest log", obs.IngestLog}}
	for _, p := range obs.OtherLogs {
		logs = append(logs, named{"log " + filepath.Base(p), p})
	}
	done := map[string]bool{}
	for _, n := range logs {
		if n.path == "" || done[n.path] {
			continue
		}
		done[n.path] = true
		l, err := obsprobe.Read(n.path, 0, obsprobe.MaxLogRead, "")
		if err != nil {
			sources = append(sources, source{Where: n.path, Error: err.Error()})
			continue
		}
		sources = append(sources, source{Where: n.path, Bytes: len(l.Raw)})
		if len(l.Raw) == 0 {
			continue // an empty log holds no credential and shows nothing: it is not a source read
		}
		read++
		leaks = append(leaks, obsprobe.Search(n.label, l.Raw, secrets)...)
	}
	creds := obsprobe.Credentials{User: obs.MetricsUser, Password: obs.MetricsPassword, Token: obs.MetricsToken}
	client := obsHTTPClient(env)
	for _, u := range append(append([]string(nil), obs.Metrics...), obs.Alerts) {
		if u == "" {
			continue
		}
		pctx, cancel := probe.Context(ctx, env.Limits.ProbeTimeout)
		r, err := obsprobe.Get(pctx, client, u, creds)
		cancel()
		if err != nil || r.Status != http.StatusOK {
			msg := fmt.Sprintf("status %d", r.Status)
			if err != nil {
				msg = err.Error()
			}
			sources = append(sources, source{Where: u, Error: msg})
			continue
		}
		read++
		sources = append(sources, source{Where: u, Bytes: len(r.Body)})
		leaks = append(leaks, obsprobe.Search("endpoint "+endpointName(u), r.Body, secrets)...)
	}
	for _, m := range sys {
		leaks = append(leaks, obsprobe.Search("$SYS topic "+m.Topic, append([]byte(m.Topic+"\n"), m.Payload...), secrets)...)
	}
	if len(sys) > 0 {
		read++
		sources = append(sources, source{Where: "$SYS/#", Bytes: len(sys)})
	}
	labels := make([]string, 0, len(secrets))
	for _, s := range secrets {
		labels = append(labels, s.Label)
	}
	ev.JSON("search.json", map[string]any{"secrets": labels, "encodings": "plain, base64 (standard and URL, padded or not), hex (both cases), URL-encoded (query and path), base64 of user:secret",
		"sources": sources, "sys": sysState, "leaks": leaks})
	res := map[string]any{"secrets": len(secrets), "sources_read": read, "leaks": len(leaks)}
	switch {
	case len(leaks) > 0:
		var where []string
		for _, l := range leaks {
			where = append(where, fmt.Sprintf("%s (%s) in %s", l.Secret, l.Encoding, l.Where))
		}
		slices.Sort(where)
		where = slices.Compact(where)
		return ev.Outcome(record.StatusFail, res, "credentials the probes used are readable: %s", strings.Join(where, "; "))
	case read == 0:
		return ev.Outcome(record.StatusError, res, "no log with content, metrics endpoint or $SYS topic could be read to search: %+v", sources)
	}
	return ev.Outcome(record.StatusPass, res, "none of %d credentials the probes used appears in any encoding in %d sources read (logs, metrics, alerts; $SYS %s; search.json)", len(secrets), read, sysState)
}

// probeEndpoint picks the endpoint a probe connects to: the TLS one when named, since that is
// where devices are meant to connect, else the plaintext one.
func probeEndpoint(b check.Broker) (addr string, useTLS bool) {
	if b.TLS != "" {
		return b.TLS, true
	}
	return b.Plain, false
}
