package trust

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/netem"
	"github.com/pathrig/rig/rig/scenario"
)

// injector starts a fault and returns the function that lifts it.
type injector func(ctx context.Context, f scenario.Fault) (lift func() error, detail string, err error)

// play runs the timeline from t0: each fault starts at t0+At and is lifted Duration later.
// Faults run concurrently; each one's record holds when it really started and ended.
func (p *path) play(ctx context.Context, faults []scenario.Fault, t0 time.Time) []checks.FaultRecord {
	recs := make([]checks.FaultRecord, len(faults))
	var wg sync.WaitGroup
	for i, f := range faults {
		wg.Go(func() {
			rec := checks.FaultRecord{Kind: f.Kind, Params: params(f), PlannedAt: f.At.String()}
			if f.Duration > 0 {
				rec.PlannedFor = f.Duration.String()
			}
			if !sleepUntil(ctx, t0.Add(f.At.D())) {
				rec.Error = "run ended before the fault was due"
				recs[i] = rec
				return
			}
			rec.Started = time.Now()
			p.log.Info("fault injected", "kind", f.Kind, "at", f.At, "for", f.Duration)
			lift, detail, err := p.injector(f.Kind)(ctx, f)
			rec.Detail = detail
			if err != nil {
				rec.Error = err.Error()
				rec.Ended = time.Now()
				recs[i] = rec
				p.log.Error("fault injection failed", "kind", f.Kind, "err", err)
				return
			}
			sleepUntil(context.WithoutCancel(ctx), rec.Started.Add(f.Duration.D())) // always lift
			if lift != nil {
				if err := lift(); err != nil {
					rec.Error = "lift: " + err.Error()
					p.log.Error("fault could not be lifted", "kind", f.Kind, "err", err)
				}
			}
			rec.Ended = time.Now()
			p.log.Info("fault lifted", "kind", f.Kind)
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

func (p *path) setNet(change func(*netem.Conditions)) error {
	p.net.mu.Lock()
	defer p.net.mu.Unlock()
	change(&p.net.cur)
	return p.proxy.Set(p.net.cur)
}

func (p *path) injector(kind string) injector {
	switch kind {
	case scenario.FaultBrokerDown:
		return func(ctx context.Context, f scenario.Fault) (func() error, string, error) {
			p.mu.Lock()
			defer p.mu.Unlock()
			old := p.broker
			_ = old.Close() // clients are disconnected; the port refuses connections
			// The bridge lives beside the broker: what the broker acknowledged is forwarded before
			// the bridge goes (a broker process crash would lose it: see package bridge).
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := p.bridge.Drain(dctx)
			cancel()
			p.retireBridge()
			detail := "broker stopped on " + old.TLSAddr() + old.PlainAddr()
			if err != nil {
				detail += "; bridge drain: " + err.Error()
			}
			return func() error {
				p.mu.Lock()
				defer p.mu.Unlock()
				nb, err := old.Restart(p.ctx)
				if err != nil {
					return err
				}
				p.broker = nb
				return p.startBridge()
			}, detail, nil
		}
	case scenario.FaultNetworkCut:
		return func(_ context.Context, f scenario.Fault) (func() error, string, error) {
			err := p.setNet(func(c *netem.Conditions) { c.Cut = true })
			return func() error { return p.setNet(func(c *netem.Conditions) { c.Cut = false }) }, "gateway↔broker connections reset, new ones refused", err
		}
	case scenario.FaultNetworkLatency:
		return func(_ context.Context, f scenario.Fault) (func() error, string, error) {
			err := p.setNet(func(c *netem.Conditions) { c.Latency = f.Latency.D() })
			return func() error { return p.setNet(func(c *netem.Conditions) { c.Latency = 0 }) }, "", err
		}
	case scenario.FaultNetworkLoss:
		return func(_ context.Context, f scenario.Fault) (func() error, string, error) {
			err := p.setNet(func(c *netem.Conditions) { c.Loss = f.Loss })
			return func() error { return p.setNet(func(c *netem.Conditions) { c.Loss = 0 }) }, "each lost chunk costs one TCP retransmission timeout", err
		}
	case scenario.FaultNetworkBandwidth:
		return func(_ context.Context, f scenario.Fault) (func() error, string, error) {
			err := p.setNet(func(c *netem.Conditions) { c.RateBytes = f.Rate })
			return func() error { return p.setNet(func(c *netem.Conditions) { c.RateBytes = 0 }) }, "", err
		}
	case scenario.FaultIngestDown:
		return func(ctx context.Context, f scenario.Fault) (func() error, string, error) {
			p.mu.Lock()
			old := p.ingest
			err := old.Close()
			p.mu.Unlock()
			return func() error {
				p.mu.Lock()
				defer p.mu.Unlock()
				ns, err := old.Restart(p.ctx)
				if err != nil {
					return err
				}
				p.ingest = ns
				return nil
			}, "ingest stopped (the bridge retries)", err
		}
	case scenario.FaultUARTCorrupt:
		return p.eachDevice(func(d *device, f scenario.Fault) (func() error, error) {
			d.noisy.SetCorruption(f.ByteRate)
			return func() error { d.noisy.SetCorruption(0); return nil }, nil
		})
	case scenario.FaultUARTStall:
		return p.eachDevice(func(d *device, f scenario.Fault) (func() error, error) {
			d.noisy.Stall()
			return d.noisy.Resume, nil
		})
	case scenario.FaultUARTGarbage:
		return p.eachDevice(func(d *device, f scenario.Fault) (func() error, error) {
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
						if err := d.noisy.Garbage(f.Bytes); err != nil {
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
		return p.eachDevice(func(d *device, f scenario.Fault) (func() error, error) {
			if err := d.reset.Assert(p.ctx); err != nil {
				return nil, err
			}
			return func() error { return d.reset.Release(context.WithoutCancel(p.ctx)) }, nil
		})
	case scenario.FaultPowerCut:
		return p.eachDevice(func(d *device, f scenario.Fault) (func() error, error) {
			if err := d.power.Set(p.ctx, false); err != nil {
				return nil, err
			}
			return func() error { return d.power.Set(context.WithoutCancel(p.ctx), true) }, nil
		})
	case scenario.FaultGatewayCrash:
		return p.eachDevice(func(d *device, f scenario.Fault) (func() error, error) {
			if err := p.kill(d); err != nil {
				return nil, err
			}
			return func() error { return p.spawn(d) }, nil
		})
	case scenario.FaultClockSkew:
		return p.eachDevice(func(d *device, f scenario.Fault) (func() error, error) {
			d.emu.SkewClock(f.Skew.D())
			return nil, nil
		})
	}
	return func(context.Context, scenario.Fault) (func() error, string, error) {
		return nil, "", fmt.Errorf("trust: no injector for fault kind %q", kind)
	}
}

// eachDevice applies a device-level fault to every device of the run.
func (p *path) eachDevice(start func(*device, scenario.Fault) (func() error, error)) injector {
	return func(_ context.Context, f scenario.Fault) (func() error, string, error) {
		var lifts []func() error
		for _, d := range p.devices {
			lift, err := start(d, f)
			if err != nil {
				for _, l := range lifts {
					_ = l()
				}
				return nil, "", fmt.Errorf("device %s: %w", d.uid, err)
			}
			if lift != nil {
				lifts = append(lifts, lift)
			}
		}
		detail := fmt.Sprintf("%d device(s)", len(p.devices))
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
