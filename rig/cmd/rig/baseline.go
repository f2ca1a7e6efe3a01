package main

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pathrig/rig/rig/baseline"
	"github.com/pathrig/rig/rig/manifest"
	"github.com/pathrig/rig/rig/scenario"
)

func newBaselineCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "baseline",
		Short: "Record and show the validated baseline of a path",
		Long: `A path's validated baseline is the run a regress compares with. 'rig baseline mark' records
it beside the run: DIR/PATH.baseline.json names the run folder, pins its exact content with the
SHA-256 of its MANIFEST.sha256, and says when it was marked, by whom and which record it
replaced; with --sign-key it is signed (DIR/PATH.baseline.json.sig, ed25519, the key rig run
--sign-key takes). 'rig regress' reruns the path against it.

DIR defaults to ` + baseline.DefaultDir + ` (the repository's committed baselines); PATH to the run's scenario name.`,
	}
	cmd.AddCommand(newBaselineMarkCmd(), newBaselineShowCmd())
	return cmd
}

func newBaselineMarkCmd() *cobra.Command {
	var dir, path, signKey, by, note string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "mark RUN",
		Short: "Record RUN as the validated baseline of a path",
		Long: `Record RUN (a run folder) as the validated baseline of a path, replacing the path's earlier
record, if any (the new record names it). RUN must pass 'rig verify' first (exit 5 otherwise).

` + exitCodesHelp,
		Example: `  rig baseline mark out/runs/hardening-verify-hardened --path hardening-verify --sign-key rig-key.pem --by "A. Consultant"
  rig baseline mark reports/baselines/hardening-verify`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var key ed25519.PrivateKey
			if signKey != "" {
				var err error
				if key, err = manifest.LoadPrivateKey(signKey); err != nil {
					return &exitError{exitUsage, fmt.Errorf("--sign-key: %w", err)}
				}
			}
			run, err := verifiedRun("run", args[0])
			if err != nil {
				return err
			}
			if path == "" {
				path = run.Scenario
			}
			if err := baseline.ValidPath(path); err != nil {
				return &exitError{exitUsage, fmt.Errorf("--path: %w", err)}
			}
			rec, err := baseline.Write(baseline.Mark{Dir: dir, Path: path, RunDir: runDir(args[0]), Run: run, Now: time.Now(), By: by, Note: note, Tool: version, Key: key})
			if err != nil {
				return &exitError{exitRunError, err}
			}
			if !quiet {
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "validated baseline of %s: %s (%s)\n  %s", path, args[0], rec.Headline, baseline.File(dir, path))
				if key != nil {
					fmt.Fprint(w, ", signed")
				}
				fmt.Fprintln(w)
				if rec.Replaces != nil {
					fmt.Fprintf(w, "  replaces %s (marked %s)\n", rec.Replaces.Run, rec.Replaces.MarkedAt.Format(time.RFC3339))
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", baseline.DefaultDir, "folder of the baseline records")
	cmd.Flags().StringVar(&path, "path", "", "name of the audited path (default: the run's scenario name)")
	cmd.Flags().StringVar(&signKey, "sign-key", "", "ed25519 private key (PEM PKCS#8) to sign the record with")
	cmd.Flags().StringVar(&by, "by", "", "who validated the run (recorded as marked_by)")
	cmd.Flags().StringVar(&note, "note", "", "why this run is the baseline (recorded as note)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing on stdout")
	return cmd
}

func newBaselineShowCmd() *cobra.Command {
	var dir, path, pubKey string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Show the validated baselines and whether each still verifies",
		Long: `Show the validated baseline of --path (or of every path with a record in --dir): the run it
names, when it was marked and by whom, and whether it can still be used: the run folder must
still hold the manifest it was marked with and match it (as 'rig verify' checks), and with
--pub-key the record's signature must verify. Exits 5 when a baseline cannot be used, 2 when
there is no record.

` + exitCodesHelp,
		Example: `  rig baseline show
  rig baseline show --path hardening-verify --pub-key rig-pub.pem --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pub, err := loadPub(pubKey)
			if err != nil {
				return err
			}
			paths := []string{path}
			if path == "" {
				if paths, err = baseline.List(dir); err != nil {
					return &exitError{exitUsage, err}
				}
				if len(paths) == 0 {
					return &exitError{exitUsage, fmt.Errorf("no validated baseline in %s (mark one with 'rig baseline mark RUN --dir %s')", dir, dir)}
				}
			}
			type shown struct {
				*baseline.Record
				RunDir    string   `json:"run_dir"`
				Usable    bool     `json:"usable"`
				Signature string   `json:"signature"`
				Problems  []string `json:"problems,omitempty"`
			}
			var all []shown
			bad := 0
			for _, p := range paths {
				rec, raw, err := baseline.Read(dir, p)
				if err != nil {
					return &exitError{exitUsage, err}
				}
				c := baseline.Verify(dir, rec, raw, pub)
				if !c.OK() {
					bad++
				}
				all = append(all, shown{Record: rec, RunDir: c.RunDir, Usable: c.OK(), Signature: c.Signature, Problems: c.Problems})
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if err := enc.Encode(all); err != nil {
					return &exitError{exitRunError, err}
				}
			} else {
				for _, s := range all {
					state := "usable"
					if !s.Usable {
						state = "NOT USABLE: " + strings.Join(s.Problems, "; ")
					}
					fmt.Fprintf(w, "%s: %s (%s, profile %s) — %s\n", s.Path, s.RunDir, s.Scenario, s.Profile, s.Headline)
					fmt.Fprintf(w, "  marked %s", s.MarkedAt.Format(time.RFC3339))
					if s.MarkedBy != "" {
						fmt.Fprintf(w, " by %s", s.MarkedBy)
					}
					fmt.Fprintf(w, ", manifest %s, signature %s: %s\n", s.ManifestSHA256[:min(12, len(s.ManifestSHA256))], s.Signature, state)
					if s.Note != "" {
						fmt.Fprintf(w, "  note: %s\n", s.Note)
					}
					if s.Replaces != nil {
						fmt.Fprintf(w, "  replaces %s (marked %s)\n", s.Replaces.Run, s.Replaces.MarkedAt.Format(time.RFC3339))
					}
				}
			}
			if bad > 0 {
				return &exitError{exitUnverified, fmt.Errorf("%d validated %s cannot be used", bad, plural(bad, "baseline", "baselines"))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", baseline.DefaultDir, "folder of the baseline records")
	cmd.Flags().StringVar(&path, "path", "", "the path to show (default: every path with a record in --dir)")
	cmd.Flags().StringVar(&pubKey, "pub-key", "", "ed25519 public key (PEM) that must verify each record's signature")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the records and their state as JSON")
	return cmd
}

func loadPub(path string) (ed25519.PublicKey, error) {
	if path == "" {
		return nil, nil
	}
	pub, err := manifest.LoadPublicKey(path)
	if err != nil {
		return nil, &exitError{exitUsage, fmt.Errorf("--pub-key: %w", err)}
	}
	return pub, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// newRegressCmd reruns a path against its validated baseline: it resolves and checks the record,
// then runs the scenario as 'rig run --baseline RUN' would, with the run the record names.
func newRegressCmd(logger func(quiet bool) (*slog.Logger, func(), error)) *cobra.Command {
	var dir, path, pubKey, out, profile, failOn, signKey string
	var formats []string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "regress [SCENARIO]",
		Short: "Rerun a path against its validated baseline; exit 3 on any regression",
		Long: `Rerun a path and compare it with its validated baseline (see 'rig baseline'): the record of
--path in --dir must verify (its signature with --pub-key; the run it names must still be the
run that was marked and match its manifest), else nothing runs (exit 5). Then SCENARIO (default:
the baseline's scenario, by name) runs with the baseline's profile (or --profile) exactly as
'rig run SCENARIO --baseline RUN' does: the run folder gets delta/ against the baseline, with
the drift of every control whose verdict stayed the same, and the command exits 3 when a
control that passed in the baseline no longer passes.

` + exitCodesHelp,
		Example: `  rig regress --path hardening-verify --out out/verify
  rig regress scenarios/hardening-verify.yaml --path hardening-verify --pub-key rig-pub.pem --fail-on high`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pub, err := loadPub(pubKey)
			if err != nil {
				return err
			}
			if path == "" {
				return &exitError{exitUsage, errors.New("--path is required: the path whose validated baseline to compare with ('rig baseline show' lists them)")}
			}
			rec, raw, err := baseline.Read(dir, path)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			c := baseline.Verify(dir, rec, raw, pub)
			if !c.OK() {
				return &exitError{exitUnverified, fmt.Errorf("the validated baseline of %s (%s) cannot be used, so nothing ran: %s", path, baseline.File(dir, path), strings.Join(c.Problems, "; "))}
			}
			scen := rec.Scenario
			if len(args) == 1 {
				scen = args[0]
			}
			if profile == "" && rec.Profile != scenario.ExternalProfile {
				profile = rec.Profile
			}
			if !quiet {
				sig := ""
				if c.Signature == baseline.SigValid {
					sig = ", signature valid"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "validated baseline of %s: %s (marked %s%s)\n", path, c.RunDir, rec.MarkedAt.Format(time.RFC3339), sig)
			}
			run := newRunCmd(logger)
			run.SetContext(cmd.Context())
			run.SetOut(cmd.OutOrStdout())
			run.SetErr(cmd.ErrOrStderr())
			set := map[string]string{"baseline": c.RunDir, "out": out, "profile": profile, "fail-on": failOn, "sign-key": signKey, "format": strings.Join(formats, ",")}
			if quiet {
				set["quiet"] = "true"
			}
			for k, v := range set {
				if v == "" {
					continue
				}
				if err := run.Flags().Set(k, v); err != nil {
					return &exitError{exitUsage, fmt.Errorf("--%s: %w", k, err)}
				}
			}
			return run.RunE(run, []string{scen})
		},
	}
	cmd.Flags().StringVar(&dir, "dir", baseline.DefaultDir, "folder of the baseline records")
	cmd.Flags().StringVar(&path, "path", "", "the path whose validated baseline to compare with (required)")
	cmd.Flags().StringVar(&pubKey, "pub-key", "", "ed25519 public key (PEM) that must verify the record's signature")
	cmd.Flags().StringVarP(&out, "out", "o", "", "run folder to write, as for rig run")
	cmd.Flags().StringVarP(&profile, "profile", "p", "", "hardening profile (default: the baseline's)")
	cmd.Flags().StringVar(&failOn, "fail-on", "", "as for rig run: exit 1 on a finding at or above this severity")
	cmd.Flags().StringSliceVar(&formats, "format", nil, "renderings to write, as for rig run")
	cmd.Flags().StringVar(&signKey, "sign-key", "", "ed25519 private key to sign the rerun's manifest")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing on stdout and only warnings and errors on stderr")
	return cmd
}
