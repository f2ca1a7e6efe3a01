package report

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"path"
	"path/filepath"
	"strings"

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
	"factBefore": func(c delta.FactChange) string { return factSide(c, true) },
	"factAfter":  func(c delta.FactChange) string { return factSide(c, false) },
	"routine":    routineText,
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
<p>{{.Summary.Improved}} improved · {{.Summary.Regressed}} regressed · {{.Summary.Unchanged}} unchanged{{if .Summary.Drifted}} (<a href="#drift">{{.Summary.Drifted}} drifted</a>){{end}} · {{.Summary.New}} new · {{.Summary.Removed}} removed</p>{{end}}
{{if .Delta.Summary.Drifted}}<section id="drift"><h2>Same verdict, configuration changed</h2>
<p>These controls kept their verdict, but a configuration fact behind it changed since the baseline. A renewal that only changes the certificate's fingerprint, serial or dates is routine, not drift.</p>
<table class="drift"><tr><th>Control</th><th>Verdict</th><th>Fact</th><th>Baseline</th><th>Rerun</th><th>Change</th></tr>
{{range .Delta.Rows}}{{$row := .}}{{range .Drift}}<tr><td><a href="#{{$row.Control}}">{{$row.Control}}</a></td><td>{{with $row.After}}<span class="{{status .Status}}">{{.Status}}</span>{{end}}</td><td><code>{{.Fact}}</code></td><td>{{factBefore .}}</td><td>{{factAfter .}}</td><td class="change-{{.Change}}"><strong>{{.Change}}</strong></td></tr>
{{end}}{{end}}</table></section>{{end}}
<h2>Controls</h2>
<table class="delta"><tr><th>Change</th><th>Control</th><th>Title</th><th>Before</th><th>After</th></tr>
{{range .Delta.Rows}}<tr class="{{.Class}}{{if .Drift}} drifted{{end}}" id="{{.Control}}"><td><strong>{{.Class}}</strong>{{if .Drift}}<br><a class="drift" href="#drift">drifted</a>{{end}}</td><td>{{.Control}}</td><td>{{.Title}}</td>
<td>{{with .Before}}<span class="{{status .Status}}">{{.Status}}</span>{{if eq (status .Status) "fail"}} ({{.Severity}}){{end}}: {{.Reason}}{{range .Evidence}}<br><a href="{{href $.BaselineHref .}}">{{.}}</a>{{end}}{{else}}—{{end}}</td>
<td>{{with .After}}<span class="{{status .Status}}">{{.Status}}</span>{{if eq (status .Status) "fail"}} ({{.Severity}}){{end}}: {{.Reason}}{{range .Evidence}}<br><a href="{{href $.RerunHref .}}">{{.}}</a>{{end}}{{else}}—{{end}}</td></tr>
{{end}}</table>
{{with routine .Delta}}<p class="meta" id="routine">Routine changes (not drift): {{.}}.</p>{{end}}
</body>
</html>
`))

// DeltaHTML writes delta.html: one self-contained page, regressions first, each side's evidence
// linked into its run folder.
func DeltaHTML(w io.Writer, in *DeltaInput) error { return deltaPage.Execute(w, in) }

// factSide renders one side of a drifted fact: the value, or for a list what the rerun added
// (after) or removed (before).
func factSide(c delta.FactChange, before bool) string {
	if c.Added != nil || c.Removed != nil {
		switch {
		case before && len(c.Removed) > 0:
			return "− " + strings.Join(c.Removed, ", ")
		case !before && len(c.Added) > 0:
			return "+ " + strings.Join(c.Added, ", ")
		}
		return "—"
	}
	v := c.After
	if before {
		v = c.Before
	}
	switch x := v.(type) {
	case nil:
		return "(not observed)"
	case string:
		return x
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// routineText lists the routine churn of a delta, control by control: "CERT-CHAIN
// (cert.fingerprint, cert.serial)"; "" when there is none.
func routineText(d *delta.Delta) string {
	var parts []string
	for _, r := range d.Rows {
		if len(r.Routine) == 0 {
			continue
		}
		var facts []string
		for _, c := range r.Routine {
			facts = append(facts, c.Fact)
		}
		parts = append(parts, r.Control+" ("+strings.Join(facts, ", ")+")")
	}
	return strings.Join(parts, "; ")
}

// classCell is a delta row's class for the Markdown table, with its drift flagged.
func classCell(r delta.Row) string {
	if len(r.Drift) > 0 {
		return string(r.Class) + ", drifted"
	}
	return string(r.Class)
}

// driftMarkdown appends the "same verdict, configuration changed" table of a delta, if any.
func driftMarkdown(b *strings.Builder, d *delta.Delta) {
	if d.Summary.Drifted > 0 {
		b.WriteString("\n## Same verdict, configuration changed\n\n")
		b.WriteString("A configuration fact behind the verdict changed since the baseline. A renewal that only changes the certificate's fingerprint, serial or dates is routine, not drift.\n\n")
		b.WriteString("| Control | Verdict | Fact | Baseline | Rerun | Change |\n|---|---|---|---|---|---|\n")
		for _, r := range d.Rows {
			for _, c := range r.Drift {
				verdict := ""
				if r.After != nil {
					verdict = string(r.After.Status)
				}
				fmt.Fprintf(b, "| %s | %s | `%s` | %s | %s | %s |\n", r.Control, verdict, c.Fact, cell(factSide(c, true)), cell(factSide(c, false)), c.Change)
			}
		}
	}
	if rt := routineText(d); rt != "" {
		fmt.Fprintf(b, "\nRoutine changes (not drift): %s.\n", rt)
	}
}
