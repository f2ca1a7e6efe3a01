package report

import (
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
td,code,a{overflow-wrap:break-word}
.observed{display:block;background:#f6f8fa;border-radius:4px;padding:.3em .5em;white-space:pre-wrap;overflow-wrap:anywhere}
figure{margin:.6em 0}figcaption{color:#57606a;font-size:.9em}
@media (max-width:700px){body{padding:.8em}table{display:block;overflow-x:auto}}
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
	"css": func() template.CSS { return template.CSS(pageCSS) },
	"hopmatrix": func(rows []BacklogRow) template.HTML {
		var cells []HopCell
		for _, r := range rows {
			cells = append(cells, HopCell{Hop: r.Hop, Severity: r.Severity, Count: 1})
		}
		return template.HTML(severityHopSVG(cells))
	},
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

{{if .Backlog}}<section id="findings-by-hop"><h2>Findings by severity and hop</h2>
<figure>{{hopmatrix .Backlog}}<figcaption>Each finding counted once, at the hop where its fix is made.</figcaption></figure>
</section>{{end}}

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
{{if .Observed}}<p><strong>Observed:</strong></p><code class="observed">{{.Observed}}</code>{{end}}
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
