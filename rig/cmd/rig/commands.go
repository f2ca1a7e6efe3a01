package main

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/checks/catalog"
	"github.com/pathrig/rig/rig/delta"
	"github.com/pathrig/rig/rig/engine"
	"github.com/pathrig/rig/rig/manifest"
	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/report"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/scenarios"
)

// version, commit, date (the commit's time) and buildDate are set with -ldflags "-X
// main.version=... -X main.commit=... -X main.date=... -X main.buildDate=..." by `make build` and
// `make dist`.
var (
	version   = "dev"
	commit    = ""
	date      = ""
	buildDate = ""
)

// buildInfo is what `rig version --json` prints.
type buildInfo struct {
	Version     string `json:"version"`
	Commit      string `json:"commit"`     // "unknown" when the build did not say
	Date        string `json:"date"`       // the commit's time, RFC 3339 (the Debian package's version is made from it)
	BuildDate   string `json:"build_date"` // RFC 3339, UTC; "unknown" when the build did not say
	Go          string `json:"go"`
	Platform    string `json:"platform"` // GOOS/GOARCH
	RunSchema   string `json:"run_schema"`
	DeltaSchema string `json:"delta_schema"`
}

// currentBuild describes this binary: the linker's values first, then what the Go toolchain
// recorded (the VCS revision of a plain go build in a checkout).
func currentBuild() buildInfo {
	b := buildInfo{Version: version, Commit: commit, Date: date, BuildDate: buildDate, Go: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH, RunSchema: record.SchemaRun, DeltaSchema: delta.SchemaDelta}
	if info, ok := debug.ReadBuildInfo(); ok && b.Commit == "" {
		dirty := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			case "vcs.time":
				if b.Date == "" {
					b.Date = s.Value
				}
			}
		}
		if b.Commit != "" && dirty {
			b.Commit += "-dirty"
		}
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	if b.BuildDate == "" {
		b.BuildDate = "unknown"
	}
	if b.Date == "" {
		b.Date = "unknown"
	}
	return b
}

const exitCodesHelp = `Exit codes:
  0  clean: no finding at or above --fail-on (an accepted risk is not a finding), no regression
  1  rig run with --fail-on: a finding at or above that severity, or a control that could not
     be evaluated (status error); rig verify: a changed, missing or added file or directory,
     a duplicate manifest line, or a bad signature
  2  usage or configuration error (bad flag, bad scenario, profile, bundle or waiver file, an
     unknown --control or --skip-control, an --out that is not empty)
  3  a control regressed against the baseline (rig delta, rig run --baseline, rig regress)
  4  the run could not complete (stack failed to start, I/O error; rig pdf: no Chromium)
  5  rig delta, rig history, rig run --baseline, rig regress, rig baseline, rig pdf: a run folder
     to read fails 'rig verify' (a file changed, missing or added, or no manifest), or a
     validated baseline no longer verifies (its run replaced, its signature bad): nothing was
     compared`

func newRoot() *cobra.Command {
	var logFormat, logLevel string
	var verbose bool
	root := &cobra.Command{
		Use:   "rig",
		Short: "Audit an IoT path (device → gateway → MQTT broker → HTTP ingest) and keep the evidence",
		Long: `rig runs scenario files against an IoT path — an STM32 device (or its emulator) on a serial
link, the gateway, an MQTT broker and an HTTP ingest — probes every control of the selected
checks on the live endpoints, and writes a run folder with run.json and a leadership summary.
Two runs compare control by control with 'rig delta', a series with 'rig history'; 'rig baseline'
records a path's validated baseline and 'rig regress' reruns against it.

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&logFormat, "log-format", "text", "operator log format on stderr: text or json")
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "least severe operator log level on stderr: debug, info, warn or error")
	root.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "same as --log-level debug: also log the stack components' detail")
	// logger builds the operator log on stderr. On a terminal, at the default level and in text,
	// it is a live progress line (step, check, elapsed); otherwise plain lines. quiet keeps only
	// warnings and errors. The returned func clears the progress line.
	logger := func(quiet bool) (*slog.Logger, func(), error) {
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
			return nil, nil, &exitError{exitUsage, fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)}
		}
		if verbose {
			lvl = slog.LevelDebug
		}
		if quiet && lvl < slog.LevelWarn {
			lvl = slog.LevelWarn
		}
		opts := &slog.HandlerOptions{Level: lvl}
		switch logFormat {
		case "text":
			if lvl == slog.LevelInfo && isTerminal(os.Stderr) {
				p := newProgress(os.Stderr, lvl, nil)
				p.run(250 * time.Millisecond)
				return slog.New(p.Handler()), p.Close, nil
			}
			return slog.New(slog.NewTextHandler(os.Stderr, opts)), func() {}, nil
		case "json":
			return slog.New(slog.NewJSONHandler(os.Stderr, opts)), func() {}, nil
		}
		return nil, nil, &exitError{exitUsage, fmt.Errorf("--log-format %q: want text or json", logFormat)}
	}
	root.AddCommand(newRunCmd(logger), newDeltaCmd(), newVerifyCmd(), newChecksCmd(), newScenariosCmd(), newVersionCmd())
	root.AddCommand(newBenchCmd(logger))
	root.AddCommand(newHistoryCmd(), newBaselineCmd(), newRegressCmd(logger), newPDFCmd())
	// The device commands print their own results; they take a plain logger (no progress line).
	root.AddCommand(newDeviceCmd(func() (*slog.Logger, error) {
		l, _, err := logger(true)
		return l, err
	}))
	return root
}

// library resolves scenarios, profiles and bundles, and checks the control, check and hop names
// that waivers and decision rules use against the catalog.
func library() scenario.Library {
	l := scenario.Library{Embedded: scenarios.FS, Checks: checkIDs(), Hops: catalog.Hops, Owners: map[string]string{}}
	if cat, err := checks.Catalog(); err == nil { // an invalid catalog stops the run later (exit 4)
		for _, c := range cat {
			l.Controls = append(l.Controls, c.ID)
			l.Owners[c.ID] = c.Check
		}
	}
	return l
}

func checkIDs() []string {
	var ids []string
	for _, c := range checks.All() {
		ids = append(ids, c.ID)
	}
	return ids
}

func newRunCmd(logger func(quiet bool) (*slog.Logger, func(), error)) *cobra.Command {
	var out, profile, failOn, baseline, signKey, device, gatewayBin, port, benchFile, waiversFile string
	var formats, bundles, onlyControls, skipControls []string
	var quiet bool
	var prof profiling
	cmd := &cobra.Command{
		Use:   "run SCENARIO",
		Short: "Run a scenario and write a run folder",
		Long: `Run a scenario: start the reference stack in the scenario's hardening profile (or --profile),
bring up the device and gateway, probe every control of the scenario's bundles on the live
endpoints, and write the run folder:

  run.json        machine-readable record (schema rig.run/v1): results, summary.findings
  summary.md      leadership summary: headline, decision, what is exposed, what is solid, backlog
  report.html     self-contained HTML report: checks, evidence, backlog, telemetry timeline
  findings.sarif  SARIF 2.1.0 for code scanning (baselineState with --baseline)
  junit.xml       one testcase per control for CI test reports
  backlog.csv     prioritized backlog for the Jira and GitLab CSV importers
  evidence/       raw files backing each verdict (secrets redacted)
  delta/          with --baseline: delta.json, delta.md, delta.html against that run
  MANIFEST.sha256 SHA-256 of every file, written last ('rig verify' checks it)
--format picks the renderings (run.json, evidence/ and the manifest are always written).
With --baseline the run exits 3 when a control that passed in the baseline no longer passes; a
baseline that fails 'rig verify' is refused before anything starts (exit 5).

--out - writes no run folder: the run is made in a private temporary folder, removed when it
ends, and stdout gets one JSON object per control, the result as run.json holds it (redacted,
with its waiver), one per line; the headline goes to stderr. --fail-on still sets the exit code.
It cannot be combined with --baseline or --sign-key.

Accepted risks: --waivers FILE (or the scenario's waivers: key) lists waivers, each a control,
a reason, an owner, an expiry date (YYYY-MM-DD, the last day it applies) and optionally a
target. A failure with a waiver that applies stays fail in run.json with the waiver attached,
counts in summary.waived instead of summary.findings, is left out of --fail-on and carries a
SARIF suppression. An expired waiver does not apply (the run warns); a waiver whose control
passes is reported as no longer needed. A malformed waiver file is exit 2 (file, line, field).

--control ID runs only the checks that own the named controls (repeatable) and skips their
other controls; --skip-control ID skips a control (repeatable). A skipped control is skip with
the reason "skipped on the command line", and its own probe is not sent. An unknown ID is exit 2.

Paths: --bundle path-gateway, path-mqtt, path-ingest, path-identity or path-observability
('rig scenarios' lists them first) scopes the run to one path of the deployment: only the
controls that belong to it are evaluated (the other controls of their checks are not run and
have no result), and run.json (scope), summary.md and report.html name the path and list the
controls left out, each with the path bundle that runs it. Several --bundle add up.

SCENARIO is a name from 'rig scenarios' (embedded defaults) or a path to a scenario file; a
profile or bundle it names is looked up beside it first (profiles/, bundles/), then in the
embedded defaults. A scenario with a targets: section (a client's broker, ingest, probe
identities, device certificates, management URLs, supplier evidence; see README.md) starts no
reference stack and names no profile: the checks probe those endpoints, and controls whose
inputs are not named are skipped.

Supplier evidence (check supplier, in path-gateway and audit-depth): the vendor's security.txt,
the SBOM of the gateway release against the gateway binary's build information, the binary's
modules against an offline OSV vulnerability database, and the declared support period. On the
reference stack it reads the gateway binary (--gateway-bin, or gateway beside rig), the SBOM
beside it (gateway.cdx.json, which make build writes) and the repository's small OSV fixture;
the reference stack has no vendor site and declares no support period (those two are skipped).

The device is the scenario's device.kind, or --device: emulated (the Go emulator on a pty pair),
qemu (the C firmware, firmware/stm32/build/fw.elf from 'make firmware', in qemu-system-arm's
netduinoplus2 board) or serial (a board on a UART: --port PATH, or --bench FILE naming its UART
and its NRST, BOOT0 and power GPIO lines on a Raspberry Pi 5). The rig holds the device's UART
and relays it to the gateway: it reads the device's counters when the run starts (a board that
has been up for hours is judged on the run's window only), checks every stored reading against
what the device sent, and leaves the device as it found it (telemetry interval, clock). A fault
the device kind cannot perform (device-reset or power-cut on a board without those lines) is
refused before anything runs.

` + exitCodesHelp,
		Example: `  rig run audit-baseline --out out/baseline
  rig run audit-baseline --profile hardened --out out/hardened
  rig run scenarios/hardening-verify.yaml --out out/verify --fail-on high
  make firmware && rig run audit-baseline --device qemu --out out/qemu
  rig run audit-baseline --profile hardened --port /dev/ttyUSB0 --out out/board
  rig run telemetry-trust --bench bench.yaml --out out/bench-trust   # NRST and power from the bench file
  rig run telemetry-trust --out out/trust          # faults on the hardened durable path
  rig run telemetry-trust-exposed --out out/trust-exposed
  rig run audit-baseline --fail-on high --waivers waivers.yaml --out out/accepted
  rig run audit-baseline --out - --control TRANSPORT-PLAINTEXT | jq -r 'select(.status=="fail") | .control'
  rig run audit-baseline --bundle audit-depth --skip-control GUARD-MGMT --out out/depth
  rig run audit-baseline --bundle path-mqtt --profile hardened --out out/mqtt   # one path of the deployment`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, done, err := logger(quiet)
			if err != nil {
				return err
			}
			defer done()
			stopProf, err := prof.start(cmd.Context(), log)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			defer func() {
				if err := stopProf(); err != nil {
					log.Error("profile not written", "error", err)
				}
			}()
			threshold := record.Severity(failOn)
			if failOn != "none" && threshold.Rank() < 0 {
				return &exitError{exitUsage, fmt.Errorf("--fail-on %q: want none, info, low, medium, high or critical", failOn)}
			}
			if _, err := report.Select(formats); err != nil {
				return &exitError{exitUsage, fmt.Errorf("--format: %w", err)}
			}
			if baseline != "" {
				if _, err := verifiedRun("--baseline", baseline); err != nil {
					return err
				}
			}
			var key ed25519.PrivateKey
			if signKey != "" {
				if key, err = manifest.LoadPrivateKey(signKey); err != nil {
					return &exitError{exitUsage, fmt.Errorf("--sign-key: %w", err)}
				}
			}
			plan, err := library().Load(args[0], profile, checkIDs())
			if err != nil {
				return &exitError{exitUsage, err}
			}
			if port != "" || benchFile != "" {
				if device != "" && device != scenario.DeviceSerial {
					return &exitError{exitUsage, fmt.Errorf("--port and --bench name a serial device, not --device %s", device)}
				}
				if err := plan.Scenario.Device.UseSerial(port, benchFile); err != nil {
					return &exitError{exitUsage, err}
				}
			} else if device != "" {
				if err := plan.Scenario.Device.SetKind(device); err != nil {
					return &exitError{exitUsage, err}
				}
			}
			if len(bundles) > 0 {
				if err := library().ReplaceBundles(plan, bundles, checkIDs()); err != nil {
					return &exitError{exitUsage, err}
				}
			}
			if waiversFile != "" {
				if plan.Waivers, err = library().LoadWaivers(waiversFile); err != nil {
					return &exitError{exitUsage, fmt.Errorf("--waivers: %w", err)}
				}
			}
			skip, err := selectControls(plan, onlyControls, skipControls)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			stream := out == "-"
			if stream {
				// Results go to stdout as JSON lines; the run folder is a private temporary one,
				// removed when the run ends.
				if baseline != "" || signKey != "" {
					return &exitError{exitUsage, errors.New("--out - prints results and keeps no run folder: it cannot be combined with --baseline or --sign-key")}
				}
				tmp, err := os.MkdirTemp("", "rig-stream-*")
				if err != nil {
					return &exitError{exitRunError, fmt.Errorf("--out -: %w", err)}
				}
				defer os.RemoveAll(tmp)
				out = filepath.Join(tmp, "run")
				formats = []string{"summary"} // the renderings go with the folder: make the cheapest
			}
			if out == "" {
				out = filepath.Join("out", "runs", runFolderName(plan.Scenario.Name, plan.Profile.Name))
			}
			if baseline != "" {
				if err := outsideRuns(out, baseline); err != nil {
					return err
				}
			}
			if gatewayBin == "" {
				gatewayBin = siblingGateway()
			}
			run, err := engine.Run(cmd.Context(), plan, engine.Options{
				Out: out, Log: log, Version: version, GatewayBin: gatewayBin, Skip: skip,
				Outputs: engine.Outputs{Formats: formats, Baseline: baseline, SignKey: key},
			})
			done() // clear the progress line before the headline
			if err != nil {
				code := exitRunError
				if errors.Is(err, engine.ErrUsage) {
					code = exitUsage
				}
				return &exitError{code, err}
			}
			switch {
			case stream:
				if err := streamResults(cmd.OutOrStdout(), out); err != nil {
					return &exitError{exitRunError, err}
				}
				if !quiet {
					fmt.Fprintln(cmd.ErrOrStderr(), run.Summary.Headline)
				}
			case !quiet:
				fmt.Fprintf(cmd.OutOrStdout(), "%s\n  %s\n", run.Summary.Headline, out)
			}
			if baseline != "" {
				d, err := readDelta(filepath.Join(out, engine.DeltaDir))
				if err != nil {
					return &exitError{exitRunError, err}
				}
				if !quiet {
					fmt.Fprintf(cmd.OutOrStdout(), "%s\n  %s\n", d.Summary.Headline, filepath.Join(out, engine.DeltaDir))
				}
				if d.Summary.Regressed > 0 {
					return &exitError{code: exitRegression}
				}
			}
			if failOn != "none" {
				for _, r := range run.Results {
					// A control that could not be evaluated gates like a finding: an unverified
					// control must not let CI pass.
					// An accepted risk (a failure with a waiver that applies) does not.
					if r.Status == record.StatusError || (r.Status == record.StatusFail && !r.Waived() && r.Severity.Rank() >= threshold.Rank()) {
						return &exitError{code: exitFindings}
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "run folder to write; must not exist or be empty (default out/runs/<scenario>-<profile>, the names reduced to letters, digits, '.', '_' and '-'); '-' prints one JSON result per line on stdout and keeps no run folder")
	cmd.Flags().StringVarP(&profile, "profile", "p", "", "hardening profile to use instead of the scenario's (name or path)")
	cmd.Flags().StringVar(&failOn, "fail-on", "none", "exit 1 when a finding has this severity or worse, or a control could not be evaluated: none, info, low, medium, high, critical")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing on stdout and only warnings and errors on stderr (no progress line)")
	cmd.Flags().StringSliceVar(&formats, "format", []string{"all"}, "renderings to write, comma-separated: all, "+strings.Join(report.FormatNames(), ", "))
	cmd.Flags().StringSliceVar(&bundles, "bundle", nil, "evidence bundles to run instead of the scenario's bundles and checks (name or path; see 'rig scenarios'; path-NAME scopes the run to one path)")
	cmd.Flags().StringVar(&baseline, "baseline", "", "run folder to compare with (it must pass 'rig verify', else exit 5): writes delta/ and exits 3 on any regression")
	cmd.Flags().StringVar(&signKey, "sign-key", "", "ed25519 private key (PEM PKCS#8, e.g. from openssl genpkey -algorithm ed25519) to sign the manifest")
	cmd.Flags().StringVar(&device, "device", "", "device kind instead of the scenario's: "+strings.Join(scenario.DeviceKinds, ", "))
	cmd.Flags().StringVar(&port, "port", "", "with --device serial (implied): the board's UART, e.g. /dev/ttyUSB0")
	cmd.Flags().StringVar(&benchFile, "bench", "", "with --device serial (implied): bench file naming the board's UART and its NRST, BOOT0 and power GPIO lines")
	cmd.Flags().StringArrayVar(&onlyControls, "control", nil, "run only this control (repeatable): the checks that own none are not run, their other controls are skipped")
	cmd.Flags().StringArrayVar(&skipControls, "skip-control", nil, "skip this control (repeatable): its result is skip, \"skipped on the command line\", and its own probe is not sent")
	cmd.Flags().StringVar(&waiversFile, "waivers", "", "waiver file of accepted risks (control, reason, owner, expires, target), instead of the scenario's waivers: file")
	prof.flags(cmd)
	cmd.Flags().StringVar(&gatewayBin, "gateway-bin", "", "gateway binary that telemetry-trust scenarios run (and crash) as a child process, and whose build information and SBOM (the .cdx.json beside it) the supplier check reads on the reference stack (default: gateway next to rig, as make build puts it)")
	return cmd
}

// selectControls applies --control and --skip-control to the plan: --control keeps only the
// checks that own a named control and skips their other controls; --skip-control skips the
// named ones. It returns the controls to skip. An ID the catalog does not know, a --control whose
// check the plan does not run, or a control both run and skipped is a usage error.
func selectControls(plan *scenario.Plan, only, skipped []string) (map[string]bool, error) {
	if len(only) == 0 && len(skipped) == 0 {
		return nil, nil
	}
	cat, err := checks.Catalog()
	if err != nil {
		return nil, err
	}
	owner := map[string]string{}
	byCheck := map[string][]string{}
	for _, c := range cat {
		owner[c.ID] = c.Check
		byCheck[c.Check] = append(byCheck[c.Check], c.ID)
	}
	for flag, ids := range map[string][]string{"--control": only, "--skip-control": skipped} {
		for _, id := range ids {
			if _, ok := owner[id]; !ok {
				return nil, fmt.Errorf("%s %s: unknown control (`rig checks` lists the catalog)", flag, id)
			}
		}
	}
	skip := map[string]bool{}
	if len(only) > 0 {
		keep := map[string]bool{}
		for _, id := range only {
			if !slices.Contains(plan.Checks, owner[id]) {
				return nil, fmt.Errorf("--control %s: its check %s is not among this run's checks (%s); add a bundle that runs it with --bundle", id, owner[id], strings.Join(plan.Checks, ", "))
			}
			if !plan.Evaluates(id, owner[id]) {
				return nil, fmt.Errorf("--control %s: not among the controls this run's bundles select (%s); add a bundle that runs it with --bundle", id, strings.Join(plan.Controls, ", "))
			}
			keep[owner[id]] = true
		}
		plan.Checks = slices.DeleteFunc(plan.Checks, func(c string) bool { return !keep[c] })
		for _, ch := range plan.Checks {
			for _, id := range byCheck[ch] {
				skip[id] = !slices.Contains(only, id) && plan.Evaluates(id, ch)
			}
		}
	}
	for _, id := range skipped {
		if slices.Contains(only, id) {
			return nil, fmt.Errorf("%s is named by both --control and --skip-control", id)
		}
		skip[id] = true
	}
	for id, s := range skip {
		if !s {
			delete(skip, id)
		}
	}
	return skip, nil
}

// streamResults prints the results of the run folder's run.json (redacted, with waivers
// attached) as JSON lines: one result per line, as run.json holds it.
func streamResults(w io.Writer, dir string) error {
	run, err := record.ReadRun(dir)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, r := range run.Results {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("--out -: write a result: %w", err)
		}
	}
	return nil
}

// siblingGateway returns the gateway binary beside the rig executable ("" if there is none).
func siblingGateway() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	p := filepath.Join(filepath.Dir(exe), "gateway")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

func newDeltaCmd() *cobra.Command {
	var out string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "delta BASELINE RERUN",
		Short: "Compare two run folders control by control",
		Long: `Compare two run folders control by control and write the delta folder:

  delta.json   machine-readable (schema rig.delta/v1): rows with both sides' status and evidence,
               summary.improved, summary.regressed, unchanged, new, removed
  delta.md     the same for people
  delta.html   the same as one self-contained page, each side's evidence linked

A control regresses when it passed in the baseline and fails, errors or is skipped in the rerun;
it improves when it failed or errored in the baseline and passes in the rerun.
Exits 3 when anything regressed.

Both runs (folders, or the run.json inside one) must first pass 'rig verify': a run changed after
the rig wrote it, or one without its MANIFEST.sha256, is not compared (exit 5). --out must not
exist or be empty (a folder holding only empty folders counts as empty) and must lie outside both
runs: rig delta never writes over, or seals into its manifest, files it did not make.

` + exitCodesHelp,
		Example: `  rig delta out/baseline out/hardened --out out/delta`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return &exitError{exitUsage, errors.New("--out is required: the folder to write delta.json and delta.md into")}
			}
			a, err := verifiedRun("baseline", args[0])
			if err != nil {
				return err
			}
			b, err := verifiedRun("rerun", args[1])
			if err != nil {
				return err
			}
			if err := outsideRuns(out, args[0], args[1]); err != nil {
				return err
			}
			if err := engine.PrepareOut(out); err != nil {
				code := exitRunError
				if errors.Is(err, engine.ErrUsage) {
					code = exitUsage
				}
				return &exitError{code, fmt.Errorf("delta: %w", err)}
			}
			d := delta.Compare(a, b, args[0], args[1])
			if err := engine.WriteDelta(out, d, args[0], args[1], nil); err != nil {
				return &exitError{exitRunError, err}
			}
			if err := manifest.Write(out, nil); err != nil {
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
	cmd.Flags().StringVarP(&out, "out", "o", "", "delta folder to write (required); must not exist or be empty, and lie outside both runs")
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
				_, err := io.WriteString(w, catalogMarkdown(cat))
				return err
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

// catalogMarkdown is the controls table of `rig checks --markdown`, which docs/controls.md holds
// verbatim (TestControlsTableInDocs). Each row carries an anchor, control-<id in lower case>,
// that the SARIF rules' helpUri points at.
func catalogMarkdown(cat []catalog.Control) string {
	var b strings.Builder
	b.WriteString("| Control | Check | Severity | Hop | Effort | Title | Pass criterion | References |\n|---|---|---|---|---|---|---|---|\n")
	for _, c := range cat {
		fmt.Fprintf(&b, "| <a id=\"%s\"></a>%s | %s | %s | %s | %s | %s | %s | %s |\n", report.ControlAnchor(c.ID), c.ID, c.Check, c.Severity, c.Hop, c.Effort,
			mdCell(c.Title), mdCell(c.Pass), strings.Join(c.References, "; "))
	}
	return b.String()
}

func mdCell(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }

func newScenariosCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "scenarios",
		Short: "List the paths, and the embedded scenarios, profiles and bundles",
		Long: `List the paths a run can be scoped to first — gateway, mqtt, ingest, identity, observability,
each an embedded bundle path-NAME that names the controls belonging to that path (a control may
belong to several) — then the embedded scenarios, profiles and the other bundles.

Run one path with --bundle, e.g. rig run audit-baseline --bundle path-mqtt: summary.md and
report.html name the path and list the controls of the catalog the run left out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			paths, err := library().PathBundles()
			if err != nil {
				return &exitError{exitRunError, err}
			}
			fmt.Fprintln(w, "paths (rig run SCENARIO --bundle path-NAME):")
			lib := library()
			isPath := map[string]bool{}
			for _, b := range paths {
				isPath[b.Name] = true
				n := len(b.Controls)
				for _, ch := range b.Checks {
					for _, owner := range lib.Owners {
						if owner == ch {
							n++
						}
					}
				}
				what := b.Description
				if _, after, ok := strings.Cut(what, " - "); ok {
					what = after // "The MQTT path - broker transport, …": the name is on the line already
				}
				fmt.Fprintf(w, "  %-19s %2d controls: %s\n", b.Name, n, what)
			}
			for _, sub := range []struct{ dir, title string }{{".", "scenarios"}, {"profiles", "profiles"}, {"bundles", "bundles"}} {
				entries, err := fs.ReadDir(scenarios.FS, sub.dir)
				if err != nil {
					return &exitError{exitRunError, err}
				}
				var names []string
				for _, e := range entries {
					name, ok := strings.CutSuffix(e.Name(), ".yaml")
					if !e.IsDir() && ok && !isPath[name] {
						names = append(names, name)
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
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the rig version and the run-record schema",
		Long: `Print the rig version and the schemas of the records it writes. --json prints the version,
the commit, the build date (both set by make build, "unknown" otherwise; a plain go build in a
checkout still records its commit), the Go version, the platform and the schemas as one JSON
object.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(currentBuild())
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rig %s (run schema %s, delta schema %s)\n", version, record.SchemaRun, delta.SchemaDelta)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print version, commit, commit date, build date, Go version, platform and schemas as JSON (the Debian package takes its version from it)")
	return cmd
}

// verifiedRun reads the run record at path (a run folder, or the run.json inside one) and
// checks the folder against its manifest, as rig verify does: a run changed after the rig wrote
// it, or one that cannot be checked, is refused (exit 5) rather than compared. role names the
// argument in the message.
func verifiedRun(role, path string) (*record.Run, error) {
	r, err := record.ReadRun(path)
	if err != nil {
		return nil, &exitError{exitUsage, fmt.Errorf("%s: %w", role, err)}
	}
	dir := path
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
		dir = filepath.Dir(path)
	}
	rep, err := manifest.Verify(dir, nil)
	if err != nil {
		return nil, &exitError{exitUnverified, fmt.Errorf("%s %s cannot be verified, so it is not compared: %w (pass the run folder as rig run wrote it)", role, dir, err)}
	}
	if !rep.OK() {
		problems := strings.Split(strings.TrimSpace(rep.String()), "\n")
		if len(problems) > 5 {
			problems = append(problems[:5], fmt.Sprintf("and %d more", len(problems)-5))
		}
		return nil, &exitError{exitUnverified, fmt.Errorf("%s %s does not match its manifest, so it is not compared (%s): it changed after the rig wrote it; 'rig verify %s' lists every difference",
			role, dir, strings.Join(problems, "; "), dir)}
	}
	return r, nil
}

// outsideRuns refuses an output folder that is, or lies inside, one of the run folders read:
// writing there would change that run and break its manifest.
func outsideRuns(out string, runs ...string) error {
	absOut, err := filepath.Abs(out)
	if err != nil {
		return &exitError{exitUsage, fmt.Errorf("--out %s: %w", out, err)}
	}
	for _, r := range runs {
		dir := r
		if fi, err := os.Stat(r); err == nil && !fi.IsDir() {
			dir = filepath.Dir(r)
		}
		absRun, err := filepath.Abs(dir)
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(absRun, absOut); err == nil && (rel == "." || filepath.IsLocal(rel)) {
			return &exitError{exitUsage, fmt.Errorf("--out %s is inside the run folder %s: writing there would change that run and break its manifest (pick a folder outside the runs compared)", out, dir)}
		}
	}
	return nil
}

func readDelta(dir string) (*delta.Delta, error) {
	b, err := os.ReadFile(filepath.Join(dir, delta.File))
	if err != nil {
		return nil, fmt.Errorf("read the delta: %w", err)
	}
	var d delta.Delta
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("read the delta %s: %w", filepath.Join(dir, delta.File), err)
	}
	return &d, nil
}

// runFolderName makes the default run folder's name from the scenario's and profile's names:
// they are display text from a file, so anything but ASCII letters, digits, '.', '_' and '-'
// becomes '-', and leading dots and dashes go. The result is one path element that is never
// "." or "..": the run folder stays below the output root whatever the names say.
func runFolderName(scenarioName, profileName string) string {
	var b strings.Builder
	dash := false
	for _, r := range scenarioName + "-" + profileName {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_':
			b.WriteRune(r)
			dash = false
		case !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	name := strings.TrimLeft(b.String(), ".-")
	if name == "" {
		return "run"
	}
	return name
}
