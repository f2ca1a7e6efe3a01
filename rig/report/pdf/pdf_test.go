package pdf

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestFindBrowserMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := FindBrowser("")
	if !errors.Is(err, ErrNoBrowser) || !strings.Contains(err.Error(), "apt-get install chromium") || !strings.Contains(err.Error(), "--browser") {
		t.Errorf("FindBrowser without a browser: %v; want ErrNoBrowser naming how to install one", err)
	}
	if _, err := FindBrowser("/nonexistent/chromium"); !errors.Is(err, ErrNoBrowser) {
		t.Errorf("FindBrowser(a missing path) = %v, want ErrNoBrowser", err)
	}
}

// TestPrint prints a two-page document with Chromium (skipped without it, a failure under CI).
func TestPrint(t *testing.T) {
	browser, err := FindBrowser("")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		if _, lerr := exec.LookPath("chromium"); lerr != nil {
			t.Skip("chromium is not installed (apt-get install chromium); CI installs it")
		}
		t.Fatal(err)
	}
	page := filepath.Join(t.TempDir(), "p.html")
	os.WriteFile(page, []byte(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>t</title></head><body><h1>Hardened path · 0 findings</h1><p style="break-before:page">second page</p></body></html>`), 0o644)
	b, err := Print(context.Background(), browser, page)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("%PDF-")) {
		t.Fatalf("not a PDF: %q", b[:min(len(b), 16)])
	}
	if n := len(regexp.MustCompile(`/Type\s*/Page\b`).FindAll(b, -1)); n != 2 {
		t.Errorf("%d pages, want 2", n)
	}
}
