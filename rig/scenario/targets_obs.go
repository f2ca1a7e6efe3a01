package scenario

import (
	"errors"
	"fmt"
	"net/url"
	"os"
)

// ObservabilityTarget names where a client's path records what happens to it: the security logs
// of its broker, gateway and ingest (Mosquitto's own log lines or rig security-event JSON
// lines), other logs to search for credentials, its metrics endpoints, the credential to read
// them, and its alerts endpoint. Every field is optional; a control whose input is not named is
// skipped with the reason. The logs are read where the rig runs (copy or mount them there).
type ObservabilityTarget struct {
	BrokerLog  string   `yaml:"broker_log"`
	GatewayLog string   `yaml:"gateway_log"`
	IngestLog  string   `yaml:"ingest_log"`
	OtherLogs  []string `yaml:"other_logs"`
	Metrics    []string `yaml:"metrics"`
	// MetricsToken is a bearer token for the metrics and alerts endpoints; MetricsUser and
	// MetricsPassword are HTTP basic credentials instead.
	MetricsToken    *Secret `yaml:"metrics_token"`
	MetricsUser     string  `yaml:"metrics_user"`
	MetricsPassword *Secret `yaml:"metrics_password"`
	Alerts          string  `yaml:"alerts"`
}

// validate checks the observability targets: logs that exist as regular files (they may be
// large: they are read from their end), http(s) URLs without credentials in them, and one
// kind of metrics credential.
func (o *ObservabilityTarget) validate(d *doc, path func(string) string, secret func(string, *Secret) error) error {
	logFile := func(field, name string) error {
		if name == "" {
			return nil
		}
		fi, err := os.Stat(path(name))
		switch {
		case errors.Is(err, os.ErrNotExist):
			return d.at(field, "%s does not exist (name the log file the service writes; copy or mount it where the rig runs)", path(name))
		case err != nil:
			return d.at(field, "cannot read %s: %v", path(name), err)
		case !fi.Mode().IsRegular():
			return d.at(field, "%s is not a regular file (name the log file itself)", path(name))
		}
		return nil
	}
	httpURL := func(field, raw string) error {
		u, err := url.Parse(raw)
		if err == nil {
			if where := urlCredential(u); where != "" {
				return d.at(field, "the URL carries a credential in %s, which would be quoted in run.json and the reports: name it in targets.observability.metrics_token or metrics_user/metrics_password: {file: PATH} or {env: VARIABLE}", where)
			}
		}
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return d.at(field, "%s is not an http or https URL", quoteURL(raw))
		}
		return nil
	}
	for _, e := range []error{logFile("targets.observability.broker_log", o.BrokerLog), logFile("targets.observability.gateway_log", o.GatewayLog), logFile("targets.observability.ingest_log", o.IngestLog)} {
		if e != nil {
			return e
		}
	}
	for i, l := range o.OtherLogs {
		if err := logFile(fmt.Sprintf("targets.observability.other_logs[%d]", i), l); err != nil {
			return err
		}
	}
	for i, m := range o.Metrics {
		if err := httpURL(fmt.Sprintf("targets.observability.metrics[%d]", i), m); err != nil {
			return err
		}
	}
	if o.Alerts != "" {
		if err := httpURL("targets.observability.alerts", o.Alerts); err != nil {
			return err
		}
	}
	if o.MetricsToken != nil && (o.MetricsUser != "" || o.MetricsPassword != nil) {
		return d.at("targets.observability.metrics_token", "name a bearer token or a basic user and password, not both")
	}
	if (o.MetricsUser == "") != (o.MetricsPassword == nil) {
		return d.at("targets.observability.metrics_user", "metrics_user and metrics_password go together")
	}
	for _, e := range []error{secret("targets.observability.metrics_token", o.MetricsToken), secret("targets.observability.metrics_password", o.MetricsPassword)} {
		if e != nil {
			return e
		}
	}
	if o.BrokerLog == "" && o.GatewayLog == "" && o.IngestLog == "" && len(o.OtherLogs) == 0 && len(o.Metrics) == 0 && o.Alerts == "" {
		return d.at("targets.observability", "names no log, metrics or alerts endpoint")
	}
	return nil
}
