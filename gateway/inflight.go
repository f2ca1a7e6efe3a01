package gateway

import (
	"context"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// inflight is a gateway's publish tokens not yet accounted for, in publish order. The publishing
// goroutine accounts for them itself, in order, between publishes and while it waits for work —
// no waiter goroutine per device: publishing stays pipelined (up to maxInflight) and every
// publish is counted once, as acknowledged, failed or timed out.
type inflight struct {
	q     []flight
	timer *time.Timer // fires at the head's deadline while the publisher waits; made on first use
}

type flight struct {
	tok mqtt.Token
	by  time.Time // the token counts as timed out when not complete by then
}

func (f *inflight) add(tok mqtt.Token, timeout time.Duration) {
	f.q = append(f.q, flight{tok: tok, by: time.Now().Add(timeout)})
}

func (f *inflight) full() bool { return len(f.q) >= maxInflight }

func (f *inflight) pop() {
	f.q[0] = flight{}
	f.q = f.q[1:]
}

// reap accounts for the tokens at the head that completed or are past their deadline.
func (f *inflight) reap(g *Gateway) {
	for len(f.q) > 0 {
		h := f.q[0]
		select {
		case <-h.tok.Done():
			g.countPublish(h.tok.Error())
		default:
			if time.Now().Before(h.by) {
				return
			}
			g.log.Warn("publish not acknowledged in time", "timeout", g.cfg.PublishTimeout)
			g.countTimeout()
		}
		f.pop()
	}
}

// wait blocks until ctx ends, work arrives, the head token completes or its deadline passes.
func (f *inflight) wait(ctx context.Context, work <-chan struct{}) {
	if len(f.q) == 0 {
		select {
		case <-ctx.Done():
		case <-work:
		}
		return
	}
	h := f.q[0]
	t := f.arm(h.by)
	select {
	case <-ctx.Done():
	case <-work:
	case <-h.tok.Done():
	case <-t:
	}
}

// arm sets the timer to fire at by and returns its channel.
func (f *inflight) arm(by time.Time) <-chan time.Time {
	d := max(time.Until(by), 0)
	if f.timer == nil {
		f.timer = time.NewTimer(d)
	} else {
		f.timer.Reset(d) // Go ≥ 1.23: no stale value is left in the channel
	}
	return f.timer.C
}

// finish accounts for every token left when publishing ended: they share one short grace
// (shutdownGrace) instead of PublishTimeout each; what is not complete by then is a timeout.
func (f *inflight) finish(g *Gateway) {
	if f.timer != nil {
		defer f.timer.Stop()
	}
	graceEnd := time.Now().Add(shutdownGrace)
	for len(f.q) > 0 {
		h := f.q[0]
		by := h.by
		if graceEnd.Before(by) {
			by = graceEnd
		}
		select {
		case <-h.tok.Done():
			g.countPublish(h.tok.Error())
		case <-f.arm(by):
			g.countTimeout()
		}
		f.pop()
	}
}
