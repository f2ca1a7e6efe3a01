package check

import (
	"context"
	"errors"
	"time"
)

// Observability names where a path records what happens to it: its security-event logs, its
// metrics endpoints and the credential to read them, and its alerts endpoint. An empty field is
// "not named": the controls that need it are skipped with the reason.
type Observability struct {
	// The security-event logs of the broker, the gateway and the ingest: rig/secevent JSON lines
	// or Mosquitto's own log lines.
	BrokerLog, GatewayLog, IngestLog string
	// OtherLogs are further logs (operational, debug) searched for credentials.
	OtherLogs []string
	// Metrics lists Prometheus metrics URLs.
	Metrics []string
	// The credential a metrics or alerts reader presents: a bearer token, or a username and
	// password (HTTP basic). Secrets.
	MetricsUser, MetricsPassword, MetricsToken string
	// Alerts is the alerts endpoint (Alertmanager /api/v2/alerts or Prometheus /api/v1/alerts
	// shape), read with the metrics credential.
	Alerts string
}

// DeviceControl lets the gap-alert probe silence the device under test.
type DeviceControl interface {
	// Silence stops the device's telemetry (SET_INTERVAL 0 through the rig's relay) and returns
	// the function that resumes it at the interval it had.
	Silence(ctx context.Context) (resume func(context.Context) error, err error)
	// DeviceName is the device's identity as the path names it (its UID).
	DeviceName() string
}

// GatewayClock lets the clock probe skew the gateway's clock.
type GatewayClock interface {
	// SkewGateway sets the gateway's clock offset from true time and returns the function that
	// puts it back; ErrNoSkew when the run's gateway cannot be skewed by the rig.
	SkewGateway(offset time.Duration) (restore func(), err error)
}

// ErrNoSkew is what SkewGateway returns for a gateway whose clock the rig does not hold (a
// gateway process, a client's gateway): OBS-CLOCK is then skipped with the reason.
var ErrNoSkew = errors.New("the rig cannot skew this gateway's clock")
