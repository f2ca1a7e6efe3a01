package engine

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/evidence"
	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/stack"
)

// timelineBucket is the width of one timeline bucket.
const timelineBucket = 100 * time.Millisecond

// trustSeriesMax is the most device boots a trust timeline draws one by one; a fleet is summed
// into one series (a thousand polylines read as noise).
const trustSeriesMax = 3

// trustRecorder keeps the report of the run's telemetry-trust run for the timeline: the check
// writes its own evidence, the engine draws the faulted path's telemetry from the same report.
type trustRecorder struct {
	check.TrustRunner
	mu  sync.Mutex
	ran bool
	rep *check.TrustReport
}

func (t *trustRecorder) RunTrust(ctx context.Context) (*check.TrustReport, error) {
	rep, err := t.TrustRunner.RunTrust(ctx)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ran = true
	if rep != nil {
		t.rep = rep
	}
	return rep, err
}

// result says whether the trust check ran and what its run reported (nil when it failed).
func (t *trustRecorder) result() (bool, *check.TrustReport) {
	if t == nil {
		return false, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ran, t.rep
}

// writeTimeline keeps the delivered-frames timeline as evidence, for the HTML report. A run that
// ran the telemetry-trust check draws the trust path (the one the faults were played on), with
// the fault windows and the frames sent and lost; any other run draws the audit stack's store.
func writeTimeline(ev *evidence.Store, st *stack.Stack, tr *trustRecorder, start time.Time) error {
	var tl any
	if ran, rep := tr.result(); tr != nil && ran {
		if rep == nil {
			// The trust run failed: its check is an error result. The audit stack's steady line
			// would pass for the faulted path's telemetry, so there is no timeline.
			return nil
		}
		tl = trustTimeline(rep, start, timelineBucket)
	} else {
		stl, err := st.Timeline(start, timelineBucket)
		if err != nil {
			return err
		}
		tl = stl
	}
	_, err := ev.WriteJSON("telemetry", "timeline.json", tl)
	return err
}

// trustTimeline buckets the trust report's flow by time since start: frames stored by arrival at
// the ingest, frames sent and lost by when the gateway read (or would have read) them, and one
// window per injected fault from its real start to its real end.
func trustTimeline(rep *check.TrustReport, start time.Time, bucket time.Duration) *record.Timeline {
	at := func(t time.Time) int { return max(0, int(t.Sub(start)/bucket)) }
	count := func(ts []time.Time, into *[]int) {
		for _, t := range ts {
			i := at(t)
			for len(*into) <= i {
				*into = append(*into, 0)
			}
			(*into)[i]++
		}
	}
	flows := append([]check.TrustFlow(nil), rep.Flow...)
	sort.Slice(flows, func(i, j int) bool {
		if flows[i].Device != flows[j].Device {
			return flows[i].Device < flows[j].Device
		}
		return flows[i].Boot < flows[j].Boot
	})
	var series []record.TimelineSeries
	if len(flows) <= trustSeriesMax {
		for _, f := range flows {
			s := record.TimelineSeries{Device: f.Device, Boot: f.Boot}
			count(f.Stored, &s.Delivered)
			count(f.Sent, &s.Sent)
			count(f.Lost, &s.Lost)
			series = append(series, s)
		}
	} else {
		devices := map[string]bool{}
		s := record.TimelineSeries{}
		for _, f := range flows {
			devices[f.Device] = true
			count(f.Stored, &s.Delivered)
			count(f.Sent, &s.Sent)
			count(f.Lost, &s.Lost)
		}
		s.Device = "all"
		s.Label = fmt.Sprintf("all %d devices (%d device boots), summed", len(devices), len(flows))
		series = append(series, s)
	}
	// One length for every array, so a reader compares sent, stored and lost bucket by bucket.
	n := 0
	for _, s := range series {
		n = max(n, len(s.Delivered), len(s.Sent), len(s.Lost))
	}
	pad := func(v []int) []int {
		if v == nil {
			v = []int{}
		}
		for len(v) < n {
			v = append(v, 0)
		}
		return v
	}
	for i := range series {
		series[i].Delivered, series[i].Sent, series[i].Lost = pad(series[i].Delivered), pad(series[i].Sent), pad(series[i].Lost)
	}
	tl := &record.Timeline{
		BucketMs: bucket.Milliseconds(),
		Source:   "telemetry-trust path",
		Series:   append([]record.TimelineSeries{}, series...),
		Windows:  []record.TimelineWindow{},
	}
	for _, f := range rep.Faults {
		if f.Started.IsZero() {
			continue // never injected: the run ended first
		}
		end := f.Ended
		if end.IsZero() {
			end = f.Started
		}
		label := f.Kind + "@" + f.PlannedAt
		if f.PlannedFor != "" {
			label += " for " + f.PlannedFor
		}
		tl.Windows = append(tl.Windows, record.TimelineWindow{Label: label, FromMs: f.Started.Sub(start).Milliseconds(), ToMs: end.Sub(start).Milliseconds()})
	}
	return tl
}
