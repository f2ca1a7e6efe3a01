package trust

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/netem"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/rig/stack"
)

// injector starts a fault and returns the function that lifts it.
type injector func(ctx context.Context, f scenario.Fault) (lift func() error, detail string, err error)

// play runs the timeline from t0: each fault starts at t0+At and is lifted Duration later.
// Faults run concurrently; each one's record holds when it really started and ended.
func (r *Runner) play(ctx context.Context, faults []scenario.Fault, t0 time.Time) []check.FaultRecord {
	recs := make([]check.FaultRecord, len(faults))
	var wg sync.WaitGroup
	for i, f := range faults {
		wg.Go(func() {
			rec := check.FaultRecord{Kind: f.Kind, Params: params(f), PlannedAt: f.At.String()}
			if f.Duration > 0 {
				rec.PlannedFor = f.Duration.String()
			}
			if !sleepUntil(ctx, t0.Add(f.At.D())) {
				rec.Error = "run ended before the fault was due"
				recs[i] = rec
				return
			}
			rec.Started = time.Now()
			r.log.Info("fault injected", "kind", f.Kind, "at", f.At, "for", f.Duration)
			lift, detail, err := r.injector(f.Kind)(ctx, f)
			rec.Detail = detail
			if err != nil {
				rec.Error = err.Error()
				rec.Ended = time.Now()
				recs[i] = rec
				r.log.Error("fault injection failed", "kind", f.Kind, "err", err)
				return
			}
			sleepUntil(context.WithoutCancel(ctx), rec.Started.Add(f.Duration.D())) // always lift
			if lift != nil {
				if err := lift(); err != nil {
					rec.Error = "lift: " + err.Error()
					r.log.Error("fault could not be lifted", "kind", f.Kind, "err", err)
				}
			}
			rec.Ended = time.Now()
			r.log.Info("fault lifted", "kind", f.Kind)
			recs[i] = rec
		})
	}
	wg.Wait()
	return recs
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func params(f scenario.Fault) map[string]any {
	m := map[string]any{}
	if f.Latency != 0 {
		m["latency"] = f.Latency.String()
	}
	if f.Loss != 0 {
		m["loss"] = f.Loss
	}
	if f.Rate != 0 {
		m["rate_bytes"] = f.Rate
	}
	if f.ByteRate != 0 {
		m["byte_rate"] = f.ByteRate
	}
	if f.Bytes != 0 {
		m["bytes"] = f.Bytes
	}
	if f.Every != 0 {
		m["every"] = f.Every.String()
	}
	if f.Skew != 0 {
		m["skew"] = f.Skew.String()
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// netCond composes overlapping network faults: each kind sets and clears its own field.
type netCond struct {
	mu  sync.Mutex
	cur netem.Conditions
}

func (r *Runner) setNet(change func(*netem.Conditions)) error {
	r.net.mu.Lock()
	defer r.net.mu.Unlock()
	change(&r.net.cur)
	p := r.st.Proxy()
	if p == nil {
		return fmt.Errorf("trust: no network emulator on this path (the stack starts one only for a timeline with a network fault)")
	}
	return p.Set(r.net.cur)
}

func (r *Runner) injector(kind string) injector {
	st := r.st
	interval := r.plan.Scenario.Device.TelemetryInterval.D()
	switch kind {
	case scenario.FaultBrokerDown:
		return func(ctx context.Context, f scenario.Fault) (func() error, string, error) {
			// The bridge lives beside the broker: what the broker acknowledged is forwarded before
			// the bridge goes (a broker process crash would lose it: see package bridge).
			return st.RestartBroker, st.StopBroker(ctx), nil
		}
	case scenario.FaultNetworkCut:
		return func(_ context.Context, f scenario.Fault) (func() error, string, error) {
			err := r.setNet(func(c *netem.Conditions) { c.Cut = true })
			return func() error { return r.setNet(func(c *netem.Conditions) { c.Cut = false }) }, "gateway↔broker connections reset, new ones refused", err
		}
	case scenario.FaultNetworkLatency:
		return func(_ context.Context, f scenario.Fault) (func() error, string, error) {
			err := r.setNet(func(c *netem.Conditions) { c.Latency = f.Latency.D() })
			return func() error { return r.setNet(func(c *netem.Conditions) { c.Latency = 0 }) }, "", err
		}
	case scenario.FaultNetworkLoss:
		return func(_ context.Context, f scenario.Fault) (func() error, string, error) {
			err := r.setNet(func(c *netem.Conditions) { c.Loss = f.Loss })
			return func() error { return r.setNet(func(c *netem.Conditions) { c.Loss = 0 }) }, "each lost chunk costs one TCP retransmission timeout", err
		}
	case scenario.FaultNetworkBandwidth:
		return func(_ context.Context, f scenario.Fault) (func() error, string, error) {
			err := r.setNet(func(c *netem.Conditions) { c.RateBytes = f.Rate })
			return func() error { return r.setNet(func(c *netem.Conditions) { c.RateBytes = 0 }) }, "", err
		}
	case scenario.FaultIngestDown:
		return func(ctx context.Context, f scenario.Fault) (func() error, string, error) {
			return st.RestartIngest, "ingest stopped (the bridge retries)", st.StopIngest()
		}
	case scenario.FaultUARTCorrupt:
		return r.eachDevice(func(_ context.Context, u *stack.Unit, f scenario.Fault) (func() error, error) {
			l := u.Dev.Relay().Line()
			l.SetCorruption(f.ByteRate)
			return func() error { l.SetCorruption(0); return nil }, nil
		})
	case scenario.FaultUARTStall:
		return r.eachDevice(func(_ context.Context, u *stack.Unit, f scenario.Fault) (func() error, error) {
			l := u.Dev.Relay().Line()
			l.Stall()
			return l.Resume, nil
		})
	case scenario.FaultUARTCut:
		return r.eachDevice(func(_ context.Context, u *stack.Unit, f scenario.Fault) (func() error, error) {
			l := u.Dev.Relay().Line()
			l.Cut(true)
			return func() error { l.Cut(false); return nil }, nil
		})
	case scenario.FaultUARTGarbage:
		return r.eachDevice(func(_ context.Context, u *stack.Unit, f scenario.Fault) (func() error, error) {
			l := u.Dev.Relay().Line()
			stop := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				t := time.NewTicker(f.Every.D())
				defer t.Stop()
				for {
					select {
					case <-stop:
						done <- nil
						return
					case <-t.C:
						if err := l.Garbage(f.Bytes); err != nil {
							<-stop
							done <- err
							return
						}
					}
				}
			}()
			return func() error { close(stop); return <-done }, nil
		})
	case scenario.FaultDeviceReset:
		return r.eachDevice(func(ctx context.Context, u *stack.Unit, f scenario.Fault) (func() error, error) {
			if err := u.Dev.HoldReset(ctx); err != nil {
				return nil, err
			}
			return func() error {
				ctx := context.WithoutCancel(ctx)
				if err := u.Dev.ReleaseReset(ctx, 5*time.Second); err != nil {
					return err
				}
				return u.Dev.MakeReady(ctx, u.ID, interval)
			}, nil
		})
	case scenario.FaultPowerCut:
		return r.eachDevice(func(ctx context.Context, u *stack.Unit, f scenario.Fault) (func() error, error) {
			if err := u.Dev.PowerCut(ctx); err != nil {
				return nil, err
			}
			return func() error {
				ctx := context.WithoutCancel(ctx)
				if err := u.Dev.PowerRestore(ctx, 10*time.Second); err != nil {
					return err
				}
				return u.Dev.MakeReady(ctx, u.ID, interval)
			}, nil
		})
	case scenario.FaultGatewayCrash:
		return r.eachDevice(func(_ context.Context, u *stack.Unit, f scenario.Fault) (func() error, error) {
			if err := u.KillGateway(); err != nil {
				return nil, err
			}
			return u.RestartGateway, nil
		})
	case scenario.FaultClockSkew:
		return r.eachDevice(func(ctx context.Context, u *stack.Unit, f scenario.Fault) (func() error, error) {
			return nil, u.Dev.SkewClock(ctx, f.Skew.D())
		})
	}
	return func(context.Context, scenario.Fault) (func() error, string, error) {
		return nil, "", fmt.Errorf("trust: no injector for fault kind %q", kind)
	}
}

// eachDevice applies a device-level fault to every device of the run.
func (r *Runner) eachDevice(start func(context.Context, *stack.Unit, scenario.Fault) (func() error, error)) injector {
	return func(ctx context.Context, f scenario.Fault) (func() error, string, error) {
		var lifts []func() error
		units := r.st.Units()
		for _, u := range units {
			lift, err := start(ctx, u, f)
			if err != nil {
				for _, l := range lifts {
					_ = l()
				}
				return nil, "", fmt.Errorf("device %s: %w", u.ID, err)
			}
			if lift != nil {
				lifts = append(lifts, lift)
			}
		}
		detail := fmt.Sprintf("%d device(s)", len(units))
		if len(lifts) == 0 {
			return nil, detail, nil
		}
		return func() error {
			var first error
			for _, l := range lifts {
				if err := l(); err != nil && first == nil {
					first = err
				}
			}
			return first
		}, detail, nil
	}
}
