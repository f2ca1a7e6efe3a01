package broker

import (
	"fmt"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pathrig/rig/rig/secevent"
)

// What the broker records of its security decisions: every CONNECT accepted or refused and every
// publish or subscription the ACL refused goes to Config.Events (nil: nothing is recorded), with
// the client's address and identity and never its password. Config.CredentialLog reproduces a
// common finding on purpose: a debug log that writes the credentials each CONNECT carried.

// connectEvent records the outcome of one CONNECT.
func (g *guard) connectEvent(cl *mqtt.Client, pk packets.Packet, ok bool, reason string) {
	if g.credLog != nil {
		// The exposed profile's finding: a debug line with the password in it.
		g.credLog.Debug("mqtt connect", "client", cl.ID, "username", string(pk.Connect.Username),
			"password", string(pk.Connect.Password), "remote", cl.Net.Remote)
	}
	if g.events == nil {
		return
	}
	e := secevent.Event{Kind: secevent.AuthSuccess, Outcome: secevent.Accepted, Identity: eventIdentity(cl.ID, string(pk.Connect.Username)),
		Remote: cl.Net.Remote, Detail: fmt.Sprintf("listener %s client id %q", cl.Net.Listener, cl.ID)}
	if !ok {
		e.Kind, e.Outcome = secevent.AuthFailure, secevent.Refused
		e.Detail += ": " + reason
	}
	g.events.Record(e)
}

// aclEvent records a publish or subscription the ACL refused.
func (g *guard) aclEvent(cl *mqtt.Client, id, op, topic string) {
	if g.events == nil {
		return
	}
	g.events.Record(secevent.Event{Kind: secevent.ACLDeny, Outcome: secevent.Refused, Identity: id, Remote: cl.Net.Remote,
		Detail: fmt.Sprintf("%s %s (client id %q)", op, topic, cl.ID)})
}

// eventIdentity is who a CONNECT claimed to be: the username, else the client id.
func eventIdentity(clientID, username string) string {
	if username != "" {
		return username
	}
	return clientID
}
