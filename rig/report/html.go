package report

import (
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/pathrig/rig/rig/record"
)

// pageCSS is inlined into every HTML page: the files are self-contained, with no external asset.
const pageCSS = `
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;padding:1.5em;color:#1b1f24;background:#fff}
h1{font-size:1.8em;margin:.2em 0}h2{border-bottom:1px solid #d0d7de;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;margin:.6em 0}th,td{border:1px solid #d0d7de;padding:.35em .5em;text-align:left;vertical-align:top}
th{background:#f6f8fa}code,pre{font:13px/1.35 ui-monospace,SFMono-Regular,Menlo,monospace}
pre{background:#f6f8fa;padding:.6em;overflow:auto;max-height:22em;white-space:pre-wrap;word-break:break-all}
.pass{color:#1a7f37}.fail{color:#cf222e}.error{color:#9a6700}.skip{color:#57606a}
.badge{display:inline-block;border-radius:1em;padding:0 .6em;font-size:.85em;font-weight:600;border:1px solid currentColor}
.control{border:1px solid #d0d7de;border-radius:6px;padding:.4em 1em;margin:.8em 0}
.control.fail{border-left:6px solid #cf222e}.control.pass{border-left:6px solid #1a7f37}.control.error{border-left:6px solid #9a6700}
.meta{color:#57606a}.decision{font-size:1.15em;background:#f6f8fa;border-radius:6px;padding:.6em 1em}
tr.regressed td{background:#ffebe9}tr.improved td{background:#dafbe1}
details>summary{cursor:pointer}
`

var htmlFuncs = template.FuncMap{
	"join":   strings.Join,
	"lower":  strings.ToLower,
	"upper":  upperFirst,
	"status": func(s record.Status) string { return string(s) },
	"timeline": func(tl *Timeline) template.HTML {
		return template.HTML(timelineSVG(tl))
	},
	"css":        func() template.CSS { return template.CSS(pageCSS) },
	"references": references,
}

var runPage = template.Must(template.New("report.html").Funcs(htmlFuncs).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Headline}} · rig report</title>
<style>{{css}}</style>
</head>
<body>
<header>
<h1 id="headline">{{.Headline}}</h1>
<p class="meta">Scenario <code>{{.Scenario}}</code> · profile <code>{{.Profile}}</code> · bundles {{join .Bundles ", "}} · checks {{join .Checks ", "}}{{with .Device}} · device <code>{{.UID}}</code> firmware {{.Firmware}} boot {{.Boot}}{{end}} · {{.Tool.Name}} {{.Tool.Version}}</p>
<p>{{len .Controls}} controls: <span class="pass">{{.Counts.Pass}} pass</span>, <span class="fail">{{.Counts.Fail}} fail</span>, <span class="error">{{.Counts.Error}} error</span>, <span class="skip">{{.Counts.Skip}} skip</span>.</p>
<p class="decision"><strong>Decision: {{.Decision.Verdict}}.</strong> {{upper .Decision.Why}}.{{with .Decision.Rule}} <span class="meta">(rule <code>{{.}}</code>)</span>{{end}}</p>
{{with .Scope}}<p id="scope">Path <strong>{{join .Paths ", "}}</strong>. Out of scope, not run: {{range $i, $g := .OutOfScope}}{{if $i}}; {{end}}<code>{{$g.Check}}</code> ({{join $g.Controls ", "}}{{with $g.Paths}}: path {{join . ", "}}{{end}}){{else}}nothing{{end}}.</p>
{{end}}{{with .Baseline}}<p>Against baseline <code>{{.Path}}</code> ({{.Headline}}): <strong>{{.Summary.Headline}}</strong> — see <a href="delta/delta.html">delta/delta.html</a>.</p>{{end}}
</header>

<nav><h2>Controls</h2>
<table><tr><th>Status</th><th>Severity</th><th>Control</th><th>Title</th>{{if .Baseline}}<th>Against baseline</th>{{end}}</tr>
{{range .Controls}}<tr class="{{.Change}}"><td class="{{status .Status}}">{{.Status}}{{if .Waived}} (accepted risk){{end}}</td><td>{{.Severity}}</td><td><a href="#{{.ID}}">{{.ID}}</a></td><td>{{.Title}}</td>{{if $.Baseline}}<td>{{.Change}}</td>{{end}}</tr>
{{end}}</table></nav>

{{if .Backlog}}<section id="backlog"><h2>Backlog</h2>
<p>Priority order: severity, then smaller effort first. The same rows are in <a href="backlog.csv">backlog.csv</a> for Jira or GitLab import.</p>
<table><tr><th>#</th><th>Priority</th><th>Control</th><th>Hop</th><th>Effort</th><th>Remediation</th><th>How the rerun verifies it</th></tr>
{{range .Backlog}}<tr><td>{{.Rank}}</td><td>{{.Priority}}</td><td><a href="#{{.Control}}">{{.Control}}</a></td><td>{{.Hop}}</td><td>{{.Effort}}</td><td>{{.Remediation}}</td><td>{{.Verification}}</td></tr>
{{end}}</table></section>{{end}}
{{template "accepted-risks" .}}
{{with .Timeline}}<section id="telemetry"><h2>Telemetry timeline</h2>
{{if .Source}}<p>Frames of the {{.Source}} per {{.BucketMs}} ms since the run started: {{.Total}} stored (solid line, by arrival at the ingest){{if .SentTotal}}, {{.SentTotal}} sent by the devices (dashed, by when the gateway read them), {{.LostTotal}} never stored (red bars, at their estimated send time){{end}}{{if .Windows}}; shaded spans are fault windows{{end}}.</p>
{{else}}<p>Frames the ingest stored per {{.BucketMs}} ms since the run started ({{.Total}} in all){{if .Windows}}; shaded spans are fault windows{{end}}.</p>
{{end}}{{timeline .}}
</section>{{end}}

<section id="checks"><h2>Checks</h2>
{{range $check := .Checks}}<h3>{{$check}}</h3>
{{range $.Controls}}{{if eq .Check $check}}<article class="control {{status .Status}}" id="{{.ID}}">
<h4><span class="badge {{status .Status}}">{{.Status}}</span> {{.ID}} — {{.Title}} <span class="meta">({{.Severity}})</span></h4>
<p>{{.Reason}}</p>
{{if .Known}}<p><strong>Verifies:</strong> {{.Def.Verifies}}<br><strong>Pass:</strong> {{.Def.Pass}}</p>
{{if ne (status .Status) "pass"}}<p><strong>Remediation:</strong> {{.Def.Remediation}}<br><strong>How a rerun verifies it:</strong> {{.Def.Verification}}</p>{{end}}
<p class="meta"><strong>References:</strong> {{join .Def.References "; "}}</p>{{end}}
{{if .Observed}}<p><strong>Observed:</strong> <code>{{.Observed}}</code></p>{{end}}
{{if .Evidence}}<p><strong>Evidence:</strong></p><ul>{{range .Evidence}}<li><a href="{{.Path}}">{{.Path}}</a>{{if ge .Size 0}} <span class="meta">({{.Size}} bytes)</span>{{end}}
{{if .Snippet}}<details><summary>show</summary><pre>{{.Snippet}}</pre></details>{{end}}</li>{{end}}</ul>{{end}}
</article>
{{end}}{{end}}{{end}}
</section>

<section id="references"><h2>Standard references</h2>
<p>Provisions cited by the controls of this run (verify wording against the standard before quoting).</p>
<ul>{{range references .Controls}}<li>{{.}}</li>{{end}}</ul>
</section>
</body>
</html>
`))

// HTML writes report.html: one self-contained page (inline CSS and SVG, no script, no external
// asset) with the headline, decision, backlog, telemetry timeline and one section per check.
func HTML(w io.Writer, in *Input) error {
	return runPage.Execute(w, in)
}

// references returns every reference cited by the controls, sorted and unique.
func references(cs []ControlView) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range cs {
		for _, r := range c.Def.References {
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	sortStrings(out)
	return out
}

// timelineSVG draws delivered frames per bucket as one polyline per series, fault windows as
// shaded rectangles named at their top and, when the timeline knows them, the frames sent as a
// dashed polyline and the frames lost as red bars hanging below the time axis.
func timelineSVG(tl *Timeline) string {
	const W, padL, plotH = 900.0, 48.0, 186.0
	padT := 10.0
	if len(tl.Windows) > 0 {
		padT = 22 // room for the windows' names above the plot
	}
	lostH := 0.0
	if tl.LostTotal() > 0 {
		lostH = 44 // a strip under the axis for the lost frames
	}
	axis := padT + plotH
	H := axis + lostH + 44
	n, peak := 0, 1
	for _, s := range tl.Series {
		n = max(n, len(s.Delivered), len(s.Sent), len(s.Lost))
		for _, d := range s.Delivered {
			peak = max(peak, d)
		}
		for _, d := range s.Sent {
			peak = max(peak, d)
		}
		for _, d := range s.Lost {
			peak = max(peak, d)
		}
	}
	var endMs int64 = int64(n) * tl.BucketMs
	for _, wdw := range tl.Windows {
		endMs = max(endMs, wdw.ToMs)
	}
	if endMs == 0 {
		endMs = tl.BucketMs
	}
	x := func(ms int64) float64 { return padL + (W-padL-10)*float64(ms)/float64(endMs) }
	y := func(v int) float64 { return padT + plotH*(1-float64(v)/float64(peak)) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="delivered frames over time" viewBox="0 0 %.0f %.0f" width="100%%" style="max-width:%.0fpx">`, W, H, W)
	for _, wdw := range tl.Windows {
		label := template.HTMLEscapeString(wdw.Label)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#ffebe9"><title>%s</title></rect>`,
			x(wdw.FromMs), padT, max(1, x(wdw.ToMs)-x(wdw.FromMs)), plotH+lostH, label)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" fill="#cf222e">%s</text>`, x(wdw.FromMs)+2, padT-6, label)
	}
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#57606a"/>`, padL, axis, W-10, axis)
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#57606a"/>`, padL, padT, padL, axis+lostH)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="end">%d</text>`, padL-4, padT+8, peak)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="end">0</text>`, padL-4, axis)
	if lostH > 0 {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="end" fill="#cf222e">lost</text>`, padL-4, axis+lostH-4)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11">0 s</text>`, padL, axis+lostH+16)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="end">%.1f s</text>`, W-10, axis+lostH+16, float64(endMs)/1000)
	colors := []string{"#0969da", "#8250df", "#1a7f37", "#bf8700", "#cf222e"}
	mid := func(j int) float64 { return x(int64(j)*tl.BucketMs + tl.BucketMs/2) }
	line := func(v []int) string {
		pts := make([]string, 0, len(v))
		for j, d := range v {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", mid(j), y(d)))
		}
		return strings.Join(pts, " ")
	}
	barW := max(1, x(tl.BucketMs)-x(0)-1)
	sent := false
	for i, s := range tl.Series {
		c := colors[i%len(colors)]
		name := fmt.Sprintf("device %s boot %d", template.HTMLEscapeString(s.Device), s.Boot)
		if s.Label != "" {
			name = template.HTMLEscapeString(s.Label)
		}
		for j, l := range s.Lost {
			if l > 0 {
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#cf222e" fill-opacity="0.7"><title>%s: %d lost</title></rect>`,
					mid(j)-barW/2, axis+1, barW, (lostH-2)*float64(l)/float64(peak), name, l)
			}
		}
		if len(s.Sent) > 0 {
			sent = true
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" stroke-dasharray="5 4" stroke-opacity="0.6" points="%s"><title>%s: sent</title></polyline>`,
				c, line(s.Sent), name)
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"><title>%s</title></polyline>`,
			c, line(s.Delivered), name)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" fill="%s">■ %s</text>`, padL+float64(i)*300, H-6, c, name)
	}
	if sent {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="end" fill="#57606a">solid: stored · dashed: sent · red: lost</text>`, W-10, H-6)
	}
	b.WriteString(`</svg>`)
	return b.String()
}
