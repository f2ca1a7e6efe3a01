package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/engine"
	"github.com/pathrig/rig/rig/history"
	"github.com/pathrig/rig/rig/manifest"
	"github.com/pathrig/rig/rig/report"
)

func newHistoryCmd() *cobra.Command {
	var out string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "history RUN... --out DIR",
		Short: "Follow a path over a series of runs: trend, flapping controls, drift",
		Long: `Follow one path over a series of run folders, given in any order (they are put in time order),
and write the history folder:

  history.json  machine-readable (schema rig.history/v1, rig/history/schema/history.v1.json):
                the runs with their findings by severity and hop; per control its status in
                every run, its changes and whether it flaps; the drift between runs
  history.md    the same for people
  history.html  one self-contained page: findings by severity over the runs, the latest run's
                findings by severity and hop, one row per control with its status per run
  MANIFEST.sha256

A control is flapping when its status changed more than once across the series. Drift is a
configuration fact that changed between two consecutive runs while the control's verdict stayed
the same (a weaker key, a new accepted TLS version or suite, another broker build); a renewal
that only changes a certificate's fingerprint, serial or dates is routine, not drift.

Every run must first pass 'rig verify' (exit 5 otherwise, nothing written). --out must not exist
or be empty and must lie outside every run.

` + exitCodesHelp,
		Example: `  rig history out/runs/r1 out/runs/r2 out/runs/r3 --out out/history
  rig history out/release-*/ --out out/history-q3`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return &exitError{exitUsage, errors.New("--out is required: the folder to write history.json, history.md and history.html into")}
			}
			cat, err := checks.Catalog()
			if err != nil {
				return &exitError{exitRunError, err}
			}
			var entries []history.Entry
			dirs := map[string]string{} // path as given -> run folder
			seen := map[string]string{}
			for i, a := range args {
				run, err := verifiedRun(fmt.Sprintf("run %d", i+1), a)
				if err != nil {
					return err
				}
				dir := runDir(a)
				abs, _ := filepath.Abs(dir)
				if first, dup := seen[abs]; dup {
					return &exitError{exitUsage, fmt.Errorf("%s and %s are the same run folder: name each run once", first, a)}
				}
				seen[abs] = a
				dirs[a] = dir
				in, err := report.Build(run, cat, report.BuildOptions{})
				if err != nil {
					return &exitError{exitRunError, err}
				}
				hops := map[string]string{}
				for _, r := range in.Backlog {
					hops[r.Control] = r.Hop
				}
				entries = append(entries, history.Entry{Path: a, Run: run, Hops: hops})
			}
			if err := outsideRuns(out, args...); err != nil {
				return err
			}
			if err := engine.PrepareOut(out); err != nil {
				code := exitRunError
				if errors.Is(err, engine.ErrUsage) {
					code = exitUsage
				}
				return &exitError{code, fmt.Errorf("history: %w", err)}
			}
			h, err := history.Build(entries)
			if err != nil {
				return &exitError{exitRunError, err}
			}
			var runDirs []string
			for _, r := range h.Runs {
				runDirs = append(runDirs, dirs[r.Path])
			}
			in := report.NewHistoryInput(h, out, runDirs)
			for _, w := range report.HistoryWriters() {
				var b bytes.Buffer
				if err := w.Render(&b, in); err != nil {
					return &exitError{exitRunError, fmt.Errorf("history: render %s: %w", w.File, err)}
				}
				if err := os.WriteFile(filepath.Join(out, w.File), b.Bytes(), 0o644); err != nil {
					return &exitError{exitRunError, fmt.Errorf("history: %w", err)}
				}
			}
			if err := manifest.Write(out, nil); err != nil {
				return &exitError{exitRunError, err}
			}
			if !quiet {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\n  %s\n", h.Summary.Headline, out)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "history folder to write (required); must not exist or be empty, and lie outside every run")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing on stdout")
	return cmd
}

// runDir is the run folder of a path given as a folder or as the run.json inside one.
func runDir(path string) string {
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
		return filepath.Dir(path)
	}
	return path
}
