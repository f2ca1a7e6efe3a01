package stack

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/pathrig/rig/gateway"
	"github.com/pathrig/rig/rig/scenario"
)

// Multi-device gateways. With fleet.devices_per_gateway above 1, a fault run's devices are
// grouped in device order; each group's gateways publish through one MQTT session (gateway.Shared)
// under a gateway identity of its own — a password, a client certificate, a client id — which
// the broker's per-device ACL lets publish under its devices' topics only (broker.Config.Gateways).
// Each device still has its own relay, tap and gateway, so every frame is accounted per device.

// gatewayGroups returns the gateway identity of each device ("" for a device with a session of
// its own) and each identity's devices, in device order.
func (s *Stack) gatewayGroups(specs []unitSpec) (of []string, groups map[string][]string, err error) {
	per := s.plan.Scenario.Fleet.DevicesPerGateway
	if !s.cfg.Faults || per <= 1 || len(specs) <= 1 {
		return make([]string, len(specs)), nil, nil
	}
	if s.processGateway() {
		return nil, nil, fmt.Errorf("stack: fleet.devices_per_gateway %d needs in-process gateways (trust.gateway: in-process)", per)
	}
	if s.prof.Gateway.Spool {
		return nil, nil, fmt.Errorf("stack: fleet.devices_per_gateway %d: profile %s spools, and a spooled gateway publishes through a session of its own (set devices_per_gateway: 1)", per, s.prof.Name)
	}
	of = make([]string, len(specs))
	groups = map[string][]string{}
	for i, us := range specs {
		id := fmt.Sprintf("gateway-%05d", i/per)
		of[i] = id
		groups[id] = append(groups[id], us.id)
	}
	return of, groups, nil
}

// startSessions makes each group's shared session (it dials on its first device's demand).
func (s *Stack) startSessions(groups map[string][]string) error {
	s.sessions = make(map[string]*gateway.Shared, len(groups))
	g := s.prof.Gateway
	for id := range groups {
		c := gateway.Config{
			BrokerURL: s.brokerURL(), TLS: s.gatewayTLS(id), QoS: g.QoS, ClientID: id,
			Log:            s.clog.With("component", "gateway", "gateway", id),
			Backoff:        gateway.Backoff{Min: g.Backoff.Min.D(), Max: g.Backoff.Max.D(), Jitter: g.Backoff.Jitter},
			PublishTimeout: 5 * time.Second,
		}
		if s.memoryBroker() {
			tlsOn := g.Transport == scenario.TransportTLS
			c.Dial = func(context.Context) (net.Conn, error) { return s.currentBroker().Dial(tlsOn) }
		}
		if s.prof.Broker.DeviceAuth != scenario.AuthNone {
			c.Username, c.Password = id, s.passwords[id]
		}
		sh, err := gateway.NewShared(c)
		if err != nil {
			return fmt.Errorf("stack: session of %s: %w", id, err)
		}
		s.sessions[id] = sh
	}
	return nil
}

// closeSessions disconnects the shared sessions, after every gateway returned from Run.
func (s *Stack) closeSessions() {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, sh := range s.sessions {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			sh.Close()
		})
	}
	wg.Wait()
}
