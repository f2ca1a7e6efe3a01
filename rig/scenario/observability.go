package scenario

import (
	"time"
)

// ObservabilityProfile is what the reference stack lets an operator see of itself: security-event
// logs, metrics (and who may read them), the alert raised for a silent device and the detection
// of gateway clock skew. Absent, the stack records nothing, serves no metrics and raises nothing.
type ObservabilityProfile struct {
	// SecurityLog: the broker, the gateway and the ingest write their security events (failed
	// logins, ACL denials, refused ingest requests, malformed device frames, silent devices,
	// clock skew) as JSON lines (rig/secevent), one file per service.
	SecurityLog bool `yaml:"security_log"`
	// DebugLogCredentials: the broker's debug log writes the username and password of every
	// CONNECT it sees. A real and common finding, reproduced on purpose by the exposed profile.
	DebugLogCredentials bool           `yaml:"debug_log_credentials"`
	Metrics             MetricsProfile `yaml:"metrics"`
	// GapAlert raises an alert (on the alerts endpoint, and as a device-silent security event)
	// when a device sends nothing for this long; 0 = no gap alert.
	GapAlert Duration `yaml:"gap_alert"`
	// ClockSkewBound: the ingest compares each record's gateway time with its own clock and
	// reports a gateway whose clock is further off than this (a clock-skew event and a metric);
	// 0 = no detection.
	ClockSkewBound Duration `yaml:"clock_skew_bound"`
}

// MetricsProfile configures the Prometheus metrics endpoint of the stack (and the alerts
// endpoint beside it). Auth "" (the block absent) serves neither.
type MetricsProfile struct {
	Auth MetricsAuth `yaml:"auth"` // none | basic | bearer
}

// MetricsAuth is how the metrics and alerts endpoints authenticate a reader.
type MetricsAuth string

// MetricsAuth values.
const (
	MetricsOff    MetricsAuth = ""
	MetricsOpen   MetricsAuth = "none"
	MetricsBasic  MetricsAuth = "basic"
	MetricsBearer MetricsAuth = "bearer"
)

// validate checks the observability block of a profile.
func (o *ObservabilityProfile) validate(d *doc) error {
	if o.Metrics.Auth != MetricsOff {
		if err := oneOf(d, "observability.metrics.auth", o.Metrics.Auth, MetricsOpen, MetricsBasic, MetricsBearer); err != nil {
			return err
		}
	} else if d.given("observability.metrics") {
		return d.at("observability.metrics", "auth missing: write auth: none, basic or bearer (or remove the block to serve no metrics)")
	}
	if err := optionalDuration(d, "observability.gap_alert", o.GapAlert, 100*time.Millisecond, time.Hour); err != nil {
		return err
	}
	if o.GapAlert > 0 && o.Metrics.Auth == MetricsOff && !o.SecurityLog {
		return d.at("observability.gap_alert", "an alert with nowhere to be raised: set observability.metrics (the alerts endpoint) or observability.security_log")
	}
	if err := optionalDuration(d, "observability.clock_skew_bound", o.ClockSkewBound, 100*time.Millisecond, 24*time.Hour); err != nil {
		return err
	}
	if o.ClockSkewBound > 0 && o.Metrics.Auth == MetricsOff && !o.SecurityLog {
		return d.at("observability.clock_skew_bound", "skew detected and reported nowhere: set observability.metrics or observability.security_log")
	}
	return nil
}

// optionalDuration checks a duration that may be absent (0) or lie in [lo, hi].
func optionalDuration(d *doc, field string, v Duration, lo, hi time.Duration) error {
	if v == 0 {
		if d.given(field) {
			return d.at(field, "0 is not a bound: remove the field to turn it off")
		}
		return nil
	}
	if v.D() < lo || v.D() > hi {
		return d.at(field, "%s is outside %s..%s", v.D(), lo, hi)
	}
	return nil
}
