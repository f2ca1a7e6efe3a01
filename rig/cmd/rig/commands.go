package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/delta"
	"github.com/pathrig/rig/rig/engine"
	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/report"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/scenarios"
)

// version is set with -ldflags "-X main.version=..." by `make build`.
var version = "dev"

const exitCodesHelp = `Exit codes:
  0  clean: no finding at or above --fail-on, no regression
  1  findings at or above --fail-on (rig run)
  2  usage or configuration error (bad flag, bad scenario, profile or bundle file)
  3  a control regressed against the baseline (rig delta)
  4  the run could not complete (stack failed to start, I/O error)`

func newRoot() *cobra.Command {
	var logFormat, logLevel string
	var verbose bool
	root := &cobra.Command{
		Use:   "rig",
		Short: "Audit an IoT path (device → gateway → MQTT broker → HTTP ingest) and keep the evidence",
		Long: `rig runs scenario files against an IoT path — an STM32 device (or its emulator) on a serial
link, the gateway, an MQTT broker and an HTTP ingest — probes every control of the selected
checks on the live endpoints, and writes a run folder with run.json and a leadership summary.
Two runs compare control by control with 'rig delta'.

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&logFormat, "log-format", "text", "operator log format on stderr: text or json")
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "least severe operator log level on stderr: debug, info, warn or error")
	root.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "same as --log-level debug: also log the stack components' detail")
	logger := func() (*slog.Logger, error) {
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
			return nil, &exitError{exitUsage, fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)}
		}
		if verbose {
			lvl = slog.LevelDebug
		}
		opts := &slog.HandlerOptions{Level: lvl}
		switch logFormat {
		case "text":
			return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
		case "json":
			return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
		}
		return nil, &exitError{exitUsage, fmt.Errorf("--log-format %q: want text or json", logFormat)}
	}
	root.AddCommand(newRunCmd(logger), newDeltaCmd(), newChecksCmd(), newScenariosCmd(), newVersionCmd())
	return root
}

func library() scenario.Library { return scenario.Library{Embedded: scenarios.FS} }

func checkIDs() []string {
	var ids []string
	for _, c := range checks.All() {
		ids = append(ids, c.ID)
	}
	return ids
}

func newRunCmd(logger func() (*slog.Logger, error)) *cobra.Command {
	var out, profile, failOn string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "run SCENARIO",
		Short: "Run a scenario and write a run folder",
		Long: `Run a scenario: start the reference stack in the scenario's hardening profile (or --profile),
bring up the device and gateway, probe every control of the scenario's bundles on the live
endpoints, and write the run folder:

  run.json      machine-readable record (schema rig.run/v1): results, summary.findings
  summary.md    leadership summary: headline, decision, what is exposed, what is solid, backlog
  evidence/     raw files backing each verdict (secrets redacted)

SCENARIO is a name from 'rig scenarios' (embedded defaults) or a path to a scenario file; a
profile or bundle it names is looked up beside it first (profiles/, bundles/), then in the
embedded defaults. A scenario with a targets: section (a client's broker, ingest, probe
identities, device certificates; see README.md) starts no reference stack and names no profile:
the checks probe those endpoints, and controls whose inputs are not named are skipped.

` + exitCodesHelp,
		Example: `  rig run audit-baseline --out out/baseline
  rig run audit-baseline --profile hardened --out out/hardened
  rig run scenarios/hardening-verify.yaml --out out/verify --fail-on high`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := logger()
			if err != nil {
				return err
			}
			threshold := record.Severity(failOn)
			if failOn != "none" && threshold.Rank() < 0 {
				return &exitError{exitUsage, fmt.Errorf("--fail-on %q: want none, info, low, medium, high or critical", failOn)}
			}
			plan, err := library().Load(args[0], profile, checkIDs())
			if err != nil {
				return &exitError{exitUsage, err}
			}
			if out == "" {
				out = filepath.Join("out", "runs", plan.Scenario.Name+"-"+plan.Profile.Name)
			}
			run, err := engine.Run(cmd.Context(), plan, engine.Options{Out: out, Log: log, Version: version})
			if err != nil {
				code := exitRunError
				if errors.Is(err, engine.ErrUsage) {
					code = exitUsage
				}
				return &exitError{code, err}
			}
			if !quiet {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\n  %s\n", run.Summary.Headline, out)
			}
			if failOn != "none" {
				for _, r := range run.Results {
					if r.Status == record.StatusFail && r.Severity.Rank() >= threshold.Rank() {
						return &exitError{code: exitFindings}
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "run folder to write; must not exist or be empty (default out/runs/<scenario>-<profile>)")
	cmd.Flags().StringVarP(&profile, "profile", "p", "", "hardening profile to use instead of the scenario's (name or path)")
	cmd.Flags().StringVar(&failOn, "fail-on", "none", "exit 1 when a finding has this severity or worse: none, info, low, medium, high, critical")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing on stdout")
	return cmd
}

func newDeltaCmd() *cobra.Command {
	var out string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "delta BASELINE RERUN",
		Short: "Compare two run folders control by control",
		Long: `Compare two run folders (or run.json files) control by control and write the delta folder:

  delta.json   machine-readable (schema rig.delta/v1): rows with both sides' status and evidence,
               summary.improved, summary.regressed, unchanged, new, removed
  delta.md     the same for people

A control regresses when it passed in the baseline and fails, errors or is skipped in the rerun;
it improves when it failed or errored in the baseline and passes in the rerun.
Exits 3 when anything regressed.

` + exitCodesHelp,
		Example: `  rig delta out/baseline out/hardened --out out/delta`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := record.ReadRun(args[0])
			if err != nil {
				return &exitError{exitUsage, err}
			}
			b, err := record.ReadRun(args[1])
			if err != nil {
				return &exitError{exitUsage, err}
			}
			d := delta.Compare(a, b, args[0], args[1])
			if out == "" {
				return &exitError{exitUsage, errors.New("--out is required: the folder to write delta.json and delta.md into")}
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return &exitError{exitRunError, fmt.Errorf("delta: create %s: %w", out, err)}
			}
			if err := record.WriteJSON(filepath.Join(out, delta.File), d); err != nil {
				return &exitError{exitRunError, err}
			}
			if err := writeFile(filepath.Join(out, "delta.md"), func(w io.Writer) error { return report.Delta(w, d) }); err != nil {
				return &exitError{exitRunError, err}
			}
			if !quiet {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\n  %s\n", d.Summary.Headline, out)
			}
			if d.Summary.Regressed > 0 {
				return &exitError{code: exitRegression}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "delta folder to write (required)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing on stdout")
	return cmd
}

func newChecksCmd() *cobra.Command {
	var asJSON, asMarkdown bool
	cmd := &cobra.Command{
		Use:   "checks",
		Short: "List the checks and the controls they own",
		Long:  "List every check and control of the catalog: ID, severity of a failure, title, pass criterion, remediation and standard references.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cat, err := checks.Catalog()
			if err != nil {
				return &exitError{exitRunError, err}
			}
			w := cmd.OutOrStdout()
			switch {
			case asJSON:
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(cat)
			case asMarkdown:
				fmt.Fprintln(w, "| Control | Check | Severity | Title | Pass criterion | References |\n|---|---|---|---|---|---|")
				for _, c := range cat {
					fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", c.ID, c.Check, c.Severity, c.Title, strings.ReplaceAll(c.Pass, "|", `\|`), strings.Join(c.References, "; "))
				}
				return nil
			}
			for _, ch := range checks.All() {
				fmt.Fprintf(w, "%s — %s\n", ch.ID, ch.Title)
				for _, c := range cat {
					if c.Check == ch.ID {
						fmt.Fprintf(w, "  %-22s %-8s %s\n", c.ID, c.Severity, c.Title)
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the catalog as JSON")
	cmd.Flags().BoolVar(&asMarkdown, "markdown", false, "print the catalog as a Markdown table")
	cmd.MarkFlagsMutuallyExclusive("json", "markdown")
	return cmd
}

func newScenariosCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "scenarios",
		Short: "List the embedded scenarios, profiles and bundles",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			for _, sub := range []struct{ dir, title string }{{".", "scenarios"}, {"profiles", "profiles"}, {"bundles", "bundles"}} {
				entries, err := fs.ReadDir(scenarios.FS, sub.dir)
				if err != nil {
					return &exitError{exitRunError, err}
				}
				var names []string
				for _, e := range entries {
					if !e.IsDir() && strings.HasSuffix(e.Name(), ".yaml") {
						names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
					}
				}
				sort.Strings(names)
				fmt.Fprintf(w, "%s: %s\n", sub.title, strings.Join(names, ", "))
			}
			return nil
		},
	}
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the rig version and the run-record schema",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, args []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "rig %s (run schema %s, delta schema %s)\n", version, record.SchemaRun, delta.SchemaDelta)
		},
	}
}

// writeFile writes path through render, atomically.
func writeFile(path string, render func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := render(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}
