package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/history"
)

// historyFixture is a series of five runs from the fixtures, a day apart: exposed, hardened,
// exposed again (everything regresses), hardened, and the hardened path renewed with a weaker key.
func historyFixture(t *testing.T, dir string) *HistoryInput {
	t.Helper()
	var entries []history.Entry
	var dirs []string
	for i, name := range []string{"exposed", "hardened", "exposed", "hardened", "weakkey"} {
		run, cat, rdir := fixture(t, name)
		run.Volatile.Started = time.Date(2026, 1, 2+i, 3, 4, 5, 0, time.UTC)
		in, err := Build(run, cat, BuildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hops := map[string]string{}
		for _, r := range in.Backlog {
			hops[r.Control] = r.Hop
		}
		entries = append(entries, history.Entry{Path: "testdata/" + name, Run: run, Hops: hops})
		dirs = append(dirs, rdir)
	}
	h, err := history.Build(entries)
	if err != nil {
		t.Fatal(err)
	}
	return NewHistoryInput(h, dir, dirs)
}

func init() {
	extraBrowserPages = append(extraBrowserPages, func(t *testing.T, dir string) (string, string) {
		in := historyFixture(t, dir)
		p := filepath.Join(dir, "history.html")
		var b bytes.Buffer
		if err := HistoryHTML(&b, in); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p, in.History.Summary.Headline
	})
}

// TestHistoryGolden renders the history writers on the five-run fixture series: the trend, the
// flapping controls, the drift of the weaker key.
func TestHistoryGolden(t *testing.T) {
	dir := filepath.Join("testdata", "golden", "history")
	in := historyFixture(t, dir)
	h := in.History
	if want := "5 runs · findings 11 → 0 · 11 regressions · 11 flapping controls · 2 controls drifted"; h.Summary.Headline != want {
		t.Errorf("headline %q, want %q", h.Summary.Headline, want)
	}
	for _, w := range HistoryWriters() {
		var b, again bytes.Buffer
		if err := w.Render(&b, in); err != nil {
			t.Fatal(err)
		}
		w.Render(&again, in)
		if !bytes.Equal(b.Bytes(), again.Bytes()) {
			t.Errorf("%s: two renderings differ", w.File)
		}
		golden(t, "history/"+w.File, b.Bytes())
	}
	var page bytes.Buffer
	HistoryHTML(&page, in)
	for _, want := range []string{`<a href="../../exposed/report.html">R1</a>`, `class="badge flapping">flapping`, `<td class="st fail regressed">fail ↓</td>`, "<code>cert.key</code></td><td>ECDSA P-256</td><td>RSA 2048</td><td><strong>weaker</strong>",
		`aria-label="findings by severity over the runs"`, "Findings by severity and hop, R5"} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("history.html lacks %q", want)
		}
	}
}
