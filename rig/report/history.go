package report

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"path"
	"strings"

	"github.com/pathrig/rig/rig/delta"
	"github.com/pathrig/rig/rig/history"
	"github.com/pathrig/rig/rig/record"
)

// HistoryInput is what the history writers need: the history and where each run folder is,
// relative to the history folder, so each run's report can be linked.
type HistoryInput struct {
	History  *history.History
	RunHrefs []string // one per run (History.Runs order), slash-separated; "" for no link
}

// NewHistoryInput builds the input of the history writers for a history written into dir;
// runDirs are the run folders in History.Runs order.
func NewHistoryInput(h *history.History, dir string, runDirs []string) *HistoryInput {
	in := &HistoryInput{History: h}
	for _, d := range runDirs {
		in.RunHrefs = append(in.RunHrefs, relHref(dir, d))
	}
	return in
}

// HistoryWriter renders a history into one file of the history folder.
type HistoryWriter struct {
	Name   string
	File   string
	Render func(io.Writer, *HistoryInput) error
}

// HistoryWriters returns every history writer in a fixed order.
func HistoryWriters() []HistoryWriter {
	return []HistoryWriter{
		{Name: "json", File: history.File, Render: HistoryJSON},
		{Name: "md", File: "history.md", Render: HistoryMarkdown},
		{Name: "html", File: "history.html", Render: HistoryHTML},
	}
}

// HistoryJSON writes history.json.
func HistoryJSON(w io.Writer, in *HistoryInput) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(in.History)
}

// statusMark is a control's status in one run of a history table, with the change from the run
// before it: "fail ↓" regressed, "pass ↑" improved, "—" absent.
func statusMark(status, class string) string {
	switch {
	case status == history.Absent:
		return "—"
	case class == string(delta.Regressed):
		return status + " ↓"
	case class == string(delta.Improved):
		return status + " ↑"
	}
	return status
}

// HistoryMarkdown writes history.md: the runs, the findings by severity, every control's status
// per run (flapping ones marked) and the drift.
func HistoryMarkdown(w io.Writer, in *HistoryInput) error {
	h := in.History
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", h.Summary.Headline)
	b.WriteString("## Runs\n\n| Run | Started (UTC) | Scenario | Profile | Findings | Critical | High | Medium | Low | Headline |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range h.Runs {
		s := r.BySeverity
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %d | %d | %d | %d | %s |\n", r.ID, r.Started.Format("2006-01-02 15:04:05"), cell(r.Scenario), cell(r.Profile),
			r.Findings, s.Critical, s.High, s.Medium, s.Low, cell(r.Headline))
	}
	b.WriteString("\n## Controls\n\nStatus per run: ↓ regressed, ↑ improved against the run before, — not evaluated. A control is **flapping** when its status changed more than once.\n\n")
	b.WriteString("| Control |")
	for _, r := range h.Runs {
		b.WriteString(" " + r.ID + " |")
	}
	b.WriteString(" Changes |\n|---|")
	b.WriteString(strings.Repeat("---|", len(h.Runs)+1) + "\n")
	for _, c := range h.Controls {
		fmt.Fprintf(&b, "| %s |", c.Control)
		for i, s := range c.Statuses {
			fmt.Fprintf(&b, " %s |", statusMark(s, c.Classes[i]))
		}
		changes := fmt.Sprint(c.Changes)
		if c.Flapping {
			changes += " **flapping**"
		}
		fmt.Fprintf(&b, " %s |\n", changes)
	}
	if h.Summary.Drifted > 0 {
		b.WriteString("\n## Same verdict, configuration changed\n\nA configuration fact behind the verdict changed from one run to the next. A renewal that only changes the certificate's fingerprint, serial or dates is routine, not drift.\n\n")
		b.WriteString("| Control | Runs | Fact | Before | After | Change |\n|---|---|---|---|---|---|\n")
		for _, c := range h.Controls {
			for _, d := range c.Drift {
				for _, f := range d.Facts {
					fmt.Fprintf(&b, "| %s | %s → %s | `%s` | %s | %s | %s |\n", c.Control, d.From, d.To, f.Fact, cell(factSide(f, true)), cell(factSide(f, false)), f.Change)
				}
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// trendRuns turns a history's runs into the findings-over-runs chart's input.
func trendRuns(h *history.History) []TrendRun {
	var out []TrendRun
	for _, r := range h.Runs {
		count := map[record.Severity]int{}
		for _, s := range severityOrder {
			count[s] = r.BySeverity.Of(s)
		}
		out = append(out, TrendRun{ID: r.ID, Title: r.Profile + ": " + r.Headline, Count: count})
	}
	return out
}

var historyPage = template.Must(template.New("history.html").Funcs(htmlFuncs).Funcs(template.FuncMap{
	"trend": func(h *history.History) template.HTML { return template.HTML(severityTrendSVG(trendRuns(h))) },
	"hops": func(r history.Run) template.HTML {
		var cells []HopCell
		for _, c := range r.ByHop {
			cells = append(cells, HopCell{Hop: c.Hop, Severity: c.Severity, Count: c.Count})
		}
		return template.HTML(severityHopSVG(cells))
	},
	"last":       func(h *history.History) history.Run { return h.Runs[len(h.Runs)-1] },
	"first":      func(h *history.History) history.Run { return h.Runs[0] },
	"mark":       statusMark,
	"factBefore": func(c delta.FactChange) string { return factSide(c, true) },
	"factAfter":  func(c delta.FactChange) string { return factSide(c, false) },
	"href": func(base, p string) string {
		if base == "" {
			return ""
		}
		return path.Join(base, p)
	},
	"hrefOf": func(in *HistoryInput, i int) string {
		if i < len(in.RunHrefs) {
			return in.RunHrefs[i]
		}
		return ""
	},
	"stamp": func(r history.Run) string { return r.Started.Format("2006-01-02 15:04") },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.History.Summary.Headline}} · rig history</title>
<style>{{css}}
.scroll{overflow-x:auto}
td.st{text-align:center;white-space:nowrap}
td.st.pass{background:#dafbe1}td.st.fail{background:#ffebe9}td.st.error{background:#fff8c5}td.st.skip,td.st.absent{background:#f6f8fa;color:#57606a}
td.st.regressed{box-shadow:inset 0 0 0 2px #cf222e}td.st.improved{box-shadow:inset 0 0 0 2px #1a7f37}
.badge.flapping{color:#8250df}
</style>
</head>
<body>
{{$h := .History}}<h1 id="headline">{{$h.Summary.Headline}}</h1>
<p class="meta">{{$h.Summary.Runs}} runs of the path from {{stamp (first $h)}} to {{stamp (last $h)}} (UTC), oldest first · {{$h.Summary.Controls}} controls · {{$h.Summary.Regressions}} regressions from one run to the next · {{$h.Summary.Flapping}} flapping · {{$h.Summary.Drifted}} drifted</p>

<section id="trend"><h2>Findings by severity over the runs</h2>
<figure>{{trend $h}}<figcaption>Failed controls per run, by severity; the runs are listed below.</figcaption></figure>
</section>

<section id="findings-by-hop">{{with last $h}}<h2>Findings by severity and hop, {{.ID}}</h2>
<figure>{{hops .}}<figcaption>The latest run's findings, each at the hop where its fix is made.</figcaption></figure>{{end}}
</section>

<section id="runs"><h2>Runs</h2>
<table><tr><th>Run</th><th>Started (UTC)</th><th>Scenario</th><th>Profile</th><th>Findings</th><th>Headline</th></tr>
{{range $i, $r := $h.Runs}}<tr><td>{{with hrefOf $ $i}}<a href="{{href . "report.html"}}">{{$r.ID}}</a>{{else}}{{$r.ID}}{{end}}</td><td>{{stamp $r}}</td><td>{{$r.Scenario}}</td><td>{{$r.Profile}}</td><td>{{$r.Findings}}{{if $r.Findings}} <span class="meta">({{$r.BySeverity.Critical}} critical, {{$r.BySeverity.High}} high, {{$r.BySeverity.Medium}} medium, {{$r.BySeverity.Low}} low)</span>{{end}}</td><td>{{$r.Headline}}</td></tr>
{{end}}</table>
</section>

<section id="controls"><h2>Controls</h2>
<p>Status per run: ↓ regressed, ↑ improved against the run before, — not evaluated. A control is <strong>flapping</strong> when its status changed more than once across the series.</p>
<div class="scroll"><table><tr><th>Control</th>{{range $h.Runs}}<th>{{.ID}}</th>{{end}}<th>Changes</th></tr>
{{range $h.Controls}}{{$c := .}}<tr{{if .Flapping}} class="flapping"{{end}} id="{{.Control}}"><td><span title="{{.Title}}">{{.Control}}</span>{{if .Flapping}} <span class="badge flapping">flapping</span>{{end}}{{if .Drift}} <a class="badge" href="#drift">drift</a>{{end}}</td>{{range $i, $s := .Statuses}}{{$cl := index $c.Classes $i}}<td class="st {{$s}} {{$cl}}">{{mark $s $cl}}</td>{{end}}<td>{{.Changes}}</td></tr>
{{end}}</table></div>
</section>

{{if $h.Summary.Drifted}}<section id="drift"><h2>Same verdict, configuration changed</h2>
<p>A configuration fact behind the verdict changed from one run to the next. A renewal that only changes the certificate's fingerprint, serial or dates is routine, not drift.</p>
<table><tr><th>Control</th><th>Runs</th><th>Fact</th><th>Before</th><th>After</th><th>Change</th></tr>
{{range $h.Controls}}{{$c := .}}{{range .Drift}}{{$d := .}}{{range .Facts}}<tr><td><a href="#{{$c.Control}}">{{$c.Control}}</a></td><td>{{$d.From}} → {{$d.To}}</td><td><code>{{.Fact}}</code></td><td>{{factBefore .}}</td><td>{{factAfter .}}</td><td><strong>{{.Change}}</strong></td></tr>
{{end}}{{end}}{{end}}</table></section>{{end}}
</body>
</html>
`))

// HistoryHTML writes history.html: one self-contained page (inline CSS and SVG, no script) with
// the findings by severity over the runs, the latest run's findings by severity and hop, the runs,
// one row per control with its status per run (flapping marked) and the drift.
func HistoryHTML(w io.Writer, in *HistoryInput) error { return historyPage.Execute(w, in) }
