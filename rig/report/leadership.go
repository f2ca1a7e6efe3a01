package report

import (
	"html/template"
	"io"
	"strings"

	"github.com/pathrig/rig/rig/record"
)

// leadershipCSS lays the leadership summary out for paper (A4) as well as for a screen.
const leadershipCSS = `
@page{size:A4;margin:14mm 14mm 16mm}
body{max-width:52em}
@media print{body{padding:0;font-size:10.5pt}h2{break-after:avoid}tr,li,.decision{break-inside:avoid}}
.sev{font-weight:600}.sev.critical{color:#82071e}.sev.high{color:#cf222e}.sev.medium{color:#bc4c00}.sev.low{color:#9a6700}
`

var leadershipPage = template.Must(template.New("leadership.html").Funcs(htmlFuncs).Funcs(template.FuncMap{
	"lcss": func() template.CSS { return template.CSS(leadershipCSS) },
	"top": func(rows []BacklogRow) []BacklogRow {
		return rows[:min(len(rows), summaryBacklogRows)]
	},
	"solid":       func(in *Input) []ControlView { return in.ByStatus(record.StatusPass) },
	"unevaluated": func(in *Input) []ControlView { return in.ByStatus(record.StatusError, record.StatusSkip) },
	// decidedby names the rule behind the decision, as summary.md does, without its Markdown.
	"decidedby": func(d Decision) string { return strings.ReplaceAll(decidedBy(d), "`", "") },
	"stamp": func(in *Input) string {
		if in.Started.IsZero() {
			return ""
		}
		return in.Started.UTC().Format("2006-01-02 15:04 UTC")
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Headline}} · leadership summary</title>
<style>{{css}}{{lcss}}</style>
</head>
<body>
<h1 id="headline">{{.Headline}}</h1>
<p class="meta">Leadership summary · scenario <code>{{.Scenario}}</code> · profile <code>{{.Profile}}</code>{{with stamp .}} · run {{.}}{{end}}{{with .Device}} · device <code>{{.UID}}</code> firmware {{.Firmware}}{{end}} · {{.Tool.Name}} {{.Tool.Version}}</p>
<p class="decision"><strong>Decision: {{.Decision.Verdict}}.</strong> {{upper .Decision.Why}}. <span class="meta">{{decidedby .Decision}}</span></p>
<p>{{len .Controls}} controls: <span class="pass">{{.Counts.Pass}} pass</span>, <span class="fail">{{.Counts.Fail}} fail</span>, <span class="error">{{.Counts.Error}} error</span>, <span class="skip">{{.Counts.Skip}} skip</span>.</p>
{{with .Baseline}}<p>Against the baseline <code>{{.Path}}</code> ({{.Headline}}): <strong>{{.Summary.Headline}}</strong>.</p>{{end}}

{{if .Backlog}}<section id="findings-by-hop"><h2>Findings by severity and hop</h2>
<figure>{{hopmatrix .Backlog}}<figcaption>Each finding at the hop where its fix is made.</figcaption></figure></section>{{end}}

<section id="exposed"><h2>What is exposed</h2>
{{with .Findings}}<table><tr><th>Severity</th><th>Control</th><th>Finding</th></tr>
{{range .}}<tr><td class="sev {{.Severity}}">{{.Severity}}</td><td>{{.ID}}</td><td><strong>{{.Title}}</strong>: {{.Reason}}</td></tr>
{{end}}</table>{{else}}<p>Nothing: no control failed.</p>{{end}}
</section>

{{if .Backlog}}<section id="backlog"><h2>First fixes</h2>
<table><tr><th>#</th><th>Priority</th><th>Control</th><th>Hop</th><th>Effort</th><th>Remediation</th></tr>
{{range top .Backlog}}<tr><td>{{.Rank}}</td><td>{{.Priority}}</td><td>{{.Control}}</td><td>{{.Hop}}</td><td>{{.Effort}}</td><td>{{.Remediation}}</td></tr>
{{end}}</table>
<p class="meta">{{len .Backlog}} backlog rows in all, in backlog.csv; report.html holds the evidence of each finding.</p></section>{{end}}

{{template "accepted-risks" .}}

<section id="solid"><h2>What is solid</h2>
{{with solid .}}<ul>{{range .}}<li><strong>{{.ID}}</strong> {{.Title}}</li>
{{end}}</ul>{{else}}<p>Nothing verified yet.</p>{{end}}
</section>

{{with unevaluated .}}<section id="unevaluated"><h2>Not evaluated</h2>
<ul>{{range .}}<li><strong>{{.ID}}</strong> ({{.Status}}) {{.Title}}: {{.Reason}}</li>
{{end}}</ul></section>{{end}}
</body>
</html>
`))

func init() {
	template.Must(leadershipPage.New("accepted-risks").Parse(acceptedRisksHTML))
}

// LeadershipHTML writes the leadership summary as one self-contained page laid out for A4 (what
// `rig pdf` prints): headline, decision and the rule that made it, findings by severity and hop, what is exposed, the
// first fixes, the accepted risks, what is solid and what could not be evaluated.
func LeadershipHTML(w io.Writer, in *Input) error { return leadershipPage.Execute(w, in) }
