package broker

import (
	"context"
	"fmt"
)

// Restart stops b (if it still runs) and starts a new broker with the same configuration on the
// same bound addresses, as a broker process restarted by its supervisor would come back: clients
// reconnect to the address they know. Sessions, retained messages and in-flight QoS 1 state of
// the old broker are gone (mochi keeps them in memory). Inline subscribers (the bridge) must
// subscribe again on the new Server.
func (b *Broker) Restart(ctx context.Context) (*Broker, error) {
	cfg := b.cfg
	cfg.PlainAddr, cfg.TLSAddr = b.PlainAddr(), b.TLSAddr()
	if b.ws != nil {
		cfg.WebSocketAddr = b.ws.Address()
	}
	_ = b.Close()
	nb, err := Start(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("broker: restart on %s %s: %w", cfg.PlainAddr, cfg.TLSAddr, err)
	}
	return nb, nil
}
