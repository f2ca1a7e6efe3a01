package broker

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// credentialLine writes the credentials a CONNECT carried to Config.CredentialLog: a common
// finding (a debug log that records what it saw), reproduced on purpose by the exposed profile
// so that OBS-LOG-SECRETS has something real to find. Nil in every hardened profile. The
// broker's security events (refusals, lockouts, ACL denials) are recorded by the guard itself
// (identity.go).
func (g *guard) credentialLine(cl *mqtt.Client, pk packets.Packet) {
	if g.credLog == nil {
		return
	}
	g.credLog.Debug("mqtt connect", "client", cl.ID, "username", string(pk.Connect.Username),
		"password", string(pk.Connect.Password), "remote", cl.Net.Remote)
}
