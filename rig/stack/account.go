package stack

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pathrig/rig/gateway"
	"github.com/pathrig/rig/rig/account"
	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/dut"
	"github.com/pathrig/rig/rig/link"
)

// Account implements check.Telemetry: the path's telemetry balance over the run's window, for
// GUARD-HEALTH. Telemetry keeps flowing; the device is left as it was.
func (s *Stack) Account(ctx context.Context, drain time.Duration) (*check.Accounting, error) {
	return s.Balance(ctx, drain, nil)
}

// Balance reads every device's counters over its UART (STATS, BOOT_STATS), waits up to drain for
// the store to hold every frame sent in the window (less those an injected UART fault took), and
// balances the three records of those frames (rig/account). faults, when given, are the run's
// fault timeline (loss attribution and recovery).
func (s *Stack) Balance(ctx context.Context, drain time.Duration, faults []check.FaultRecord) (*check.Accounting, error) {
	devs, err := s.counts(ctx)
	if err != nil {
		return nil, err
	}
	s.drain(ctx, devs, drain)
	acc, err := account.Compute(s.Store(), devs, faults)
	if err != nil {
		return nil, err
	}
	if fails := s.OwnFailures(); len(fails) > 0 {
		return acc, ownError(fails)
	}
	return acc, nil
}

// counts asks every device (in parallel, bounded) what it sent in the window.
func (s *Stack) counts(ctx context.Context) ([]account.Device, error) {
	devs := make([]account.Device, len(s.units))
	errs := make([]error, len(s.units))
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i, u := range s.units {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := u.Dev.Count(ctx)
			if err != nil {
				errs[i] = err
				return
			}
			r := u.Dev.Relay()
			devs[i] = account.Device{UID: u.ID, Counts: c, Tap: r.Tap(), Damaged: r.Line().Stats().Damaged}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("stack: count the telemetry sent over the UART: %w", err)
		}
	}
	return devs, nil
}

// drain waits until the store holds every frame of the window, or until timeout. Devices whose
// frames are all in drop out of the polling; those still behind are counted in one pass over the
// store per poll.
func (s *Stack) drain(ctx context.Context, devs []account.Device, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	pending := devs
	for len(pending) > 0 && ctx.Err() == nil {
		next, err := account.Behind(s.Store(), pending) // one pass over the store for all of them
		if err != nil {
			s.log.Warn("drain: could not count the stored frames; retrying", "error", err)
		}
		pending = next
		if len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.log.Warn("the store did not catch up with the devices within the drain timeout", "timeout", timeout, "devices_behind", len(pending))
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Inject implements check.UART: it writes b onto the UART toward the gateway, between two of the
// device's frames (the relay forwards frames whole).
func (s *Stack) Inject(ctx context.Context, b []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(s.units) == 0 || s.units[0].Gateway() == nil {
		return check.ErrNoUART
	}
	return s.units[0].Dev.Relay().Line().Inject(b)
}

// Frames returns the first gateway's valid and rejected frame counts.
func (s *Stack) Frames() (ok, bad uint64) {
	st := s.GatewayStats()
	for _, n := range st.BadFrames {
		bad += n
	}
	return st.FramesOK, bad
}

// Ping sends PING to the device through the first gateway and waits for the RESPONSE.
func (s *Stack) Ping(ctx context.Context) error {
	if len(s.units) == 0 || s.units[0].Gateway() == nil {
		return check.ErrNoUART
	}
	_, err := s.units[0].Gateway().Command(ctx, 0x01, nil)
	return err
}

// GatewayStats returns the first in-process gateway's counters (zero for a gateway process).
func (s *Stack) GatewayStats() gateway.Stats {
	if len(s.units) == 0 || s.units[0].Gateway() == nil {
		return gateway.Stats{BadFrames: map[string]uint64{}}
	}
	return s.units[0].Gateway().Stats()
}

// DeviceSteps returns each device's lifecycle steps (evidence of what the rig did to it).
func (s *Stack) DeviceSteps() map[string][]dut.Step {
	out := map[string][]dut.Step{}
	for _, u := range s.units {
		out[u.ID] = u.Dev.Steps()
	}
	return out
}

// Components gathers the counters of the path's parts, for evidence.
func (s *Stack) Components() map[string]any {
	out := map[string]any{}
	s.mu.Lock()
	bridges := append(append([]any(nil), anySlice(s.retired)...), s.bridge.Stats())
	out["broker"] = s.broker.Stats()
	s.mu.Unlock()
	out["bridge"] = bridges
	if s.proxy != nil {
		out["network"] = s.proxy.Stats()
	}
	out["lines"] = s.lineRec.Transitions()
	var gw gateway.Stats
	gw.BadFrames = map[string]uint64{}
	var noise []link.NoiseStats
	var relays []any
	inProcess := 0
	var overrun uint64
	for _, u := range s.units {
		r := u.Dev.Relay()
		if o, ok := r.Host().(interface{ Overrun() uint64 }); ok {
			overrun += o.Overrun()
		}
		ns := r.Line().Stats()
		if len(s.units) > 1 {
			ns.Damaged = nil // per-frame detail only for a single device
		}
		noise = append(noise, ns)
		if len(s.units) <= 4 {
			relays = append(relays, r.Stats())
		}
		g := u.Gateway()
		if g == nil {
			continue
		}
		inProcess++
		st := g.Stats()
		gw.FramesOK += st.FramesOK
		gw.Telemetry += st.Telemetry
		gw.Published += st.Published
		gw.PublishErrors += st.PublishErrors
		gw.PublishTimeouts += st.PublishTimeouts
		gw.QueueDropped += st.QueueDropped
		gw.SeqGaps += st.SeqGaps
		gw.Reboots += st.Reboots
		gw.Spooled += st.Spooled
		gw.SpoolDepth += st.SpoolDepth
		gw.SpoolEvicted += st.SpoolEvicted
		gw.Reconnects += st.Reconnects
		for k, v := range st.BadFrames {
			gw.BadFrames[k] += v
		}
	}
	if inProcess > 0 {
		out["gateways"] = gw
	} else {
		out["gateways"] = "gateway processes: see their logs in the run's work folder"
	}
	if len(noise) <= 4 {
		out["uart"] = noise
		out["relay"] = relays
		out["device_steps"] = s.DeviceSteps()
	}
	out["uart_overrun_bytes"] = overrun // bytes a gateway did not read in time (in-memory links: a tty's buffer)
	if exits := s.GatewayExits(); len(exits) > 0 {
		out["gateway_exits"] = exits
	}
	return out
}

func anySlice[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}
