package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/report"
	"github.com/pathrig/rig/rig/report/pdf"
)

func newPDFCmd() *cobra.Command {
	var out, browser string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "pdf RUN",
		Short: "Write a run's leadership summary as a PDF (through headless Chromium)",
		Long: `Write the leadership summary of a run folder as an A4 PDF: headline, decision, findings by
severity and hop, what is exposed, the first fixes, what is solid and what could not be
evaluated. Chromium (or Chrome) prints it headless: --browser names one, else chromium,
chromium-browser, google-chrome or google-chrome-stable is looked up on PATH; without one the
command fails (exit 4) saying how to install it (apt-get install chromium).

RUN must pass 'rig verify' first (exit 5). --out (default RUN-summary.pdf, beside the run
folder) must not exist and must lie outside the run: the run folder is never changed.

` + exitCodesHelp,
		Example: `  rig pdf out/demo/baseline
  rig pdf out/demo/hardened --out hardened-summary.pdf`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			run, err := verifiedRun("run", args[0])
			if err != nil {
				return err
			}
			dir := runDir(args[0])
			if out == "" {
				out = strings.TrimRight(filepath.Clean(dir), string(filepath.Separator)) + "-summary.pdf"
			}
			if err := outsideRuns(out, dir); err != nil {
				return err
			}
			if _, err := os.Lstat(out); err == nil {
				return &exitError{exitUsage, fmt.Errorf("--out %s exists: rig pdf never writes over a file (remove it or pick another --out)", out)}
			}
			bin, err := pdf.FindBrowser(browser)
			if err != nil {
				return &exitError{exitRunError, fmt.Errorf("rig pdf: %w", err)}
			}
			cat, err := checks.Catalog()
			if err != nil {
				return &exitError{exitRunError, err}
			}
			in, err := report.Build(run, cat, report.BuildOptions{RunDir: dir})
			if err != nil {
				return &exitError{exitRunError, err}
			}
			var page bytes.Buffer
			if err := report.LeadershipHTML(&page, in); err != nil {
				return &exitError{exitRunError, err}
			}
			tmp, err := os.MkdirTemp("", "rig-pdf-page-*")
			if err != nil {
				return &exitError{exitRunError, err}
			}
			defer os.RemoveAll(tmp)
			src := filepath.Join(tmp, "summary.html")
			if err := os.WriteFile(src, page.Bytes(), 0o600); err != nil {
				return &exitError{exitRunError, err}
			}
			b, err := pdf.Print(cmd.Context(), bin, src)
			if err != nil {
				return &exitError{exitRunError, err}
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				code := exitRunError
				if errors.Is(err, os.ErrExist) {
					code = exitUsage
				}
				return &exitError{code, fmt.Errorf("rig pdf: %w", err)}
			}
			if _, err := f.Write(b); err != nil {
				f.Close()
				return &exitError{exitRunError, fmt.Errorf("rig pdf: write %s: %w", out, err)}
			}
			if err := f.Close(); err != nil {
				return &exitError{exitRunError, fmt.Errorf("rig pdf: write %s: %w", out, err)}
			}
			if !quiet {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\n  %s\n", run.Summary.Headline, out)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "PDF file to write (default RUN-summary.pdf); must not exist")
	cmd.Flags().StringVar(&browser, "browser", "", "Chromium or Chrome executable to print with (default: the first of chromium, chromium-browser, google-chrome, google-chrome-stable on PATH)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing on stdout")
	return cmd
}
