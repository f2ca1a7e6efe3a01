package stack

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pathrig/rig/gateway"
	"github.com/pathrig/rig/rig/broker"
	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/ingest"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/rig/secevent"
)

// What the reference path lets an operator see of itself, as the profile's observability block
// says: each service (broker, gateway, ingest) writes its operational log to a file in the run's
// work folder (logs/<service>.log) and, with security_log, its security events as JSON lines
// (logs/<service>-security.log); the broker's debug log writes the credentials it sees when
// debug_log_credentials says so (the exposed profile's finding). With metrics, one endpoint
// serves the path's Prometheus metrics (/metrics) and the alerts it holds active
// (/api/v2/alerts, in Alertmanager's shape) behind the credential the profile asks for, which
// the stack generates and registers for redaction. The checks learn only the file names, URLs
// and credential, through Targets.Observability.

// Paths of the metrics and alerts endpoints.
const (
	PathMetrics = "/metrics"
	PathAlerts  = "/api/v2/alerts"
	metricsUser = "rig-metrics"
)

// observability is the stack's state for its logs, metrics and alerts.
type observability struct {
	prof   scenario.ObservabilityProfile
	dir    string
	files  []*os.File
	file   map[string]*os.File      // service → operational log
	events map[string]*secevent.Log // service → security log (security_log)
	named  map[string]string        // service → the log the checks are told of
	others []string                 // further logs, searched for credentials

	srv         *http.Server
	url         string
	pass, token string

	skew atomic.Int64 // the in-process gateways' clock offset (OBS-CLOCK)
}

var services = []string{"broker", "gateway", "ingest"}

// openObservability opens the services' log files before anything starts.
func (s *Stack) openObservability() error {
	o := &s.obs
	o.prof = s.prof.Observability
	o.dir = filepath.Join(s.cfg.WorkDir, "logs")
	o.file, o.events, o.named = map[string]*os.File{}, map[string]*secevent.Log{}, map[string]string{}
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return fmt.Errorf("stack: log folder: %w", err)
	}
	for _, svc := range services {
		p := filepath.Join(o.dir, svc+".log")
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("stack: %s log: %w", svc, err)
		}
		o.files = append(o.files, f)
		o.file[svc] = f
		o.named[svc] = p
		if o.prof.SecurityLog {
			sp := filepath.Join(o.dir, svc+"-security.log")
			l, err := secevent.Open(sp, svc)
			if err != nil {
				return fmt.Errorf("stack: %s: %w", svc, err)
			}
			o.events[svc] = l
			o.named[svc] = sp
			o.others = append(o.others, p)
		}
	}
	return nil
}

// serviceLog is a service's logger: the components' log (the operator's) and the service's log
// file at info level.
func (s *Stack) serviceLog(svc string, base *slog.Logger) *slog.Logger {
	f := s.obs.file[svc]
	if f == nil {
		return base
	}
	return slog.New(slog.NewMultiHandler(base.Handler(), slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo})))
}

// observeBroker adds the profile's logs to the broker's configuration.
func (s *Stack) observeBroker(bc *broker.Config) {
	bc.Log = s.serviceLog("broker", bc.Log)
	bc.Events = s.obs.events["broker"]
	if f := s.obs.file["broker"]; f != nil && s.obs.prof.DebugLogCredentials {
		bc.CredentialLog = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", "broker")
	}
}

// observeIngest adds the profile's logs and clock-skew bound to the ingest's configuration.
func (s *Stack) observeIngest(ic *ingest.Config) {
	ic.Log = s.serviceLog("ingest", ic.Log)
	ic.Events = s.obs.events["ingest"]
	ic.ClockSkewBound = s.obs.prof.ClockSkewBound.D()
}

// observeGateway adds the profile's logs and gap alert to an in-process gateway's configuration,
// and the clock the rig can skew.
func (s *Stack) observeGateway(c *gateway.Config) {
	c.Log = s.serviceLog("gateway", c.Log)
	c.Events = s.obs.events["gateway"]
	c.GapAlert = s.obs.prof.GapAlert.D()
	c.Now = func() time.Time { return time.Now().Add(time.Duration(s.obs.skew.Load())) }
}

// startMetrics serves the metrics and alerts endpoints when the profile asks for them.
func (s *Stack) startMetrics() error {
	o := &s.obs
	auth := o.prof.Metrics.Auth
	if auth == scenario.MetricsOff {
		return nil
	}
	switch auth {
	case scenario.MetricsBasic:
		o.pass = secret()
		s.addSecret(o.pass)
	case scenario.MetricsBearer:
		o.token = secret()
		s.addSecret(o.token)
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(pathCollector{s}); err != nil {
		return fmt.Errorf("stack: metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(PathMetrics, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc(PathAlerts, s.serveAlerts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("stack: metrics listener: %w", err)
	}
	o.url = "http://" + ln.Addr().String()
	o.srv = &http.Server{Handler: s.metricsAuth(mux), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(s.clog.Handler(), slog.LevelDebug)}
	go func() {
		if err := o.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("metrics endpoint stopped", "error", err)
		}
	}()
	return nil
}

// metricsAuth refuses a request without the profile's credential (compared in constant time).
func (s *Stack) metricsAuth(next http.Handler) http.Handler {
	o := &s.obs
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok := true
		switch {
		case o.pass != "":
			u, p, given := r.BasicAuth()
			ok = given && subtle.ConstantTimeCompare([]byte(u), []byte(metricsUser))&subtle.ConstantTimeCompare([]byte(p), []byte(o.pass)) == 1
			if !ok {
				w.Header().Set("WWW-Authenticate", `Basic realm="rig-metrics"`)
			}
		case o.token != "":
			scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
			ok = strings.EqualFold(scheme, "Bearer") && subtle.ConstantTimeCompare([]byte(tok), []byte(o.token)) == 1
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="rig-metrics"`)
			}
		}
		if !ok {
			http.Error(w, "credentials required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// amAlert is one alert in Alertmanager's /api/v2/alerts shape.
type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

func (s *Stack) serveAlerts(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	out := []amAlert{}
	for _, u := range s.units {
		g := u.Gateway()
		if g == nil {
			continue
		}
		for _, a := range g.Alerts() {
			x := amAlert{Labels: map[string]string{"alertname": a.Name, "device": a.Device, "source": "gateway", "severity": "warning"},
				Annotations: map[string]string{"summary": a.Detail}, StartsAt: a.Since.UTC()}
			x.Status.State = "active"
			out = append(out, x)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// pathCollector exposes the path's counters at scrape time.
type pathCollector struct{ s *Stack }

var (
	descClients   = prometheus.NewDesc("rig_broker_clients_connected", "MQTT clients connected to the broker.", nil, nil)
	descReceived  = prometheus.NewDesc("rig_broker_messages_received_total", "PUBLISH packets the broker received.", nil, nil)
	descAuthFail  = prometheus.NewDesc("rig_broker_auth_failures_total", "CONNECTs the broker refused.", nil, nil)
	descACLDeny   = prometheus.NewDesc("rig_broker_acl_denials_total", "Publishes and subscriptions the broker's ACL refused.", nil, nil)
	descRejected  = prometheus.NewDesc("rig_ingest_requests_rejected_total", "Requests the ingest refused, by reason.", []string{"reason"}, nil)
	descFrames    = prometheus.NewDesc("rig_gateway_frames_total", "Valid device frames the gateway decoded.", []string{"device"}, nil)
	descBadFrames = prometheus.NewDesc("rig_gateway_bad_frames_total", "Device frames the gateway rejected, by reason.", []string{"device", "reason"}, nil)
	descSilent    = prometheus.NewDesc("rig_gateway_device_silent", "1 while the device's gap alert is active.", []string{"device"}, nil)
	descSkew      = prometheus.NewDesc("rig_ingest_gateway_clock_skew_seconds", "Gateway time minus ingest time of the device's newest record.", []string{"device"}, nil)
	descSkewAlert = prometheus.NewDesc("rig_ingest_clock_skew_alerts_total", "Times a gateway clock crossed the skew bound.", nil, nil)
)

func (c pathCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c pathCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	s.mu.Lock()
	b, in := s.broker, s.ingest
	s.mu.Unlock()
	st := b.Stats()
	ch <- prometheus.MustNewConstMetric(descClients, prometheus.GaugeValue, float64(st.ClientsConnected))
	ch <- prometheus.MustNewConstMetric(descReceived, prometheus.CounterValue, float64(st.MessagesReceived))
	ch <- prometheus.MustNewConstMetric(descAuthFail, prometheus.CounterValue, float64(st.AuthFailures))
	ch <- prometheus.MustNewConstMetric(descACLDeny, prometheus.CounterValue, float64(st.ACLDenials))
	rej := in.Rejected()
	reasons := make([]string, 0, len(rej))
	for r := range rej {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(rej[r]), r)
	}
	for _, u := range s.units {
		g := u.Gateway()
		if g == nil {
			continue
		}
		gs := g.Stats()
		ch <- prometheus.MustNewConstMetric(descFrames, prometheus.CounterValue, float64(gs.FramesOK), u.ID)
		for r, n := range gs.BadFrames {
			ch <- prometheus.MustNewConstMetric(descBadFrames, prometheus.CounterValue, float64(n), u.ID, r)
		}
		if s.obs.prof.GapAlert > 0 {
			ch <- prometheus.MustNewConstMetric(descSilent, prometheus.GaugeValue, float64(len(g.Alerts())), u.ID)
		}
	}
	if s.obs.prof.ClockSkewBound > 0 {
		readings, crossed := in.ClockSkew()
		for _, r := range readings {
			ch <- prometheus.MustNewConstMetric(descSkew, prometheus.GaugeValue, r.Skew.Seconds(), r.Device)
		}
		ch <- prometheus.MustNewConstMetric(descSkewAlert, prometheus.CounterValue, float64(crossed))
	}
}

// obsTargets is what the checks are told of the path's logs, metrics and alerts.
func (s *Stack) obsTargets() check.Observability {
	o := &s.obs
	t := check.Observability{BrokerLog: o.named["broker"], GatewayLog: o.named["gateway"], IngestLog: o.named["ingest"],
		OtherLogs: append([]string(nil), o.others...)}
	if o.url != "" {
		t.Metrics = []string{o.url + PathMetrics}
		t.Alerts = o.url + PathAlerts
		if o.pass != "" {
			t.MetricsUser, t.MetricsPassword = metricsUser, o.pass
		}
		t.MetricsToken = o.token
	}
	return t
}

// closeObservability stops the metrics endpoint and closes the logs (after the services).
func (s *Stack) closeObservability() {
	o := &s.obs
	if o.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = o.srv.Shutdown(ctx)
		cancel()
	}
	for _, l := range o.events {
		_ = l.Close()
	}
	for _, f := range o.files {
		_ = f.Close()
	}
}

// Silence implements checks.DeviceControl: the first device stops sending telemetry
// (SET_INTERVAL 0 through the relay's session) until resume sets the scenario's interval again.
func (s *Stack) Silence(ctx context.Context) (func(context.Context) error, error) {
	if len(s.units) == 0 {
		return nil, errors.New("stack: no device to silence")
	}
	sess := s.units[0].Dev.Session()
	if err := sess.SetInterval(ctx, 0); err != nil {
		return nil, fmt.Errorf("stack: stop the device's telemetry (SET_INTERVAL 0): %w", err)
	}
	interval := s.plan.Scenario.Device.TelemetryInterval.D()
	return func(ctx context.Context) error {
		if err := sess.SetInterval(ctx, interval); err != nil {
			return fmt.Errorf("stack: resume the device's telemetry (SET_INTERVAL %s): %w", interval, err)
		}
		return nil
	}, nil
}

// DeviceName implements checks.DeviceControl: the first device's UID.
func (s *Stack) DeviceName() string {
	if len(s.units) == 0 {
		return ""
	}
	return s.units[0].ID
}

// SkewGateway implements checks.GatewayClock: the in-process gateways' clock runs offset from
// true time until restore. A gateway process keeps its own clock.
func (s *Stack) SkewGateway(offset time.Duration) (func(), error) {
	if s.processGateway() {
		return nil, fmt.Errorf("%w: the gateway runs as a process with its own clock", check.ErrNoSkew)
	}
	s.obs.skew.Store(int64(offset))
	return func() { s.obs.skew.Store(0) }, nil
}
