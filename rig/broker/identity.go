package broker

import (
	"fmt"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pathrig/rig/rig/secevent"
)

// IdentityConfig is how the broker binds client ids to identities and answers repeated failed
// logins. The zero value binds nothing and never locks out (the exposed state).
type IdentityConfig struct {
	// BoundClientID: a client that authenticates as identity X (its username, or its certificate
	// CN) must use client id X, so that no identity can take over another device's session (mochi,
	// like every MQTT broker, disconnects the holder of a client id when a new CONNECT with the
	// same id is accepted). Mosquitto's use_username_as_clientid has the same effect.
	BoundClientID bool
	// LockoutAttempts failed logins of one identity within LockoutWindow lock it out for
	// LockoutWindow: its CONNECTs are refused, even with the right password. 0 = no lockout.
	LockoutAttempts int
	LockoutWindow   time.Duration
	// WillACL: a CONNECT whose Last Will names a topic the identity may not publish to is refused.
	// mochi publishes a will without asking OnACLCheck (server.go sendLWT), so without this a
	// device could make the broker publish on another device's topic by dropping its connection.
	WillACL bool
}

// maxLockoutKeys bounds the lockout table: an attacker cycling usernames cannot grow it without
// limit. When full, expired entries are dropped; if none has expired the oldest one goes.
const maxLockoutKeys = 10000

func (c IdentityConfig) validate() error {
	if c.LockoutAttempts < 0 {
		return fmt.Errorf("broker: Identity.LockoutAttempts %d is negative (0 = no lockout)", c.LockoutAttempts)
	}
	if c.LockoutAttempts > 0 && c.LockoutWindow <= 0 {
		return fmt.Errorf("broker: Identity.LockoutAttempts %d without a LockoutWindow (set how long an identity stays locked, e.g. 30s)", c.LockoutAttempts)
	}
	return nil
}

// lockout counts failed logins per identity. The identity is the username, or the client id of a
// CONNECT without one: what an attacker guesses a password for.
type lockout struct {
	attempts int
	window   time.Duration
	now      func() time.Time

	mu   sync.Mutex
	keys map[string]*lockState
}

type lockState struct {
	first    time.Time // start of the current counting window
	failures int
	until    time.Time // locked until; zero when not locked
}

func newLockout(c IdentityConfig, now func() time.Time) *lockout {
	if c.LockoutAttempts == 0 {
		return nil
	}
	return &lockout{attempts: c.LockoutAttempts, window: c.LockoutWindow, now: now, keys: map[string]*lockState{}}
}

// locked reports whether key is locked out now, and until when.
func (l *lockout) locked(key string) (bool, time.Time) {
	if l == nil {
		return false, time.Time{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.keys[key]
	if st == nil || st.until.IsZero() {
		return false, time.Time{}
	}
	if !l.now().Before(st.until) {
		delete(l.keys, key) // the lock ran out: the identity starts afresh
		return false, time.Time{}
	}
	return true, st.until
}

// fail counts a failed login of key and reports whether it locked the key.
func (l *lockout) fail(key string) bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	st := l.keys[key]
	if st == nil || now.Sub(st.first) >= l.window {
		if st == nil {
			l.makeRoom(now)
		}
		st = &lockState{first: now}
		l.keys[key] = st
	}
	st.failures++
	if st.failures >= l.attempts && st.until.IsZero() {
		st.until = now.Add(l.window)
		return true
	}
	return false
}

// succeed clears the failures of key after a successful login.
func (l *lockout) succeed(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	delete(l.keys, key)
	l.mu.Unlock()
}

// makeRoom keeps the table under maxLockoutKeys (caller holds mu).
func (l *lockout) makeRoom(now time.Time) {
	if len(l.keys) < maxLockoutKeys {
		return
	}
	var oldest string
	for k, st := range l.keys {
		if now.Sub(st.first) >= l.window && (st.until.IsZero() || !now.Before(st.until)) {
			delete(l.keys, k)
			continue
		}
		if oldest == "" || st.first.Before(l.keys[oldest].first) {
			oldest = k
		}
	}
	if len(l.keys) >= maxLockoutKeys && oldest != "" {
		delete(l.keys, oldest)
	}
}

// loginKey is the identity a CONNECT tries to log in as.
func loginKey(cl *mqtt.Client, pk packets.Packet) string {
	if u := string(pk.Connect.Username); u != "" {
		return "user:" + u
	}
	return "client:" + cl.ID
}

// refusal is why the guard refused a CONNECT, sorted for the security event log.
type refusal struct {
	kind   secevent.Kind
	reason string
}

// checkIdentity applies the identity rules that come after the credentials were accepted: the
// client id binding and the will's ACL. authID is the identity the credentials proved.
func (g *guard) checkIdentity(cl *mqtt.Client, pk packets.Packet, authID string) (bool, refusal) {
	if g.identity.BoundClientID && authID != "" && cl.ID != authID {
		return false, refusal{secevent.AuthFailure, fmt.Sprintf("client id %q is not the identity %q (client ids are bound to identities)", cl.ID, authID)}
	}
	if g.identity.WillACL && g.deviceACL && pk.Connect.WillFlag {
		id := authID
		if id == "" {
			id = cl.ID
		}
		if !g.allowed(id, pk.Connect.WillTopic, true) {
			g.counters.aclDenials.Add(1)
			return false, refusal{secevent.ACLDeny, fmt.Sprintf("last will on %q, a topic identity %q may not publish to", pk.Connect.WillTopic, id)}
		}
	}
	return true, refusal{}
}

// holds reports whether a connected client uses id: a refused CONNECT with that id was a
// takeover attempt.
func (g *guard) holds(id string) bool {
	if g.srv == nil {
		return false
	}
	cl, ok := g.srv.Clients.Get(id)
	return ok && !cl.Closed()
}

// record writes a security event (nil-safe: no log, no event). The password is never in it.
func (g *guard) record(kind secevent.Kind, cl *mqtt.Client, identity string, outcome secevent.Outcome, detail string) {
	g.events.Record(secevent.Event{Kind: kind, Identity: identity, Remote: cl.Net.Remote, Outcome: outcome, Detail: detail})
}
