package stack

import (
	"github.com/pathrig/rig/rig/broker"
	"github.com/pathrig/rig/rig/scenario"
)

// identityConfig sets the broker's identity rules and WebSocket listener from the profile: client
// ids bound to identities, the failed-login lockout, wills under the ACL, and ws:// or wss:// (the
// TLS listener's certificate and client-certificate rule) on an ephemeral loopback port.
func identityConfig(bc *broker.Config, b scenario.BrokerProfile) {
	bc.Identity = broker.IdentityConfig{
		BoundClientID: b.Identity.ClientID == scenario.ClientIDBound,
		WillACL:       b.Identity.WillACL,
	}
	if lo := b.Identity.Lockout; lo != nil {
		bc.Identity.LockoutAttempts, bc.Identity.LockoutWindow = lo.Attempts, lo.Window.D()
	}
	if b.WebSocket.Enabled {
		bc.WebSocketAddr = "127.0.0.1:0"
		if b.WebSocket.TLS {
			bc.WebSocketTLS = bc.TLS // validated: wss needs the TLS listener
		}
	}
}

// webSocketTargets names the broker's WebSocket listener for the checks, when it has one.
func webSocketTargets(b *broker.Broker) []string {
	if u := b.WebSocketURL(); u != "" {
		return []string{u}
	}
	return nil
}
