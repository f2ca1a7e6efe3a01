package checks

import (
	"context"
	"time"
)

// TrustRunner runs a telemetry-trust scenario — telemetry flowing from the devices to the store
// while the scenario's faults are injected on their timeline — and accounts for every frame.
type TrustRunner interface {
	RunTrust(ctx context.Context) (*TrustReport, error)
}

// TrustReport is what a telemetry-trust run observed.
type TrustReport struct {
	Profile     string         `json:"profile"`
	QoS         byte           `json:"qos"`
	Spool       bool           `json:"spool"`
	Devices     int            `json:"devices"`
	Phase       string         `json:"phase"`
	MaxLatency  time.Duration  `json:"-"`
	MaxRecovery time.Duration  `json:"-"`
	Bounds      map[string]any `json:"bounds"`
	Accounts    []TrustAccount `json:"accounts"` // per device and boot
	Totals      TrustAccount   `json:"totals"`
	Latency     LatencyStats   `json:"latency"`
	Faults      []FaultRecord  `json:"faults"`
	// Components holds the counters of the path's parts (gateway, line, network, bridge) as
	// evidence; never secrets.
	Components map[string]any `json:"components"`
	// Flow is when each device boot's frames were sent, stored and lost, for the run's telemetry
	// timeline (the engine buckets it relative to the run's start); not evidence of its own.
	Flow []TrustFlow `json:"-"`
}

// TrustFlow is the telemetry of one device boot of a trust run over time.
type TrustFlow struct {
	Device string
	Boot   uint32
	// Sent: per frame the device sent, when the gateway read it; for a frame the store lacks,
	// estimated between its stored neighbours.
	Sent []time.Time
	// Stored: per store row, when the ingest accepted it.
	Stored []time.Time
	// Lost: the estimated send time of every frame that never reached the store (line-damaged
	// frames excluded, as in the accounting).
	Lost []time.Time
}

// TrustAccount is the telemetry balance of one device and boot (or the totals).
type TrustAccount struct {
	Device     string `json:"device,omitempty"`
	Boot       uint32 `json:"boot,omitempty"`
	ResetCause string `json:"reset_cause,omitempty"`
	Sent       uint64 `json:"sent"` // the device's own counter, read over the UART (BOOT_STATS)
	// LineDamaged: frames a byte corruption injected on the UART landed in (the gateway's CRC
	// check rejects them; protocol v1 has no retransmission). Not counted as lost.
	LineDamaged uint64 `json:"line_damaged"`
	Delivered   uint64 `json:"delivered"`  // distinct (device, boot, seq) rows in the store
	Lost        uint64 `json:"lost"`       // sent − line_damaged − delivered
	Duplicates  uint64 `json:"duplicates"` // deliveries the store recognised as repeats (not stored)
	// StoredDuplicates: rows that are not exactly one frame the device sent (a seq it never
	// sent in that boot, or a frame stored twice).
	StoredDuplicates uint64   `json:"stored_duplicates"`
	Reordered        uint64   `json:"reordered"`         // rows that reached the store after a later frame of the same boot
	Missing          []uint32 `json:"missing,omitempty"` // first missing seqs
	// LostDuring attributes lost frames to the fault window they fell in ("none": outside any).
	LostDuring map[string]uint64 `json:"lost_during,omitempty"`
}

// LatencyStats summarises device → store latency (gateway read of the frame to ingest commit).
type LatencyStats struct {
	Samples int     `json:"samples"`
	P50Ms   float64 `json:"p50_ms"`
	P95Ms   float64 `json:"p95_ms"`
	P99Ms   float64 `json:"p99_ms"`
	MaxMs   float64 `json:"max_ms"`
}

// FaultRecord is one injection on the run's fault timeline.
type FaultRecord struct {
	Kind       string         `json:"kind"`
	Params     map[string]any `json:"params,omitempty"`
	PlannedAt  string         `json:"planned_at"`
	PlannedFor string         `json:"planned_for,omitempty"`
	Started    time.Time      `json:"started"`
	Ended      time.Time      `json:"ended"`
	Error      string         `json:"error,omitempty"`
	// RecoveryMs: from the fault's end until the first frame read after the end reached the
	// store; nil when none did.
	RecoveryMs *float64 `json:"recovery_ms"`
	Detail     string   `json:"detail,omitempty"`
}
