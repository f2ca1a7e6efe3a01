package record

// TimelineFile is where a run keeps its telemetry timeline, relative to the run folder. It is
// evidence (written through the redacting store), not part of run.json: it is large and its
// bucket counts vary from run to run.
const TimelineFile = "evidence/telemetry/timeline.json"

// Timeline is the telemetry the store accepted over the run, bucketed by arrival time relative to
// the start of the run, with the windows in which faults were active (none until a scenario
// injects faults).
type Timeline struct {
	BucketMs int64            `json:"bucket_ms"`
	Series   []TimelineSeries `json:"series"`
	Windows  []TimelineWindow `json:"windows"`
}

// TimelineSeries counts the frames of one device and boot that reached the store, per bucket.
type TimelineSeries struct {
	Device    string `json:"device"`
	Boot      uint32 `json:"boot"`
	Delivered []int  `json:"delivered"` // Delivered[i]: frames stored during bucket i
}

// TimelineWindow is a span of the run, in milliseconds from its start, when a fault was active.
type TimelineWindow struct {
	Label  string `json:"label"`
	FromMs int64  `json:"from_ms"`
	ToMs   int64  `json:"to_ms"`
}

// Total returns the frames delivered in all series.
func (t *Timeline) Total() int {
	n := 0
	for _, s := range t.Series {
		for _, d := range s.Delivered {
			n += d
		}
	}
	return n
}
