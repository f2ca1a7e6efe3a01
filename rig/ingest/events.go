package ingest

import (
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/pathrig/rig/rig/secevent"
	"github.com/pathrig/rig/rig/telemetry"
)

// What the ingest records of its security decisions: every refused request goes to
// Config.Events with the client's address, the status and the reason (never a header or the
// body). With Config.ClockSkewBound set, the ingest compares the gateway time of each accepted
// record with its own clock: a device whose gateway is further off than the bound gets a
// clock-skew event when it crosses it (one per crossing, not per record), and its current skew
// is kept for the metrics (ClockSkew).

// observer is the ingest's state for its events.
type observer struct {
	mu      sync.Mutex
	skew    map[string]time.Duration // device → gateway time minus ingest time, newest record
	skewed  map[string]bool          // devices currently beyond the bound
	crossed uint64                   // crossings of the bound, for the metrics
}

// refusedEvent records a refused request.
func (s *Server) refusedEvent(r *http.Request, status int, reason string) {
	if s.cfg.Events == nil {
		return
	}
	s.cfg.Events.Record(secevent.Event{Kind: secevent.IngestRefused, Outcome: secevent.Refused, Remote: r.RemoteAddr,
		Detail: fmt.Sprintf("%s %s: %d %s", r.Method, r.URL.Path, status, reason)})
}

// observeSkew compares the newest gateway time of each device in recs with now.
func (s *Server) observeSkew(recs []telemetry.Record, now time.Time) {
	bound := s.cfg.ClockSkewBound
	if bound <= 0 {
		return
	}
	newest := map[string]time.Time{}
	for _, r := range recs {
		if r.GatewayTime.After(newest[r.Device]) {
			newest[r.Device] = r.GatewayTime
		}
	}
	o := &s.obs
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.skew == nil {
		o.skew, o.skewed = map[string]time.Duration{}, map[string]bool{}
	}
	for dev, gt := range newest {
		d := gt.Sub(now)
		o.skew[dev] = d
		beyond := d > bound || d < -bound
		if beyond && !o.skewed[dev] {
			o.crossed++
			dir := "ahead of"
			if d < 0 {
				dir = "behind"
			}
			s.cfg.Events.Record(secevent.Event{Kind: secevent.ClockSkew, Outcome: secevent.Alert, Identity: dev,
				Detail: fmt.Sprintf("the gateway clock of device %s is %s %s the ingest's (bound %s)", dev, d.Abs().Round(time.Millisecond), dir, bound)})
			s.log.Info("gateway clock skew beyond the bound", "device", dev, "skew", d, "bound", bound)
		}
		o.skewed[dev] = beyond
	}
}

// SkewReading is one device's gateway clock skew as the ingest last saw it.
type SkewReading struct {
	Device string
	Skew   time.Duration // gateway time minus ingest time
	Beyond bool          // beyond Config.ClockSkewBound
}

// ClockSkew returns each device's last observed gateway clock skew, sorted by device, and the
// number of times a device crossed the bound; empty without Config.ClockSkewBound.
func (s *Server) ClockSkew() ([]SkewReading, uint64) {
	o := &s.obs
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]SkewReading, 0, len(o.skew))
	for dev, d := range o.skew {
		out = append(out, SkewReading{Device: dev, Skew: d, Beyond: o.skewed[dev]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out, o.crossed
}
