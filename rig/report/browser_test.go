package report

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/pathrig/rig/rig/delta"
	"github.com/pathrig/rig/rig/record"
)

// browserPath finds Debian's chromium. Locally the test skips without it; under CI (which installs
// it in .ci/run) a missing browser is a failure.
func browserPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed; .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium); CI installs it")
	return ""
}

// pageCheck is what a headless browser saw on one page.
type pageCheck struct {
	console  []string // console errors and warnings, uncaught exceptions, browser log errors
	headline string   // text of #headline
	visible  bool     // #headline has a box inside the first screen, not hidden
	layout   layout
}

// layout is what the element boxes of a page say (getBoundingClientRect and the client rects of
// each text node, clipped by every ancestor that clips its overflow).
type layout struct {
	Texts       int      `json:"texts"`       // text boxes looked at (one per line of a text node; an SVG <text> as one)
	Elements    int      `json:"elements"`    // elements looked at
	Overlaps    []string `json:"overlaps"`    // two text boxes of different text nodes that overlap
	Outside     []string `json:"outside"`     // elements that stick out of the viewport's width
	ScrollWidth int      `json:"scrollWidth"` // the document's scroll width
	ClientWidth int      `json:"clientWidth"` // the viewport's width
}

// layoutJS measures the page. Text boxes come from a Range over each text node (one rect per line
// it occupies); in SVG, from the <text> element's box. <title> (a tooltip) and closed <details>
// draw nothing: text and elements that checkVisibility calls invisible (a closed <details>'s
// content keeps its boxes under content-visibility: hidden) are left out. Two boxes overlap when they share more than 1 px both ways: text
// that merely touches (words of one line split over two nodes) does not count.
const layoutJS = `(() => {
  const vw = document.documentElement.clientWidth;
  const clip = (el, r) => {
    let x1 = r.left, y1 = r.top, x2 = r.right, y2 = r.bottom;
    for (let a = el.parentElement; a && a !== document.documentElement; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.overflowX === "visible" && s.overflowY === "visible") continue;
      const c = a.getBoundingClientRect();
      if (s.overflowX !== "visible") { x1 = Math.max(x1, c.left); x2 = Math.min(x2, c.right); }
      if (s.overflowY !== "visible") { y1 = Math.max(y1, c.top); y2 = Math.min(y2, c.bottom); }
    }
    return {l: x1, t: y1, r: x2, b: y2};
  };
  const name = el => {
    let n = el.tagName.toLowerCase();
    if (el.id) n += "#" + el.id;
    const sec = el.closest("section[id], article[id], [id]");
    if (sec && sec !== el) n += " in #" + sec.id;
    return n;
  };
  const boxes = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const text = n.textContent.trim();
    const el = n.parentElement;
    if (!text || !el || el.closest("title, style, script") || !el.checkVisibility({visibilityProperty: true})) continue;
    let rects;
    if (el instanceof SVGElement) {
      rects = [el.getBoundingClientRect()];
    } else {
      const range = document.createRange();
      range.selectNodeContents(n);
      rects = Array.from(range.getClientRects());
    }
    for (const r of rects) {
      const c = clip(el, r);
      if (c.r - c.l < 0.5 || c.b - c.t < 0.5) continue;
      boxes.push({c, node: n, what: name(el) + " " + JSON.stringify(text.slice(0, 40))});
    }
  }
  boxes.sort((a, b) => a.c.t - b.c.t);
  const overlaps = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length && boxes[j].c.t < boxes[i].c.b; j++) {
      const a = boxes[i], b = boxes[j];
      if (a.node === b.node) continue;
      const w = Math.min(a.c.r, b.c.r) - Math.max(a.c.l, b.c.l);
      const h = Math.min(a.c.b, b.c.b) - Math.max(a.c.t, b.c.t);
      if (w > 1 && h > 1) overlaps.push(a.what + " overlaps " + b.what + " (" + w.toFixed(1) + "×" + h.toFixed(1) + " px)");
    }
  }
  const outside = [];
  const all = document.body.querySelectorAll("*");
  for (const el of all) {
    const r = el.getBoundingClientRect();
    if ((r.width === 0 && r.height === 0) || !el.checkVisibility({visibilityProperty: true})) continue;
    const c = clip(el, r);
    if (c.r - c.l <= 0 || c.b - c.t <= 0) continue;
    if (c.r > vw + 0.5 || c.l < -0.5) outside.push(name(el) + " spans x " + c.l.toFixed(1) + ".." + c.r.toFixed(1) + " of " + vw);
  }
  return {texts: boxes.length, elements: all.length, overlaps: overlaps.slice(0, 20), outside: outside.slice(0, 20),
    scrollWidth: document.documentElement.scrollWidth, clientWidth: vw};
})()`

// newBrowser starts one headless Chromium for a test; every page opens in a tab of it.
func newBrowser(t *testing.T, bin string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(func() { bcancel(); acancel(); cancel() })
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// loadInBrowser opens file in a new tab of browser with a viewport width px wide, collects the
// console, measures the layout and, with RIG_SCREENSHOTS=DIR, saves a full-page screenshot there.
func loadInBrowser(t *testing.T, browser context.Context, file string, width int) pageCheck {
	t.Helper()
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	tctx, tcancel := context.WithTimeout(browser, 60*time.Second)
	defer tcancel()
	bctx, bcancel := chromedp.NewContext(tctx)
	defer bcancel()

	var mu sync.Mutex
	var pc pageCheck
	lerr := chromedp.Listen(bctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning || e.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range e.Args {
					args = append(args, strings.Trim(string(a.Value), `"`)+a.Description)
				}
				pc.console = append(pc.console, fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			pc.console = append(pc.console, "exception: "+e.ExceptionDetails.Text)
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError || e.Entry.Level == log.EntryLevelWarning {
				pc.console = append(pc.console, fmt.Sprintf("log %s (%s): %s %s", e.Entry.Level, e.Entry.Source, e.Entry.Text, e.Entry.URL))
			}
		}
	})
	if lerr != nil {
		t.Fatalf("start chromium: %v", lerr)
	}
	// The window has a minimum width; the viewport is emulated at the width asked for. Navigate
	// waits for the page to load.
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(int64(width), 900), chromedp.Navigate("file://"+abs)); err != nil {
		t.Fatalf("chromium on %s: %v", file, err)
	}
	headline, err := chromedp.Run(bctx, chromedp.Evaluate[string](`(() => { const h = document.getElementById("headline"); return h ? h.textContent : ""; })()`))
	if err != nil {
		t.Fatalf("chromium on %s: %v", file, err)
	}
	visible, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`(() => {
		const h = document.getElementById("headline");
		if (!h) return false;
		const r = h.getBoundingClientRect(), s = getComputedStyle(h);
		return r.width > 0 && r.height > 0 && r.top >= 0 && r.bottom <= innerHeight &&
			s.visibility === "visible" && s.display !== "none" && parseFloat(s.opacity) > 0 &&
			s.color !== s.backgroundColor;
	})()`))
	if err != nil {
		t.Fatalf("chromium on %s: %v", file, err)
	}
	raw, err := chromedp.Run(bctx, chromedp.Evaluate[json.RawMessage](layoutJS))
	if err != nil {
		t.Fatalf("chromium on %s: measure the layout: %v", file, err)
	}
	var lay layout
	if err := json.Unmarshal(raw, &lay); err != nil {
		t.Fatalf("layout of %s: %v", file, err)
	}
	if dir := os.Getenv("RIG_SCREENSHOTS"); dir != "" {
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot of %s: %v", file, err)
		}
		name := fmt.Sprintf("%s-%d.png", strings.TrimSuffix(filepath.Base(file), ".html"), width)
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	pc.headline, pc.visible, pc.layout = headline, visible, lay
	return pc
}

// browserPage is one page the Chromium test opens.
type browserPage struct {
	file     string
	headline string
}

// browserPages renders every HTML page the rig writes into dir, from the fixtures: report.html
// of the audit (exposed and hardened, the latter against a baseline), report.html of a
// telemetry-trust run with every fault kind on its timeline, delta.html (with drift) and
// history.html.
func browserPages(t *testing.T, dir string) []browserPage {
	t.Helper()
	write := func(name string, render func(*os.File) error) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := render(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return p
	}
	exposed := build(t, "exposed", "")
	hardened := build(t, "hardened", "exposed")
	trust := build(t, "trust", "")
	faults := build(t, "trust", "")
	faults.Timeline = faultsTimeline(t)
	if exposed.Timeline == nil || trust.Timeline == nil || len(trust.Timeline.Windows) == 0 {
		t.Fatal("the exposed or trust fixture has no timeline (or no fault window): the SVG would go untested")
	}
	pages := []browserPage{
		{write("exposed.html", func(f *os.File) error { return HTML(f, exposed) }), exposed.Headline},
		{write("hardened.html", func(f *os.File) error { return HTML(f, hardened) }), hardened.Headline},
		{write("trust.html", func(f *os.File) error { return HTML(f, trust) }), trust.Headline},
		{write("trust-all-faults.html", func(f *os.File) error { return HTML(f, faults) }), faults.Headline},
	}
	a, _, adir := fixture(t, "exposed")
	b, _, bdir := fixture(t, "hardened")
	w, _, wdir := fixture(t, "weakkey")
	d := NewDeltaInput(deltaCompare(a, b), dir, adir, bdir)
	pages = append(pages, browserPage{write("delta.html", func(f *os.File) error { return DeltaHTML(f, d) }), d.Delta.Summary.Headline})
	dw := NewDeltaInput(deltaCompareDrift(b, w), dir, bdir, wdir)
	if dw.Delta.Summary.Drifted == 0 {
		t.Fatal("the weakkey fixture drifts nowhere: the drift table would go untested")
	}
	pages = append(pages, browserPage{write("delta-drift.html", func(f *os.File) error { return DeltaHTML(f, dw) }), dw.Delta.Summary.Headline})
	for _, extra := range extraBrowserPages {
		p, headline := extra(t, dir)
		pages = append(pages, browserPage{p, headline})
	}
	return pages
}

// extraBrowserPages add pages written by other files' tests (history.html, the PDF's page).
var extraBrowserPages []func(t *testing.T, dir string) (file, headline string)

// TestHTMLInChromium opens every HTML page the rig writes in headless Chromium, at a desktop and a
// phone width: no console error or warning, the headline visible on the first screen, no two
// text boxes overlapping and no element wider than the viewport (the element boxes, measured
// with getBoundingClientRect). Pages built to break each rule prove the checks can fail.
func TestHTMLInChromium(t *testing.T) {
	browser := newBrowser(t, browserPath(t))
	dir := t.TempDir()
	for _, p := range browserPages(t, dir) {
		for _, width := range []int{1280, 390} {
			t.Run(fmt.Sprintf("%s@%d", filepath.Base(p.file), width), func(t *testing.T) {
				pc := loadInBrowser(t, browser, p.file, width)
				for _, c := range pc.console {
					t.Errorf("console: %s", c)
				}
				if pc.headline != p.headline || !pc.visible {
					t.Errorf("headline %q visible=%v, want %q visible", pc.headline, pc.visible, p.headline)
				}
				l := pc.layout
				if l.Texts < 10 {
					t.Errorf("only %d text boxes measured: the layout check saw nothing", l.Texts)
				}
				for _, o := range l.Overlaps {
					t.Errorf("overlapping text: %s", o)
				}
				for _, o := range l.Outside {
					t.Errorf("outside the viewport: %s", o)
				}
				if l.ScrollWidth > l.ClientWidth {
					t.Errorf("the page scrolls sideways: %d px wide in a %d px viewport", l.ScrollWidth, l.ClientWidth)
				}
				t.Logf("%d text boxes, %d elements: no overlap, nothing outside %d px", l.Texts, l.Elements, l.ClientWidth)
			})
		}
	}
	t.Run("broken page is caught", func(t *testing.T) {
		p := filepath.Join(dir, "broken.html")
		os.WriteFile(p, []byte(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>x</title></head><body>
<h1 id="headline" style="visibility:hidden">Hidden</h1><script>console.error("boom")</script>
<p style="position:relative">first label<span style="position:absolute;left:0;top:0">second label</span></p>
<svg width="300" height="40"><text x="10" y="20">fault one</text><text x="14" y="22">fault two</text></svg>
<div style="width:2000px">too wide</div>
<p>`+strings.Repeat("filler ", 10)+`</p></body></html>`), 0o644)
		pc := loadInBrowser(t, browser, p, 1280)
		if len(pc.console) == 0 {
			t.Error("console.error on the page went unseen")
		}
		if pc.visible || pc.headline != "Hidden" {
			t.Errorf("a hidden headline counted as visible: %+v", pc)
		}
		if len(pc.layout.Overlaps) != 2 {
			t.Errorf("overlaps %q: want the HTML and the SVG pair", pc.layout.Overlaps)
		}
		if len(pc.layout.Outside) == 0 || pc.layout.ScrollWidth <= pc.layout.ClientWidth {
			t.Errorf("a 2000 px element in a 1280 px window went unseen: %+v", pc.layout)
		}
	})
}

func faultsTimeline(t *testing.T) *Timeline {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "faults-timeline.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tl Timeline
	if err := json.Unmarshal(b, &tl); err != nil {
		t.Fatal(err)
	}
	return &tl
}

func deltaCompareDrift(a, b *record.Run) *delta.Delta {
	return delta.Compare(a, b, "testdata/hardened", "testdata/weakkey")
}
