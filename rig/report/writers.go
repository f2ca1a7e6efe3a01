package report

import (
	"fmt"
	"io"
	"strings"
)

// Writer renders a run's Input into one file of the run folder.
type Writer struct {
	Name   string // what --format names
	File   string // file name inside the run folder
	Render func(io.Writer, *Input) error
}

// Writers returns every run writer in a fixed order.
func Writers() []Writer {
	return []Writer{
		{Name: "summary", File: "summary.md", Render: SummaryMarkdown},
		{Name: "html", File: "report.html", Render: HTML},
		{Name: "sarif", File: "findings.sarif", Render: SARIF},
		{Name: "junit", File: "junit.xml", Render: JUnit},
		{Name: "backlog", File: "backlog.csv", Render: BacklogCSV},
	}
}

// FormatNames lists the names Select accepts besides "all".
func FormatNames() []string {
	var names []string
	for _, w := range Writers() {
		names = append(names, w.Name)
	}
	return names
}

// Select returns the writers named (in registry order); "all" or no name selects every writer.
func Select(names []string) ([]Writer, error) {
	want := map[string]bool{}
	for _, n := range names {
		for _, part := range strings.Split(n, ",") {
			if part = strings.TrimSpace(part); part != "" {
				want[part] = true
			}
		}
	}
	all := Writers()
	if len(want) == 0 || want["all"] {
		return all, nil
	}
	var out []Writer
	for _, w := range all {
		if want[w.Name] {
			out = append(out, w)
			delete(want, w.Name)
		}
	}
	for n := range want {
		return nil, fmt.Errorf("report: unknown format %q (known: all, %s)", n, strings.Join(FormatNames(), ", "))
	}
	return out, nil
}
