package report

import (
	"encoding/json"
	"html/template"
	"io"
	"path"
	"path/filepath"

	"github.com/pathrig/rig/rig/delta"
)

// DeltaInput is what the delta writers need: the delta record and where each compared run folder
// is, relative to the delta folder, so both sides' evidence can be linked.
type DeltaInput struct {
	Delta        *delta.Delta
	BaselineHref string // slash-separated, relative to the delta folder; "" for no links
	RerunHref    string
}

// NewDeltaInput builds the input of the delta writers for a delta written into deltaDir.
func NewDeltaInput(d *delta.Delta, deltaDir, baselineDir, rerunDir string) *DeltaInput {
	return &DeltaInput{Delta: d, BaselineHref: relHref(deltaDir, baselineDir), RerunHref: relHref(deltaDir, rerunDir)}
}

func relHref(from, to string) string {
	if from == "" || to == "" {
		return ""
	}
	af, err1 := filepath.Abs(from)
	at, err2 := filepath.Abs(to)
	if err1 != nil || err2 != nil {
		return ""
	}
	rel, err := filepath.Rel(af, at)
	if err != nil {
		return ""
	}
	return filepath.ToSlash(rel)
}

// DeltaWriter renders a delta into one file of the delta folder.
type DeltaWriter struct {
	Name   string
	File   string
	Render func(io.Writer, *DeltaInput) error
}

// DeltaWriters returns every delta writer in a fixed order.
func DeltaWriters() []DeltaWriter {
	return []DeltaWriter{
		{Name: "json", File: delta.File, Render: DeltaJSON},
		{Name: "md", File: "delta.md", Render: func(w io.Writer, in *DeltaInput) error { return Delta(w, in.Delta) }},
		{Name: "html", File: "delta.html", Render: DeltaHTML},
	}
}

// DeltaJSON writes delta.json.
func DeltaJSON(w io.Writer, in *DeltaInput) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(in.Delta)
}

var deltaPage = template.Must(template.New("delta.html").Funcs(htmlFuncs).Funcs(template.FuncMap{
	"href": func(base, p string) string {
		if base == "" {
			return p
		}
		return path.Join(base, p)
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Delta.Summary.Headline}} · rig delta</title>
<style>{{css}}</style>
</head>
<body>
<h1 id="headline">{{.Delta.Summary.Headline}}</h1>
{{with .Delta}}<p class="meta">Baseline <code>{{.Baseline.Path}}</code> ({{.Baseline.Scenario}}, profile <code>{{.Baseline.Profile}}</code>): {{.Baseline.Headline}}<br>
Rerun <code>{{.Rerun.Path}}</code> ({{.Rerun.Scenario}}, profile <code>{{.Rerun.Profile}}</code>): {{.Rerun.Headline}}</p>
<p>{{.Summary.Improved}} improved · {{.Summary.Regressed}} regressed · {{.Summary.Unchanged}} unchanged · {{.Summary.New}} new · {{.Summary.Removed}} removed</p>{{end}}
<table><tr><th>Change</th><th>Control</th><th>Title</th><th>Before</th><th>After</th></tr>
{{range .Delta.Rows}}<tr class="{{.Class}}" id="{{.Control}}"><td><strong>{{.Class}}</strong></td><td>{{.Control}}</td><td>{{.Title}}</td>
<td>{{with .Before}}<span class="{{status .Status}}">{{.Status}}</span>{{if eq (status .Status) "fail"}} ({{.Severity}}){{end}}: {{.Reason}}{{range .Evidence}}<br><a href="{{href $.BaselineHref .}}">{{.}}</a>{{end}}{{else}}—{{end}}</td>
<td>{{with .After}}<span class="{{status .Status}}">{{.Status}}</span>{{if eq (status .Status) "fail"}} ({{.Severity}}){{end}}: {{.Reason}}{{range .Evidence}}<br><a href="{{href $.RerunHref .}}">{{.}}</a>{{end}}{{else}}—{{end}}</td></tr>
{{end}}</table>
</body>
</html>
`))

// DeltaHTML writes delta.html: one self-contained page, regressions first, each side's evidence
// linked into its run folder.
func DeltaHTML(w io.Writer, in *DeltaInput) error { return deltaPage.Execute(w, in) }
