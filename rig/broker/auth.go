package broker

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pathrig/rig/rig/secevent"
)

// guard is the authentication and ACL hook. mochi refuses every CONNECT and every topic when no
// hook provides OnConnectAuthenticate / OnACLCheck, so the guard always answers, also in the
// exposed state where it allows everything.
type guard struct {
	mqtt.HookBase
	anonymous     bool
	users         map[string][32]byte // username → SHA-256(password), compared in constant time
	certIdentity  bool
	deviceACL     bool
	prefix        string
	maxPacketSize uint32
	counters      *counters
	gateways      map[string]map[string]bool // gateway identity → its devices (gatewayacl.go)
	identity      IdentityConfig             // client id binding, lockout, will ACL (identity.go)
	lock          *lockout                   // nil = no lockout
	events        *secevent.Log              // nil = no security event log
	credLog       *slog.Logger               // the exposed profile's credential-writing debug log (events.go)
	srv           *mqtt.Server               // to tell a takeover attempt from a bad login; set by Start
}

func newGuard(cfg Config, c *counters) *guard {
	g := &guard{
		anonymous:     cfg.AllowAnonymous,
		certIdentity:  cfg.CertIdentity,
		deviceACL:     cfg.DeviceACL,
		prefix:        cfg.TopicPrefix,
		maxPacketSize: cfg.MaxPacketSize,
		counters:      c,
		gateways:      gatewaySets(cfg.Gateways),
		identity:      cfg.Identity,
		lock:          newLockout(cfg.Identity, cfg.Now),
		events:        cfg.Events,
		credLog:       cfg.CredentialLog,
	}
	if len(cfg.Users) > 0 {
		g.users = make(map[string][32]byte, len(cfg.Users))
		for u, p := range cfg.Users {
			g.users[u] = sha256.Sum256([]byte(p))
		}
	}
	return g
}

func (g *guard) ID() string { return "rig-guard" }

func (g *guard) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnDisconnect, mqtt.OnPacketEncode}, []byte{b})
}

// OnPacketEncode announces the packet size limit in the CONNACK of MQTT 5 clients, which mochi
// enforces but does not announce, so that well-behaved v5 clients can respect it.
func (g *guard) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if g.maxPacketSize > 0 && pk.FixedHeader.Type == packets.Connack && pk.ReasonCode == packets.CodeSuccess.Code &&
		cl.Properties.ProtocolVersion == 5 {
		pk.Properties.MaximumPacketSize = g.maxPacketSize
	}
	return pk
}

// OnConnectAuthenticate applies, in order: the lockout, the certificate identity binding,
// per-device passwords, certificate-only authentication, anonymous access, then the identity
// rules (client id binding, will ACL).
func (g *guard) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	g.credentialLine(cl, pk)
	key := loginKey(cl, pk)
	username := string(pk.Connect.Username)
	if locked, until := g.lock.locked(key); locked {
		g.counters.authFailures.Add(1)
		g.Log.Info("mqtt connect refused", "client", cl.ID, "username", username, "remote", cl.Net.Remote,
			"listener", cl.Net.Listener, "reason", "locked out after repeated failed logins", "until", until)
		g.record(secevent.Lockout, cl, username, secevent.Refused, "locked out until "+until.UTC().Format(time.RFC3339Nano))
		return false
	}
	ok, reason, authID := g.authenticate(cl, pk)
	ref := refusal{secevent.AuthFailure, reason}
	if ok {
		ok, ref = g.checkIdentity(cl, pk, authID)
	} else if g.lock.fail(key) {
		g.record(secevent.Lockout, cl, username, secevent.Alert, fmt.Sprintf("%d failed logins within %s: locked for %s", g.lock.attempts, g.lock.window, g.lock.window))
	}
	if !ok && ref.kind == secevent.AuthFailure && g.holds(cl.ID) {
		ref.kind = secevent.TakeoverRefused // a connected client holds this id: someone tried to take its session
	}
	if !ok {
		g.counters.authFailures.Add(1)
		// Never log the password; the username is an identity, not a secret.
		g.Log.Info("mqtt connect refused", "client", cl.ID, "username", username,
			"remote", cl.Net.Remote, "listener", cl.Net.Listener, "reason", ref.reason)
		g.record(ref.kind, cl, cmp.Or(username, cl.ID), secevent.Refused, ref.reason)
		return false
	}
	g.lock.succeed(key)
	return true
}

// authenticate returns whether the credentials are accepted, why not, and the identity they
// prove ("" for an anonymous client).
func (g *guard) authenticate(cl *mqtt.Client, pk packets.Packet) (bool, string, string) {
	username := string(pk.Connect.Username)
	password := pk.Connect.Password
	credentials := pk.Connect.UsernameFlag || pk.Connect.PasswordFlag || len(username) > 0 || len(password) > 0

	certOK := false
	if leaf, verified := peerCert(cl); leaf != nil && g.certIdentity {
		cn := leaf.Subject.CommonName
		switch {
		case !verified:
			return false, "client certificate not verified against the device CA", ""
		case cn == "":
			return false, "client certificate has no subject CN", ""
		case cl.ID != cn:
			return false, "client id does not match certificate CN " + cn, ""
		case username != cn:
			return false, "username does not match certificate CN " + cn, ""
		}
		certOK = true
	}

	switch {
	case len(g.users) > 0 && credentials:
		want, known := g.users[username]
		got := sha256.Sum256(password)
		// Compare even for unknown users so timing does not reveal which usernames exist.
		match := subtle.ConstantTimeCompare(got[:], want[:]) == 1
		if !known || !match {
			return false, "bad username or password", ""
		}
		return true, "", username
	case len(g.users) > 0:
		if g.anonymous {
			return true, "", ""
		}
		return false, "no credentials", ""
	case certOK:
		return true, "", username
	case g.anonymous:
		return true, "", username
	case credentials:
		return false, "no credential store and anonymous access disabled", ""
	default:
		return false, "no credentials", ""
	}
}

// OnACLCheck enforces the per-device topic ACL when configured.
func (g *guard) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if !g.deviceACL {
		return true
	}
	id := identity(cl)
	if g.allowed(id, topic, write) {
		return true
	}
	g.counters.aclDenials.Add(1)
	op := "subscribe"
	if write {
		op = "publish"
	}
	g.Log.Info("mqtt acl denied", "client", cl.ID, "identity", id, "op", op, "topic", topic)
	g.record(secevent.ACLDeny, cl, id, secevent.Refused, op+" "+topic)
	return false
}

// OnDisconnect logs connections of connected clients ended for an oversize packet (the listener
// counts them, with those refused before CONNECT).
func (g *guard) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	if errors.Is(err, packets.ErrPacketTooLarge) {
		g.Log.Info("mqtt packet over the size limit; connection closed", "client", cl.ID, "remote", cl.Net.Remote)
	}
}

// identity is whom the ACL applies to: the username, else the client id. Authentication has
// already bound the username to the certificate CN (CertIdentity) or to a password (Users).
func identity(cl *mqtt.Client) string {
	if u := string(cl.Properties.Username); u != "" {
		return u
	}
	return cl.ID
}

// deviceAllowed is the per-device ACL: device X publishes under prefix/X/ and subscribes to
// prefix/X/cmd and below. A filter with wildcards is allowed only inside that subtree.
func deviceAllowed(prefix, id, topic string, write bool) bool {
	if !plainIdentity(id) {
		return false // an identity that is itself a pattern could match other devices' topics
	}
	// Cut rather than build prefix/id/: this runs on every PUBLISH, and a concatenation allocates.
	rest, ok := strings.CutPrefix(topic, prefix)
	if !ok || !strings.HasPrefix(rest, "/") {
		return false
	}
	if rest, ok = strings.CutPrefix(rest[1:], id); !ok {
		return false
	}
	if write {
		return strings.HasPrefix(rest, "/") && !strings.ContainsAny(topic, "+#")
	}
	// A device reads only below its own root (its commands, and its own telemetry echoed back):
	// wildcards after the root cannot reach another device's topics.
	return rest == "" || rest[0] == '/'
}

// peerCert returns the leaf client certificate of a TLS client and whether the TLS layer verified
// it, or nil for plaintext clients and TLS clients that presented none.
func peerCert(cl *mqtt.Client) (*x509.Certificate, bool) {
	cs, ok := connState(cl)
	if !ok || len(cs.PeerCertificates) == 0 {
		return nil, false
	}
	return cs.PeerCertificates[0], len(cs.VerifiedChains) > 0
}

func connState(cl *mqtt.Client) (tls.ConnectionState, bool) {
	c, ok := cl.Net.Conn.(interface{ ConnectionState() tls.ConnectionState })
	if !ok {
		return tls.ConnectionState{}, false
	}
	return c.ConnectionState(), true
}
