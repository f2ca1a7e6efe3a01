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
	Source   string           `json:"source,omitempty"` // the path the frames went through; "" is the audit stack
	Series   []TimelineSeries `json:"series"`
	Windows  []TimelineWindow `json:"windows"`
}

// TimelineSeries counts the frames of one device and boot that reached the store, per bucket.
// Only a telemetry-trust run knows what the devices sent and lost per bucket (from their own
// counters and sequence numbers); the audit stack's timeline leaves Sent and Lost out.
type TimelineSeries struct {
	Device    string `json:"device"`
	Boot      uint32 `json:"boot"`
	Label     string `json:"label,omitempty"` // replaces "device D boot B", e.g. for a fleet summed into one series
	Delivered []int  `json:"delivered"`       // Delivered[i]: frames stored during bucket i
	Sent      []int  `json:"sent,omitempty"`  // Sent[i]: frames the device sent during bucket i
	Lost      []int  `json:"lost,omitempty"`  // Lost[i]: frames sent during bucket i that never reached the store
}

// TimelineWindow is a span of the run, in milliseconds from its start, when a fault was active.
type TimelineWindow struct {
	Label  string `json:"label"`
	FromMs int64  `json:"from_ms"`
	ToMs   int64  `json:"to_ms"`
}

// Total returns the frames delivered in all series.
func (t *Timeline) Total() int { return t.sum(func(s TimelineSeries) []int { return s.Delivered }) }

// SentTotal returns the frames sent in all series (0 when the timeline does not know).
func (t *Timeline) SentTotal() int { return t.sum(func(s TimelineSeries) []int { return s.Sent }) }

// LostTotal returns the frames lost in all series.
func (t *Timeline) LostTotal() int { return t.sum(func(s TimelineSeries) []int { return s.Lost }) }

func (t *Timeline) sum(of func(TimelineSeries) []int) int {
	n := 0
	for _, s := range t.Series {
		for _, v := range of(s) {
			n += v
		}
	}
	return n
}
