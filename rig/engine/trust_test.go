package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/report"
)

// TestTelemetryTrustExposedFinding: on the exposed path (QoS 0, no buffer) the broker outage of
// the telemetry-trust-exposed scenario loses telemetry, and the run reports it as a TRUST-LOSS
// finding with the numbers, backed by the accounting and the fault timeline.
func TestTelemetryTrustExposedFinding(t *testing.T) {
	t.Parallel()
	run, dir := runPlan(t, plan(t, "telemetry-trust-exposed", ""))
	// The trust path makes its own PKI, passwords and token: none may reach an output.
	scanForSecrets(t, dir)
	byID := map[string]record.Result{}
	for _, r := range run.Results {
		byID[r.Control] = r
	}
	loss := byID["TRUST-LOSS"]
	if loss.Status != record.StatusFail || !strings.Contains(loss.Reason, "never reached the store") || !strings.Contains(loss.Reason, "during broker-down@1s") {
		t.Fatalf("TRUST-LOSS = %s: %s; want a finding with the loss during the broker outage", loss.Status, loss.Reason)
	}
	if run.Summary.Findings < 1 {
		t.Fatalf("summary %+v: want the loss counted as a finding", run.Summary)
	}
	if byID["TRUST-DUPLICATES"].Status != record.StatusPass {
		t.Errorf("TRUST-DUPLICATES = %s: %s", byID["TRUST-DUPLICATES"].Status, byID["TRUST-DUPLICATES"].Reason)
	}
	b, err := os.ReadFile(filepath.Join(dir, "evidence", "TRUST-LOSS", "accounting.json"))
	if err != nil {
		t.Fatal(err)
	}
	var acc struct {
		Totals struct {
			Sent, Delivered, Lost uint64
		}
	}
	if err := json.Unmarshal(b, &acc); err != nil {
		t.Fatal(err)
	}
	if acc.Totals.Lost == 0 || acc.Totals.Sent != acc.Totals.Delivered+acc.Totals.Lost {
		t.Fatalf("accounting totals %+v: want loss and sent = delivered + lost", acc.Totals)
	}
	if _, err := os.Stat(filepath.Join(dir, "evidence", "TRUST-LOSS", "fault-timeline.json")); err != nil {
		t.Fatalf("fault timeline evidence: %v", err)
	}
}

// TestTelemetryTrustTimeline: the timeline of a telemetry-trust run is drawn from the trust path
// (the one the faults were played on), not from the audit stack: it holds the broker outage as a
// fault window, and delivery dips to nothing while the devices keep sending (the lost frames).
func TestTelemetryTrustTimeline(t *testing.T) {
	t.Parallel()
	_, dir := runPlan(t, plan(t, "telemetry-trust-exposed", ""))
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(record.TimelineFile)))
	if err != nil {
		t.Fatal(err)
	}
	var tl report.Timeline
	if err := json.Unmarshal(b, &tl); err != nil {
		t.Fatal(err)
	}
	if tl.Source != "telemetry-trust path" || len(tl.Series) != 1 {
		t.Fatalf("timeline source %q with %d series, want the trust path's one device", tl.Source, len(tl.Series))
	}
	if len(tl.Windows) != 1 || tl.Windows[0].Label != "broker-down@1s for 2s" {
		t.Fatalf("fault windows %+v, want the broker outage", tl.Windows)
	}
	w, s := tl.Windows[0], tl.Series[0]
	if d := w.ToMs - w.FromMs; w.FromMs <= 0 || d < 1900 || d > 3000 {
		t.Errorf("window %+v: want about 2 s after the run started", w)
	}
	if len(s.Sent) != len(s.Delivered) || len(s.Lost) != len(s.Delivered) {
		t.Fatalf("sent, delivered, lost have %d, %d, %d buckets; want one length", len(s.Sent), len(s.Delivered), len(s.Lost))
	}
	// Inside the window (a bucket's margin each side) the devices sent and the store got nothing.
	bucket := tl.BucketMs
	var sentIn, deliveredIn, lostIn, deliveredBefore int
	for i := range s.Delivered {
		from, to := int64(i)*bucket, int64(i+1)*bucket
		switch {
		case from >= w.FromMs+bucket && to <= w.ToMs-bucket:
			sentIn += s.Sent[i]
			deliveredIn += s.Delivered[i]
			lostIn += s.Lost[i]
		case to <= w.FromMs:
			deliveredBefore += s.Delivered[i]
		}
	}
	if deliveredBefore == 0 || sentIn == 0 || deliveredIn != 0 || lostIn != sentIn {
		t.Errorf("before the outage %d stored; during it %d sent, %d stored, %d lost: want a steady flow, then a dip to 0 with every frame sent lost", deliveredBefore, sentIn, deliveredIn, lostIn)
	}
	if got, want := tl.LostTotal(), tl.SentTotal()-tl.Total(); got != want || got == 0 {
		t.Errorf("lost %d, want sent − stored = %d (QoS 0: nothing arrives late)", got, want)
	}
	// The page draws it: the window named, the sent line and the lost bars.
	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{">broker-down@1s for 2s</text>", "stroke-dasharray", " lost</title></rect>", "Frames of the telemetry-trust path"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}

// TestTrustTimelineBuckets checks the bucketing of a trust report's flow against hand-made times:
// relative to the run's start, one length for every array, the fault window from its real start
// and end, a fault never injected left out, and a fleet summed into one series.
func TestTrustTimelineBuckets(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(ms ...int) []time.Time {
		var out []time.Time
		for _, m := range ms {
			out = append(out, start.Add(time.Duration(m)*time.Millisecond))
		}
		return out
	}
	rep := &check.TrustReport{
		Accounting: check.Accounting{Flow: []check.TrustFlow{
			{Device: "b", Boot: 2, Sent: at(10, 120), Stored: at(30)},
			{Device: "a", Boot: 1, Sent: at(10, 110, 210, 310), Stored: at(50, 450), Lost: at(110, 210)},
		}},
		Faults: []check.FaultRecord{
			{Kind: "broker-down", PlannedAt: "100ms", PlannedFor: "200ms", Started: start.Add(100 * time.Millisecond), Ended: start.Add(300 * time.Millisecond)},
			{Kind: "ingest-down", PlannedAt: "9s", Error: "run ended before the fault was due"},
		},
	}
	tl := trustTimeline(rep, start, 100*time.Millisecond)
	want := []record.TimelineSeries{
		{Device: "a", Boot: 1, Delivered: []int{1, 0, 0, 0, 1}, Sent: []int{1, 1, 1, 1, 0}, Lost: []int{0, 1, 1, 0, 0}},
		{Device: "b", Boot: 2, Delivered: []int{1, 0, 0, 0, 0}, Sent: []int{1, 1, 0, 0, 0}, Lost: []int{0, 0, 0, 0, 0}},
	}
	if !reflect.DeepEqual(tl.Series, want) {
		t.Errorf("series = %+v\nwant %+v", tl.Series, want)
	}
	if wantW := []record.TimelineWindow{{Label: "broker-down@100ms for 200ms", FromMs: 100, ToMs: 300}}; !reflect.DeepEqual(tl.Windows, wantW) {
		t.Errorf("windows = %+v, want %+v", tl.Windows, wantW)
	}
	for i := range 4 {
		rep.Flow = append(rep.Flow, check.TrustFlow{Device: fmt.Sprintf("f%d", i), Boot: 1, Sent: at(20), Stored: at(20)})
	}
	fleet := trustTimeline(rep, start, 100*time.Millisecond)
	if len(fleet.Series) != 1 || fleet.Series[0].Label != "all 6 devices (6 device boots), summed" || fleet.Total() != 7 || fleet.SentTotal() != 10 || fleet.LostTotal() != 2 {
		t.Errorf("fleet timeline = %+v, want one summed series of 6 devices: 7 stored, 10 sent, 2 lost", fleet.Series)
	}
}
