package report

import (
	"context"
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
}

func loadInBrowser(t *testing.T, bin, file string) pageCheck {
	t.Helper()
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
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
	// Navigate waits for the page to load.
	if err := chromedp.Do(bctx, chromedp.Navigate("file://"+abs)); err != nil {
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
	mu.Lock()
	defer mu.Unlock()
	pc.headline, pc.visible = headline, visible
	return pc
}

// TestHTMLInChromium opens the rendered report.html and delta.html pages in headless Chromium:
// no console error or warning, and the headline is visible on the first screen. A page built to
// break both rules proves the check can fail.
func TestHTMLInChromium(t *testing.T) {
	bin := browserPath(t)
	dir := t.TempDir()
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
	pages := map[string]string{
		write("exposed.html", func(f *os.File) error { return HTML(f, exposed) }):   exposed.Headline,
		write("hardened.html", func(f *os.File) error { return HTML(f, hardened) }): hardened.Headline,
		write("trust.html", func(f *os.File) error { return HTML(f, trust) }):       trust.Headline,
	}
	if exposed.Timeline == nil || trust.Timeline == nil || len(trust.Timeline.Windows) == 0 {
		t.Fatal("the exposed or trust fixture has no timeline (or no fault window): the SVG would go untested")
	}
	a, _, adir := fixture(t, "exposed")
	b, _, bdir := fixture(t, "hardened")
	d := NewDeltaInput(deltaCompare(a, b), dir, adir, bdir)
	pages[write("delta.html", func(f *os.File) error { return DeltaHTML(f, d) })] = d.Delta.Summary.Headline
	for p, want := range pages {
		t.Run(filepath.Base(p), func(t *testing.T) {
			pc := loadInBrowser(t, bin, p)
			for _, c := range pc.console {
				t.Errorf("console: %s", c)
			}
			if pc.headline != want || !pc.visible {
				t.Errorf("headline %q visible=%v, want %q visible", pc.headline, pc.visible, want)
			}
		})
	}
	t.Run("broken page is caught", func(t *testing.T) {
		p := filepath.Join(dir, "broken.html")
		os.WriteFile(p, []byte(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>x</title></head><body>
<h1 id="headline" style="visibility:hidden">Hidden</h1><script>console.error("boom")</script></body></html>`), 0o644)
		pc := loadInBrowser(t, bin, p)
		if len(pc.console) == 0 {
			t.Error("console.error on the page went unseen")
		}
		if pc.visible || pc.headline != "Hidden" {
			t.Errorf("a hidden headline counted as visible: %+v", pc)
		}
	})
}
