package report

import (
	"fmt"
	"hash/fnv"
	"html/template"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/pathrig/rig/rig/record"
)

// The pictures of the HTML pages are inline SVG drawn here, with no script: the telemetry
// timeline, findings by severity and hop, and findings by severity over a series of runs. Text
// never overlaps other text and stays inside the picture: labels are laid out with a width
// estimate (textWidth) that errs on the wide side, and TestPagesInChromium checks the boxes the
// browser really drew.

// severityOrder lists severities most severe first; severityColor gives each its colour.
var severityOrder = []record.Severity{record.SeverityCritical, record.SeverityHigh, record.SeverityMedium, record.SeverityLow, record.SeverityInfo}

func severityColor(s record.Severity) string {
	switch s {
	case record.SeverityCritical:
		return "#82071e"
	case record.SeverityHigh:
		return "#cf222e"
	case record.SeverityMedium:
		return "#bc4c00"
	case record.SeverityLow:
		return "#9a6700"
	}
	return "#57606a"
}

// textWidth estimates the width of text at a font size in px: 0.62 em a character, wider than
// the average glyph of a sans-serif face, so that layouts leave room rather than collide.
func textWidth(s string, size float64) float64 {
	return float64(len([]rune(s))) * size * 0.62
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// svgOpen starts an SVG that is drawn at its natural width, or narrower on a small screen.
func svgOpen(b *strings.Builder, label string, w, h float64) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="%s" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" style="max-width:100%%;height:auto" font-family="system-ui,-apple-system,'Segoe UI',sans-serif">`,
		esc(label), w, h, w, h)
}

// legendItem is one entry of a legend: a swatch (or a short line style) and its text.
type legendItem struct {
	color string
	kind  string // "box" (default), "line", "dash", "clip"
	text  string
}

// legend lays items out left to right from (x0, y0), wrapping before maxX; it returns the SVG and
// the height it used.
func legend(items []legendItem, x0, y0, maxX float64) (string, float64) {
	const size, rowH, swatch, gap = 11.0, 16.0, 14.0, 16.0
	var b strings.Builder
	x, y := x0, y0
	for _, it := range items {
		w := swatch + 4 + textWidth(it.text, size)
		if x > x0 && x+w > maxX {
			x, y = x0, y+rowH
		}
		mid := y + rowH/2
		switch it.kind {
		case "line":
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`, x, mid, x+swatch, mid, it.color)
		case "dash":
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2" stroke-dasharray="4 3"/>`, x, mid, x+swatch, mid, it.color)
		case "clip":
			fmt.Fprintf(&b, `<path d="M%.1f %.1fl5 -8l5 8z" fill="%s"/>`, x+2, mid+4, it.color)
		default:
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.0f" height="10" fill="%s"/>`, x, mid-5, swatch, it.color)
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="%.0f" fill="#1b1f24">%s</text>`, x+swatch+4, mid+4, size, esc(it.text))
		x += w + gap
	}
	return b.String(), y + rowH - y0
}

// faultColors gives every fault kind of the scenario format its own colour; an unknown kind gets
// one from faultPalette by the hash of its name.
var faultColors = map[string]string{
	"broker-down":       "#cf222e",
	"network-cut":       "#8250df",
	"network-latency":   "#bf3989",
	"network-loss":      "#a475f9",
	"network-bandwidth": "#6e40c9",
	"ingest-down":       "#bc4c00",
	"uart-corrupt":      "#0969da",
	"uart-garbage":      "#54aeff",
	"uart-stall":        "#1b7c83",
	"uart-cut":          "#0550ae",
	"device-reset":      "#1a7f37",
	"power-cut":         "#4d2d00",
	"gateway-crash":     "#953800",
	"clock-skew":        "#9a6700",
}

var faultPalette = []string{"#cf222e", "#8250df", "#0969da", "#1a7f37", "#bc4c00", "#bf3989", "#1b7c83", "#9a6700"}

func faultColor(kind string) string {
	if c, ok := faultColors[kind]; ok {
		return c
	}
	h := fnv.New32a()
	h.Write([]byte(kind))
	return faultPalette[int(h.Sum32()%uint32(len(faultPalette)))]
}

// faultKind is the kind of a timeline window, the part of its label before "@"
// ("broker-down@1s for 1.5s").
func faultKind(label string) string {
	k, _, _ := strings.Cut(label, "@")
	return strings.TrimSpace(k)
}

// placedLabel is a fault window's label in its lane.
type placedLabel struct {
	lane     int
	textX    float64
	from, to float64 // the window on the x axis
}

// laneLabels puts each window's label into the first lane where it overlaps no earlier label or
// window span; windows are taken by start. It returns the placements (in the windows' order)
// and the number of lanes.
func laneLabels(windows []record.TimelineWindow, x func(int64) float64, maxX, size float64) ([]placedLabel, int) {
	const gap = 8.0
	idx := make([]int, len(windows))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return windows[idx[a]].FromMs < windows[idx[b]].FromMs })
	out := make([]placedLabel, len(windows))
	var laneEnd []float64
	for _, i := range idx {
		w := windows[i]
		from, to := x(w.FromMs), max(x(w.ToMs), x(w.FromMs)+2)
		tw := textWidth(w.Label, size)
		textX := from
		if textX+tw > maxX {
			textX = maxX - tw
		}
		start, end := min(from, textX), max(to, textX+tw)
		lane := -1
		for l, e := range laneEnd {
			if e+gap <= start {
				lane = l
				break
			}
		}
		if lane < 0 {
			lane = len(laneEnd)
			laneEnd = append(laneEnd, 0)
		}
		laneEnd[lane] = end
		out[i] = placedLabel{lane: lane, textX: textX, from: from, to: to}
	}
	return out, len(laneEnd)
}

// steadyScale is the y-scale of the timeline: the largest value when nothing stands out, else
// twice the 90th percentile of the non-zero values (at least that plus 2), so that the steady
// rate fills the plot and the drain bursts after a fault are clipped (and marked) instead of
// flattening it.
func steadyScale(values []int) (scale, peak int) {
	var nz []int
	for _, v := range values {
		peak = max(peak, v)
		if v > 0 {
			nz = append(nz, v)
		}
	}
	if len(nz) == 0 {
		return 1, peak
	}
	slices.Sort(nz)
	q := nz[int(math.Ceil(0.9*float64(len(nz))))-1]
	scale = max(2*q, q+2)
	if peak <= scale {
		return peak, peak
	}
	return scale, peak
}

// timelineSVG draws the frames per bucket: delivered as one solid line per series, sent (when
// known) dashed, lost as red bars under the axis. Fault windows are shaded bands in their kind's
// colour, named in lanes above the plot so that no two labels overlap, with a legend of kinds.
// Values above the steady scale are clipped at the top and marked with a triangle.
func timelineSVG(tl *Timeline) string {
	const W, padL, padR, size, laneH, plotH = 900.0, 48.0, 12.0, 11.0, 16.0, 186.0
	n := 0
	var values []int
	lostPeak := 0
	for _, s := range tl.Series {
		n = max(n, len(s.Delivered), len(s.Sent), len(s.Lost))
		values = append(values, s.Delivered...)
		values = append(values, s.Sent...)
		for _, l := range s.Lost {
			lostPeak = max(lostPeak, l)
		}
	}
	scale, peak := steadyScale(values)
	endMs := int64(n) * tl.BucketMs
	for _, w := range tl.Windows {
		endMs = max(endMs, w.ToMs)
	}
	if endMs == 0 {
		endMs = max(tl.BucketMs, 1)
	}
	x := func(ms int64) float64 { return padL + (W-padL-padR)*float64(ms)/float64(endMs) }
	labels, lanes := laneLabels(tl.Windows, x, W-padR, size)
	padT := 10.0
	if lanes > 0 {
		padT = 6 + float64(lanes)*laneH + 6
	}
	axis := padT + plotH
	lostH := 0.0
	if lostPeak > 0 {
		lostH = 44
	}
	y := func(v int) float64 { return padT + plotH*(1-float64(min(v, scale))/float64(scale)) }

	// The legend: series, line styles, fault kinds in order of first appearance.
	colors := []string{"#0969da", "#8250df", "#1a7f37", "#bf8700", "#cf222e", "#1b7c83"}
	var items []legendItem
	sent := false
	for i, s := range tl.Series {
		items = append(items, legendItem{color: colors[i%len(colors)], kind: "line", text: seriesName(s)})
		sent = sent || len(s.Sent) > 0
	}
	if sent {
		items = append(items, legendItem{color: "#57606a", kind: "dash", text: "sent by the device"})
	}
	if lostPeak > 0 {
		items = append(items, legendItem{color: "#cf222e", text: "lost (below the axis)"})
	}
	if peak > scale {
		items = append(items, legendItem{color: "#57606a", kind: "clip", text: fmt.Sprintf("clipped: above %d (peak %d)", scale, peak)})
	}
	var kinds []string
	for _, w := range tl.Windows {
		if k := faultKind(w.Label); !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	for _, k := range kinds {
		items = append(items, legendItem{color: faultColor(k), text: k})
	}
	legendTop := axis + lostH + 22
	leg, legH := legend(items, padL, legendTop, W-padR)
	H := legendTop + legH + 4

	var b strings.Builder
	svgOpen(&b, "delivered frames over time, with the fault windows", W, H)
	for i, w := range tl.Windows {
		p := labels[i]
		c := faultColor(faultKind(w.Label))
		label := esc(w.Label)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.13"><title>%s</title></rect>`,
			p.from, padT, p.to-p.from, plotH+lostH, c, label)
		ly := 6 + float64(p.lane)*laneH
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="3" fill="%s"/>`, p.from, ly+laneH-4, p.to-p.from, c)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="%.0f" fill="%s">%s</text>`, p.textX, ly+10, size, c, label)
	}
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#57606a"/>`, padL, axis, W-padR, axis)
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#57606a"/>`, padL, padT, padL, axis+lostH)
	for _, v := range yTicks(scale) {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d0d7de" stroke-dasharray="2 3"/>`, padL, y(v), W-padR, y(v))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="%.0f" text-anchor="end" fill="#57606a">%d</text>`, padL-4, y(v)+4, size, v)
	}
	if lostH > 0 {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="%.0f" text-anchor="end" fill="#cf222e">lost</text>`, padL-4, axis+lostH-4, size)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="%.0f" fill="#57606a">0 s</text>`, padL, axis+lostH+14, size)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="%.0f" text-anchor="end" fill="#57606a">%.1f s</text>`, W-padR, axis+lostH+14, size, float64(endMs)/1000)

	mid := func(j int) float64 { return x(int64(j)*tl.BucketMs + tl.BucketMs/2) }
	line := func(v []int) string {
		pts := make([]string, 0, len(v))
		for j, d := range v {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", mid(j), y(d)))
		}
		return strings.Join(pts, " ")
	}
	clips := func(name, what string, v []int, c string) {
		for j, d := range v {
			if d > scale {
				fmt.Fprintf(&b, `<path d="M%.1f %.1fl4 -7l4 7z" fill="%s"><title>%s: %d %s (clipped)</title></path>`, mid(j)-4, padT+7, c, name, d, what)
			}
		}
	}
	barW := max(1, x(tl.BucketMs)-x(0)-1)
	for i, s := range tl.Series {
		c := colors[i%len(colors)]
		name := esc(seriesName(s))
		for j, l := range s.Lost {
			if l > 0 {
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#cf222e" fill-opacity="0.7"><title>%s: %d lost</title></rect>`,
					mid(j)-barW/2, axis+1, barW, (lostH-2)*float64(l)/float64(lostPeak), name, l)
			}
		}
		if len(s.Sent) > 0 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" stroke-dasharray="5 4" stroke-opacity="0.6" points="%s"><title>%s: sent</title></polyline>`,
				c, line(s.Sent), name)
			clips(name, "sent", s.Sent, c)
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"><title>%s: stored</title></polyline>`,
			c, line(s.Delivered), name)
		clips(name, "stored", s.Delivered, c)
	}
	b.WriteString(leg)
	b.WriteString(`</svg>`)
	return b.String()
}

func seriesName(s TimelineSeries) string {
	if s.Label != "" {
		return s.Label
	}
	return fmt.Sprintf("device %s boot %d", s.Device, s.Boot)
}

// HopCell is the number of findings of one severity fixed at one hop.
type HopCell struct {
	Hop      string
	Severity record.Severity
	Count    int
}

// hopOrder puts the hops along the data path, then any other alphabetically.
func hopOrder(hops []string) []string {
	path := []string{"device", "gateway", "broker", "ingest"}
	var out []string
	for _, h := range path {
		if slices.Contains(hops, h) {
			out = append(out, h)
		}
	}
	var rest []string
	for _, h := range hops {
		if !slices.Contains(path, h) && !slices.Contains(rest, h) {
			rest = append(rest, h)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// severityHopSVG draws findings as a matrix: one column per hop along the path (every hop of the
// path, also those without a finding), one row per severity, the count in each cell on the
// severity's colour.
func severityHopSVG(cells []HopCell) string {
	const size, labelW, colW, headH, rowH = 12.0, 76.0, 92.0, 24.0, 26.0
	hops := []string{"device", "gateway", "broker", "ingest"}
	count := map[string]map[record.Severity]int{}
	total := 0
	for _, c := range cells {
		if !slices.Contains(hops, c.Hop) {
			hops = append(hops, c.Hop)
		}
		if count[c.Hop] == nil {
			count[c.Hop] = map[record.Severity]int{}
		}
		count[c.Hop][c.Severity] += c.Count
		total += c.Count
	}
	hops = hopOrder(hops)
	sevs := severityOrder[:4]
	for _, c := range cells {
		if c.Severity == record.SeverityInfo && c.Count > 0 {
			sevs = severityOrder
		}
	}
	colW2 := colW
	for _, h := range hops {
		colW2 = max(colW2, textWidth(h, size)+12)
	}
	W := labelW + colW2*float64(len(hops)) + 4
	H := headH + rowH*float64(len(sevs)) + 4
	var b strings.Builder
	svgOpen(&b, fmt.Sprintf("%d findings by severity and hop", total), W, H)
	for i, h := range hops {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="%.0f" font-weight="600" text-anchor="middle" fill="#1b1f24">%s</text>`,
			labelW+colW2*float64(i)+colW2/2, headH-8, size, esc(h))
	}
	for r, s := range sevs {
		top := headH + rowH*float64(r)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="%.0f" fill="%s">%s</text>`, 4.0, top+rowH/2+4, size, severityColor(s), s)
		for i, h := range hops {
			n := count[h][s]
			cx := labelW + colW2*float64(i)
			fill, fg, txt := "#f6f8fa", "#8c959f", "0"
			if n > 0 {
				fill, fg, txt = severityColor(s), "#ffffff", fmt.Sprint(n)
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="3" fill="%s"><title>%s at the %s: %d</title></rect>`,
				cx+2, top+2, colW2-4, rowH-4, fill, s, esc(h), n)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="%.0f" font-weight="600" text-anchor="middle" fill="%s">%s</text>`,
				cx+colW2/2, top+rowH/2+4, size, fg, txt)
		}
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// TrendRun is one run of a findings-over-runs chart.
type TrendRun struct {
	ID    string
	Title string // shown on hover: profile, headline
	Count map[record.Severity]int
}

// severityTrendSVG draws findings by severity over a series of runs as stacked bars, the total
// above each bar; when the run IDs would not fit under every bar, every k-th is named.
func severityTrendSVG(runs []TrendRun) string {
	const W, padL, padR, size, plotH = 900.0, 40.0, 12.0, 11.0, 180.0
	peak := 0
	for _, r := range runs {
		t := 0
		for _, n := range r.Count {
			t += n
		}
		peak = max(peak, t)
	}
	scale := max(peak, 1)
	var items []legendItem
	for _, s := range severityOrder {
		items = append(items, legendItem{color: severityColor(s), text: string(s)})
	}
	leg, legH := legend(items, padL, 2, W-padR)
	padT := 2 + legH + 18 // room for the totals above the highest bar
	axis := padT + plotH
	H := axis + 22
	slot := (W - padL - padR) / float64(max(len(runs), 1))
	barW := min(48, slot*0.6)
	widest := 0.0
	for _, r := range runs {
		widest = max(widest, textWidth(r.ID, size), textWidth(fmt.Sprint(scale), size))
	}
	every := max(1, int(math.Ceil((widest+6)/slot)))
	y := func(v int) float64 { return axis - plotH*float64(v)/float64(scale) }

	var b strings.Builder
	svgOpen(&b, "findings by severity over the runs", W, H)
	b.WriteString(leg)
	for _, v := range yTicks(scale)[1:] {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d0d7de" stroke-dasharray="2 3"/>`, padL, y(v), W-padR, y(v))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="%.0f" text-anchor="end" fill="#57606a">%d</text>`, padL-4, y(v)+4, size, v)
	}
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#57606a"/>`, padL, axis, W-padR, axis)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="%.0f" text-anchor="end" fill="#57606a">0</text>`, padL-4, axis+4, size)
	for i, r := range runs {
		cx := padL + slot*float64(i) + slot/2
		base := 0
		for k := len(severityOrder) - 1; k >= 0; k-- { // the most severe on top
			s := severityOrder[k]
			n := r.Count[s]
			if n == 0 {
				continue
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %d %s</title></rect>`,
				cx-barW/2, y(base+n), barW, y(base)-y(base+n), severityColor(s), esc(r.ID), n, s)
			base += n
		}
		if i%every != 0 {
			continue
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="%.0f" text-anchor="middle" fill="#1b1f24">%d</text>`, cx, y(base)-4, size, base)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="%.0f" text-anchor="middle" fill="#57606a">%s<title>%s</title></text>`, cx, axis+15, size, esc(r.ID), esc(r.Title))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// yTicks are the labelled values of a y axis from 0 to scale: 0, the middle (when it is a whole
// number apart from both ends) and the top.
func yTicks(scale int) []int {
	ticks := []int{0}
	if m := scale / 2; m > 0 && m < scale {
		ticks = append(ticks, m)
	}
	if scale > 0 {
		ticks = append(ticks, scale)
	}
	return ticks
}
