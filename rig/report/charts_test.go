package report

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pathrig/rig/rig/record"
)

// TestTimelineFaultLanes draws the timeline of a telemetry-trust run with every fault kind (15
// windows, several starting together): no two labels of one lane overlap, each kind has its own
// colour and a legend entry, and the drain bursts are clipped so the steady rate fills the plot.
func TestTimelineFaultLanes(t *testing.T) {
	tl := faultsTimeline(t)
	if len(tl.Windows) < 14 {
		t.Fatalf("the fixture has %d fault windows, want every kind", len(tl.Windows))
	}
	const W, padL, padR = 900.0, 48.0, 12.0
	var end int64
	for _, w := range tl.Windows {
		end = max(end, w.ToMs)
	}
	x := func(ms int64) float64 { return padL + (W-padL-padR)*float64(ms)/float64(end) }
	labels, lanes := laneLabels(tl.Windows, x, W-padR, 11)
	if lanes < 2 || lanes > len(tl.Windows) {
		t.Errorf("%d lanes for %d windows", lanes, len(tl.Windows))
	}
	for i, a := range labels {
		wa := textWidth(tl.Windows[i].Label, 11)
		if a.textX < 0 || a.textX+wa > W-padR+0.01 {
			t.Errorf("label %q at %.1f..%.1f leaves the picture", tl.Windows[i].Label, a.textX, a.textX+wa)
		}
		for j, b := range labels[i+1:] {
			j += i + 1
			wb := textWidth(tl.Windows[j].Label, 11)
			if a.lane == b.lane && a.textX < b.textX+wb && b.textX < a.textX+wa {
				t.Errorf("labels %q and %q overlap in lane %d", tl.Windows[i].Label, tl.Windows[j].Label, a.lane)
			}
		}
	}
	svg := timelineSVG(tl)
	colours := map[string]string{}
	for _, w := range tl.Windows {
		k := faultKind(w.Label)
		c := faultColor(k)
		if other, ok := colours[c]; ok && other != k {
			t.Errorf("%s and %s share the colour %s", k, other, c)
		}
		colours[c] = k
		if !strings.Contains(svg, fmt.Sprintf(`fill="%s"/><text x=`, c)) || !strings.Contains(svg, ">"+k+"</text>") {
			t.Errorf("fault kind %s has no legend entry in its colour %s", k, c)
		}
	}
	var values []int
	for _, s := range tl.Series {
		values = append(values, s.Delivered...)
		values = append(values, s.Sent...)
	}
	scale, peak := steadyScale(values)
	if peak < 50 || scale > 12 || scale < 5 {
		t.Errorf("scale %d for a peak of %d: want the steady 5 frames per bucket to fill the plot", scale, peak)
	}
	if n := strings.Count(svg, "(clipped)</title>"); n == 0 {
		t.Error("no clipped value is marked")
	}
	if !strings.Contains(svg, fmt.Sprintf("clipped: above %d (peak %d)", scale, peak)) {
		t.Error("the legend does not say where the scale clips")
	}
}

func TestSteadyScale(t *testing.T) {
	for _, tc := range []struct {
		name        string
		values      []int
		scale, peak int
	}{
		{"empty", nil, 1, 0},
		{"all zero", []int{0, 0}, 1, 0},
		{"steady", []int{5, 5, 4, 5, 0}, 5, 5},
		{"one burst", []int{5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 98}, 10, 98},
		{"small values", []int{1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 3}, 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s, p := steadyScale(tc.values); s != tc.scale || p != tc.peak {
				t.Errorf("steadyScale = %d, %d; want %d, %d", s, p, tc.scale, tc.peak)
			}
		})
	}
}

func TestSeverityHopSVG(t *testing.T) {
	svg := severityHopSVG([]HopCell{{"broker", record.SeverityHigh, 7}, {"ingest", record.SeverityHigh, 2}, {"broker", record.SeverityMedium, 2}, {"path", record.SeverityLow, 1}})
	for _, want := range []string{">device</text>", ">gateway</text>", ">broker</text>", ">ingest</text>", ">path</text>", "high at the broker: 7", "medium at the broker: 2", "low at the path: 1", `aria-label="12 findings by severity and hop"`} {
		if !strings.Contains(svg, want) {
			t.Errorf("the matrix lacks %q", want)
		}
	}
	if i, j := strings.Index(svg, ">ingest</text>"), strings.Index(svg, ">path</text>"); i > j {
		t.Error("hops off the data path come after it")
	}
}
