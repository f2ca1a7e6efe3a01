package check

import (
	"context"
	"fmt"
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
	DeviceKind  string         `json:"device_kind"`
	Phase       string         `json:"phase"`
	MaxLatency  time.Duration  `json:"-"`
	MaxRecovery time.Duration  `json:"-"`
	Bounds      map[string]any `json:"bounds"`
	Accounting
	Faults []FaultRecord `json:"faults"`
	// Components holds the counters of the path's parts (gateway, line, network, bridge) as
	// evidence; never secrets.
	Components map[string]any `json:"components"`
}

// Accounting is the one telemetry balance of a run — GUARD-HEALTH and the telemetry-trust
// controls read it — over the run's window: from the device's counters when the rig found it
// ready to the counters it read at the end, every frame the device sent compared with the store,
// by sequence and by value.
type Accounting struct {
	Accounts []TrustAccount `json:"accounts"` // per device and boot
	Totals   TrustAccount   `json:"totals"`
	Latency  LatencyStats   `json:"latency"`
	// Altered lists stored readings that differ from what the device sent (the first 50).
	Altered []Alteration `json:"altered,omitempty"`
	// Flow is when each device boot's frames were sent, stored and lost, for the run's telemetry
	// timeline (the engine buckets it relative to the run's start); not evidence of its own.
	Flow []TrustFlow `json:"-"`
}

// Reading is what one TELEMETRY frame carried.
type Reading struct {
	TempCentiC   int16  `json:"temp_centi_c"`
	SupplyMv     uint16 `json:"supply_mv"`
	DeviceTimeMs uint32 `json:"device_time_ms"`
}

// Alteration is one stored reading that is not what the device sent.
type Alteration struct {
	Device string  `json:"device"`
	Boot   uint32  `json:"boot"`
	Seq    uint32  `json:"seq"`
	Sent   Reading `json:"sent"`   // as the rig read it off the device's UART
	Stored Reading `json:"stored"` // as the store holds it
}

func (a Alteration) String() string {
	return fmt.Sprintf("device %s boot %d seq %d: sent temp %d cC, supply %d mV, time %d ms; stored temp %d cC, supply %d mV, time %d ms",
		a.Device, a.Boot, a.Seq, a.Sent.TempCentiC, a.Sent.SupplyMv, a.Sent.DeviceTimeMs, a.Stored.TempCentiC, a.Stored.SupplyMv, a.Stored.DeviceTimeMs)
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
	// From is the first seq of the run's window in this boot (the device's count when the rig
	// found it ready); frames before it belong to no window.
	From uint64 `json:"from,omitempty"`
	Sent uint64 `json:"sent"` // frames sent in the window: the device's own counters, read over the UART
	// Source of Sent: "device" (STATS/BOOT_STATS) or "uart" (a boot the device no longer
	// remembers: what the rig's relay read off its UART).
	Source string `json:"source,omitempty"`
	// LineDamaged: frames a fault injected on the UART took (a corrupted byte the gateway's CRC
	// check rejects, or a cut line; protocol v1 has no retransmission). Not counted as lost.
	LineDamaged uint64 `json:"line_damaged"`
	// Altered: stored rows whose reading differs from what the device sent for that seq.
	Altered uint64 `json:"altered"`
	// Untapped: frames in the window the rig's relay never read off the UART (so their values
	// cannot be checked): lost on the device's side of the line.
	Untapped   uint64 `json:"untapped,omitempty"`
	Delivered  uint64 `json:"delivered"`  // distinct (device, boot, seq) rows in the store
	Lost       uint64 `json:"lost"`       // sent − line_damaged − delivered
	Duplicates uint64 `json:"duplicates"` // deliveries the store recognised as repeats (not stored)
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
