package scenario

import (
	"fmt"
	"time"
)

// IdentityProfile is how the reference broker binds identities (broker.identity in a profile).
type IdentityProfile struct {
	// ClientID: bound = a client authenticated as X must use client id X (no identity can take
	// over another device's session); free = any client id.
	ClientID ClientIDPolicy `yaml:"client_id"`
	// Lockout locks an identity out after repeated failed logins; absent = never.
	Lockout *LockoutProfile `yaml:"lockout"`
	// WillACL: a CONNECT whose Last Will names a topic the identity may not publish to is refused.
	WillACL bool `yaml:"will_acl"`
}

// LockoutProfile is the broker's failed-login policy.
type LockoutProfile struct {
	Attempts int      `yaml:"attempts"` // failed logins within Window that lock the identity
	Window   Duration `yaml:"window"`   // how long failures count, and how long the lock lasts
}

// WebSocketProfile configures the broker's MQTT-over-WebSocket listener (broker.websocket).
type WebSocketProfile struct {
	Enabled bool `yaml:"enabled"`
	// TLS: wss with the TLS listener's certificate and client-certificate rule; false: plain ws.
	TLS bool `yaml:"tls"`
}

// ClientIDPolicy is whether client ids are bound to identities.
type ClientIDPolicy string

// Client id policies.
const (
	ClientIDFree  ClientIDPolicy = "free"
	ClientIDBound ClientIDPolicy = "bound"
)

// Bounds of the lockout policy a profile may set.
const (
	maxLockoutAttempts = 1000
	maxLockoutWindow   = 24 * time.Hour
)

func (b *BrokerProfile) validateIdentity(d *doc) error {
	id := &b.Identity
	if id.ClientID == "" {
		id.ClientID = ClientIDFree
	}
	if err := oneOf(d, "broker.identity.client_id", id.ClientID, ClientIDFree, ClientIDBound); err != nil {
		return err
	}
	if lo := id.Lockout; lo != nil {
		for _, k := range []string{"attempts", "window"} {
			if !d.given("broker.identity.lockout." + k) {
				return d.at("broker.identity.lockout", "names no %s: a lockout needs attempts (failed logins that lock) and window (how long failures count and the lock lasts), e.g. {attempts: 5, window: 30s}", k)
			}
		}
		if lo.Attempts < 1 || lo.Attempts > maxLockoutAttempts {
			return d.at("broker.identity.lockout.attempts", "%d is outside 1..%d (remove lockout: for none)", lo.Attempts, maxLockoutAttempts)
		}
		if lo.Window.D() < 100*time.Millisecond || lo.Window.D() > maxLockoutWindow {
			return d.at("broker.identity.lockout.window", "%s is outside 100ms..%s", lo.Window.D(), maxLockoutWindow)
		}
	}
	if id.WillACL && b.ACL != ACLPerDevice {
		return d.at("broker.identity.will_acl", "true while broker.acl is %s: there is no ACL to hold the will to (set acl: per-device)", b.ACL)
	}
	if b.WebSocket.TLS && !b.WebSocket.Enabled {
		return d.at("broker.websocket.tls", "true while broker.websocket.enabled is false")
	}
	if b.WebSocket.TLS && !b.TLS.Enabled {
		return d.at("broker.websocket.tls", "wss uses the TLS listener's certificate: set broker.tls.enabled: true")
	}
	return nil
}

// IdentityProbe bounds the identity check's probes (a scenario's identity: block). The lockout
// policy under audit is the scenario's: the check never reads a profile.
type IdentityProbe struct {
	// LockoutAttempts failed CONNECTs are sent before the right password is tried; above
	// DefaultLockoutAttempts the scenario must be intrusive.
	LockoutAttempts int `yaml:"lockout_attempts"`
	// LockoutWindow is how long the audited policy promises to lock; the probe waits it out at the
	// end so that the identity it locked can connect again.
	LockoutWindow Duration `yaml:"lockout_window"`
	// WillWait is how long a Last Will that must not come is waited for.
	WillWait Duration `yaml:"will_wait"`
}

// Defaults and bounds of a scenario's identity: block.
const (
	DefaultLockoutAttempts = 5
	MaxLockoutAttempts     = 50
	DefaultLockoutWindow   = 2 * time.Second
	MaxLockoutWindow       = 5 * time.Minute
	DefaultWillWait        = time.Second
)

func (s *Scenario) validateIdentity(d *doc) error {
	ip := &s.Identity
	if ip.LockoutAttempts == 0 {
		ip.LockoutAttempts = DefaultLockoutAttempts
	}
	if ip.LockoutAttempts < 1 || ip.LockoutAttempts > MaxLockoutAttempts {
		return d.at("identity.lockout_attempts", "%d is outside 1..%d", ip.LockoutAttempts, MaxLockoutAttempts)
	}
	if ip.LockoutAttempts > DefaultLockoutAttempts && !s.Intrusive {
		return d.at("identity.lockout_attempts", "%d failed logins is above the non-intrusive %d: set intrusive: true to send them", ip.LockoutAttempts, DefaultLockoutAttempts)
	}
	if err := durationIn(d, "identity.lockout_window", &ip.LockoutWindow, DefaultLockoutWindow, 100*time.Millisecond, MaxLockoutWindow); err != nil {
		return err
	}
	return durationIn(d, "identity.will_wait", &ip.WillWait, DefaultWillWait, 50*time.Millisecond, 30*time.Second)
}

// validateWebSocketTargets checks targets.broker.websocket: ws:// or wss:// URLs.
func validateWebSocketTargets(d *doc, urls []string) error {
	for i, u := range urls {
		f := fmt.Sprintf("targets.broker.websocket[%d]", i)
		pu, err := parseURL(u)
		if err == nil {
			if where := urlCredential(pu); where != "" {
				return d.at(f, "the URL carries a credential in %s: name probe identities in targets.probes instead", where)
			}
		}
		if err != nil || (pu.Scheme != "ws" && pu.Scheme != "wss") || pu.Host == "" {
			return d.at(f, "%s is not a ws:// or wss:// URL (e.g. wss://broker.example:8884/mqtt)", quoteURL(u))
		}
	}
	return nil
}
