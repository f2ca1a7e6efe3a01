// Package pdf prints a rendered page of the rig to PDF through headless Chromium (chromedp), for
// `rig pdf`: the leadership summary as a document a reader can file or forward.
package pdf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// ErrNoBrowser: no Chromium (or Chrome) to print with.
var ErrNoBrowser = errors.New("no Chromium to print the PDF with")

// BrowserNames are the executables looked for on PATH, in order.
var BrowserNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// FindBrowser returns the browser to print with: explicit when given (it must exist), else the
// first of BrowserNames on PATH. The error says how to install one.
func FindBrowser(explicit string) (string, error) {
	if explicit != "" {
		p, err := exec.LookPath(explicit)
		if err != nil {
			return "", fmt.Errorf("%w: --browser %s: %v (name the chromium or google-chrome executable)", ErrNoBrowser, explicit, err)
		}
		return p, nil
	}
	for _, n := range BrowserNames {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: none of %s is on PATH; install Chromium (Debian, Ubuntu, Raspberry Pi OS: apt-get install chromium) or name a Chromium or Chrome executable with --browser PATH",
		ErrNoBrowser, strings.Join(BrowserNames, ", "))
}

// Timeout bounds one print: browser start, page load and the PDF.
const Timeout = 90 * time.Second

// Print opens the HTML file page in a headless browser and returns it printed to PDF on A4, with
// its backgrounds, the page's own @page size and margins when it sets them.
func Print(ctx context.Context, browser, page string) ([]byte, error) {
	abs, err := filepath.Abs(page)
	if err != nil {
		return nil, fmt.Errorf("pdf: %w", err)
	}
	profile, err := os.MkdirTemp("", "rig-pdf-*")
	if err != nil {
		return nil, fmt.Errorf("pdf: browser profile folder: %w", err)
	}
	defer os.RemoveAll(profile)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser),
		chromedp.Headless, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
	}
	if os.Geteuid() == 0 {
		// Chromium refuses to run as root inside its sandbox; the page is the rig's own, with
		// no script and no external asset.
		opts = append(opts, chromedp.NoSandbox)
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	if err := chromedp.Do(bctx, chromedp.Navigate("file://"+abs)); err != nil {
		return nil, fmt.Errorf("pdf: %s could not open %s: %w", browser, page, err)
	}
	b, err := chromedp.Run(bctx, chromedp.PrintToPDF(
		chromedp.PDFPaper(chromedp.PaperA4),
		chromedp.PDFMargin(0.5),
		chromedp.PDFPrintBackground(),
		chromedp.PDFPreferCSSPageSize(),
	))
	if err != nil {
		return nil, fmt.Errorf("pdf: %s could not print %s: %w", browser, page, err)
	}
	return b, nil
}
