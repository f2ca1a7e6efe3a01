package stack

import (
	"fmt"
	"time"

	"github.com/pathrig/rig/rig/record"
)

// Timeline buckets every frame the ingest store holds by its arrival time, relative to start, so
// a report can draw delivered frames over the run. Stored records are read straight from the
// store (the rig owns it); a path the rig did not start has no timeline.
func (s *Stack) Timeline(start time.Time, bucket time.Duration) (*record.Timeline, error) {
	if bucket <= 0 {
		bucket = 100 * time.Millisecond
	}
	stats, err := s.Store().Stats()
	if err != nil {
		return nil, fmt.Errorf("stack: timeline: %w", err)
	}
	tl := &record.Timeline{BucketMs: bucket.Milliseconds(), Series: []record.TimelineSeries{}, Windows: []record.TimelineWindow{}}
	for _, st := range stats {
		recs, err := s.Store().Records(st.Device, st.Boot)
		if err != nil {
			return nil, fmt.Errorf("stack: timeline: %w", err)
		}
		series := record.TimelineSeries{Device: st.Device, Boot: st.Boot, Delivered: []int{}}
		for _, r := range recs {
			i := int(r.ReceivedAt.Sub(start) / bucket)
			if i < 0 {
				i = 0
			}
			for len(series.Delivered) <= i {
				series.Delivered = append(series.Delivered, 0)
			}
			series.Delivered[i]++
		}
		tl.Series = append(tl.Series, series)
	}
	return tl, nil
}
