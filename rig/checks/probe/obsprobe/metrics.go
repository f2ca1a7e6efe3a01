package obsprobe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// MaxBody bounds what one metrics or alerts response is read to.
const MaxBody = 4 << 20

// Credentials authenticate a reader of a metrics or alerts endpoint: a bearer token, or a
// username and password (HTTP basic). Empty: an anonymous request.
type Credentials struct {
	User, Password string
	Token          string
}

// None reports whether c carries no credential.
func (c Credentials) None() bool { return c.Token == "" && c.User == "" && c.Password == "" }

func (c Credentials) apply(r *http.Request) {
	switch {
	case c.Token != "":
		r.Header.Set("Authorization", "Bearer "+c.Token)
	case c.User != "" || c.Password != "":
		r.SetBasicAuth(c.User, c.Password)
	}
}

// Response is one GET of an endpoint.
type Response struct {
	URL       string `json:"url"`
	Auth      string `json:"auth"` // none | basic | bearer
	Status    int    `json:"status"`
	Challenge string `json:"www_authenticate,omitempty"`
	Bytes     int    `json:"bytes"`
	Body      []byte `json:"-"`
}

// Get sends one GET to url with creds and reads at most MaxBody of the answer. An error means
// nothing usable answered (no connection, no HTTP).
func Get(ctx context.Context, client *http.Client, url string, creds Credentials) (Response, error) {
	out := Response{URL: url, Auth: "none"}
	switch {
	case creds.Token != "":
		out.Auth = "bearer"
	case !creds.None():
		out.Auth = "basic"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return out, fmt.Errorf("GET %s: %w", url, err)
	}
	creds.apply(req)
	req.Header.Set("Accept", "text/plain;version=0.0.4, application/json;q=0.9")
	resp, err := client.Do(req)
	if err != nil {
		return out, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	out.Status = resp.StatusCode
	out.Challenge = resp.Header.Get("WWW-Authenticate")
	out.Body, err = io.ReadAll(io.LimitReader(resp.Body, MaxBody))
	out.Bytes = len(out.Body)
	if err != nil {
		return out, fmt.Errorf("GET %s: read the body: %w", url, err)
	}
	return out, nil
}

// Metrics is a parsed Prometheus text exposition.
type Metrics struct {
	Families map[string]*dto.MetricFamily
}

// ParseMetrics parses the Prometheus text format. A body that is not one (an HTML login page, a
// JSON error) is an error: it does not serve metrics.
func ParseMetrics(body []byte) (Metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return Metrics{}, fmt.Errorf("not the Prometheus text format: %w", err)
	}
	if len(fams) == 0 {
		return Metrics{}, errors.New("no metric family in the body")
	}
	return Metrics{Families: fams}, nil
}

// Names returns the metric family names, sorted.
func (m Metrics) Names() []string {
	var out []string
	for n := range m.Families {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Value returns the sum of the samples of family name whose labels include every label of
// match (a counter or gauge), and whether any sample matched.
func (m Metrics) Value(name string, match map[string]string) (float64, bool) {
	f := m.Families[name]
	if f == nil {
		return 0, false
	}
	var sum float64
	found := false
next:
	for _, s := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range s.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range match {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case s.Counter != nil:
			sum += s.Counter.GetValue()
		case s.Gauge != nil:
			sum += s.Gauge.GetValue()
		case s.Untyped != nil:
			sum += s.Untyped.GetValue()
		default:
			continue
		}
		found = true
	}
	return sum, found
}

// Alert is one active alert, whatever the endpoint's dialect.
type Alert struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Since  time.Time         `json:"since"`
	State  string            `json:"state"`
}

// ParseAlerts reads the alerts of an alerts endpoint: Alertmanager's /api/v2/alerts (a JSON
// array of {labels, startsAt, status.state}) or Prometheus' /api/v1/alerts ({data: {alerts:
// [{labels, activeAt, state}]}}). Only active (firing) alerts are returned.
func ParseAlerts(body []byte) ([]Alert, error) {
	type item struct {
		Labels   map[string]string `json:"labels"`
		StartsAt time.Time         `json:"startsAt"`
		ActiveAt time.Time         `json:"activeAt"`
		State    string            `json:"state"`
		Status   struct {
			State string `json:"state"`
		} `json:"status"`
	}
	var items []item
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) > 0 && trimmed[0] == '[':
		if err := json.Unmarshal(trimmed, &items); err != nil {
			return nil, fmt.Errorf("alerts: %w", err)
		}
	default:
		var v1 struct {
			Data struct {
				Alerts []item `json:"alerts"`
			} `json:"data"`
		}
		if err := json.Unmarshal(trimmed, &v1); err != nil {
			return nil, fmt.Errorf("alerts: not an Alertmanager or Prometheus alerts answer: %w", err)
		}
		items = v1.Data.Alerts
	}
	var out []Alert
	for _, it := range items {
		state := it.Status.State
		if state == "" {
			state = it.State
		}
		if state != "" && state != "active" && state != "firing" {
			continue
		}
		since := it.StartsAt
		if since.IsZero() {
			since = it.ActiveAt
		}
		out = append(out, Alert{Name: it.Labels["alertname"], Labels: it.Labels, Since: since, State: state})
	}
	return out, nil
}

// FindAlert returns the first alert with a label whose value is one of names (a device's id),
// case-insensitively.
func FindAlert(alerts []Alert, names ...string) (Alert, bool) {
	for _, a := range alerts {
		for _, v := range a.Labels {
			for _, n := range names {
				if n != "" && strings.EqualFold(v, n) {
					return a, true
				}
			}
		}
	}
	return Alert{}, false
}
