package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/pathrig/rig/rig/secevent"
)

// What the gateway records of its device: every frame that failed to decode goes to
// Config.Events (a uart-malformed event naming the device and the protocol's reason), and with
// Config.GapAlert set, a device that sends no valid frame for that long raises an alert (Alerts,
// and a device-silent event), cleared by its next frame.

// observer is the gateway's state for its events; guarded by Gateway.mu.
type observer struct {
	last   time.Time // the newest valid frame (wall clock: Config.Now may be skewed on purpose)
	silent bool
	since  time.Time // when the alert was raised
	detail string
}

// Alert is an alert the gateway holds active.
type Alert struct {
	Name   string    `json:"name"`   // DeviceSilent
	Device string    `json:"device"` // UID, or the port while the device is unknown
	Since  time.Time `json:"since"`
	Detail string    `json:"detail"`
}

// AlertDeviceSilent names the gap alert.
const AlertDeviceSilent = "DeviceSilent"

// deviceNameLocked is how events name the device: its UID, or the port until it is known.
func (g *Gateway) deviceNameLocked() string {
	if g.identity.UID != "" {
		return g.identity.UID
	}
	if g.cfg.Link != nil {
		return g.cfg.Link.Name()
	}
	return g.cfg.Port
}

// frameSeenLocked notes a valid frame: the device is not silent.
func (g *Gateway) frameSeenLocked() {
	g.obs.last = time.Now()
	if g.obs.silent {
		g.obs.silent = false
		g.log.Info("device speaks again; gap alert cleared", "device", g.deviceNameLocked(), "silent_for", time.Since(g.obs.since).Round(time.Millisecond))
	}
}

// badFrameLocked records a frame that failed to decode.
func (g *Gateway) badFrameLocked(reason string, err error) {
	if g.cfg.Events == nil {
		return
	}
	g.cfg.Events.Record(secevent.Event{Kind: secevent.UARTMalformed, Outcome: secevent.Refused, Identity: g.deviceNameLocked(),
		Remote: g.portName(), Detail: fmt.Sprintf("%s: %v", reason, err)})
}

func (g *Gateway) portName() string {
	if g.cfg.Link != nil {
		return g.cfg.Link.Name()
	}
	return g.cfg.Port
}

// watchSilence raises the gap alert when no valid frame came for Config.GapAlert; it returns
// when ctx ends.
func (g *Gateway) watchSilence(ctx context.Context) {
	gap := g.cfg.GapAlert
	if gap <= 0 {
		return
	}
	g.mu.Lock()
	g.obs.last = time.Now() // a device that never speaks is silent from the start
	g.mu.Unlock()
	// A quarter of the bound: the alert is raised within 1.25 × the bound, and a fleet of
	// gateways wakes four times per bound each, not more.
	tick := time.NewTicker(max(gap/4, 5*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		g.mu.Lock()
		if quiet := time.Since(g.obs.last); !g.obs.silent && quiet > gap {
			g.obs.silent, g.obs.since = true, time.Now()
			dev := g.deviceNameLocked()
			g.obs.detail = fmt.Sprintf("no frame from device %s for %s (bound %s)", dev, quiet.Round(time.Millisecond), gap)
			g.cfg.Events.Record(secevent.Event{Kind: secevent.DeviceSilent, Outcome: secevent.Alert, Identity: dev, Remote: g.portName(), Detail: g.obs.detail})
			g.log.Info("device silent; gap alert raised", "device", dev, "quiet", quiet, "bound", gap)
		}
		g.mu.Unlock()
	}
}

// Alerts returns the alerts the gateway holds active (at most the gap alert).
func (g *Gateway) Alerts() []Alert {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.obs.silent {
		return nil
	}
	return []Alert{{Name: AlertDeviceSilent, Device: g.deviceNameLocked(), Since: g.obs.since, Detail: g.obs.detail}}
}
