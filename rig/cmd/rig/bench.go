package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/pathrig/rig/rig/bench"
	"github.com/pathrig/rig/rig/bench/selfcheck"
	"github.com/pathrig/rig/rig/trace"
)

// defaultBenchFile is where the rig's Debian package puts the bench file.
const defaultBenchFile = "/etc/rig/bench.yaml"

func newBenchCmd(logger func(quiet bool) (*slog.Logger, func(), error)) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Check a wired bench before an audit",
		Long: `Commands about the bench itself — the Raspberry Pi 5, the STM32 board and the wires between them
(docs/bench.md). 'check' finds wiring and set-up mistakes before an audit run does.`,
	}
	cmd.AddCommand(newBenchCheckCmd(logger))
	return cmd
}

func newBenchCheckCmd(logger func(quiet bool) (*slog.Logger, func(), error)) *cobra.Command {
	var benchFile, record string
	var asJSON, emulate bool
	var pings int
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Self-check a wired bench: UART, device, GPIO lines, udev, the gateway unit, clock, disk",
		Long: `Check the bench the bench file describes, item by item, and say for each what was seen and, when
it fails, what to do:

  serial-port     the UART exists, is a tty and opens (exclusively: stop the gateway service first)
  device-answers  IDENTIFY and PINGs over it: nothing back means TX/RX not crossed, no common
                  ground or a board not running; bytes but no frame, a baud or framing mismatch
  gpio-chip       the lines' chip is the Pi 5's RP1 (pinctrl-rp1) and periph's bcm283x is not loaded
  reset-line      NRST pulses and the device boots again with boot + 1
  boot0-line      with BOOT0 high a reset starts no firmware (the ROM bootloader), with BOOT0 low
                  it does (only driven, when the bench has no working reset line)
  power-line      cutting gpio.power silences the device, restoring it boots it
  udev-rule       /dev/rig-stm32 exists, tagged for systemd, with SYSTEMD_WANTS=gateway.service
  gateway-unit    systemctl is-enabled gateway.service ("not installed" without systemd)
  clock           timedatectl's NTPSynchronized, else the kernel's adjtimex status
  spool-disk      free space where the gateway's spool lives (/var/lib/rig-gateway)

An item that needs one that failed is skipped with the reason; one that could not look is an
error, never a pass. The line items pulse NRST and cut the power line: the device reboots, as
with 'rig device reset'. --emulate checks the Go emulator on a pty instead of the bench's UART
and lines (the host items still look at this machine). --record FILE writes the session's UART
bytes and line levels as a rig.trace/v1 file (package rig/trace).

Exit codes: 0 every item passed or does not apply; 1 an item failed or could not be evaluated;
2 usage error or a bad bench file.`,
		Example: `  rig bench check
  rig bench check --bench /etc/rig/bench.yaml --json
  rig bench check --emulate`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, done, err := logger(true)
			if err != nil {
				return err
			}
			defer done()
			if pings < 1 || pings > 1000 {
				return &exitError{exitUsage, fmt.Errorf("--pings %d: want 1..1000", pings)}
			}
			if emulate && cmd.Flags().Changed("bench") {
				return &exitError{exitUsage, errors.New("--emulate checks the emulator instead of a bench file: give one or the other")}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			var env selfcheck.Env
			file := benchFile
			if emulate {
				m, err := selfcheck.Emulated(log, 0)
				if err != nil {
					return &exitError{exitRunError, err}
				}
				defer m.Close()
				env, file = m.Env, ""
			} else {
				b, err := bench.Load(benchFile)
				if err != nil {
					return &exitError{exitUsage, err}
				}
				env = selfcheck.Host(b)
			}
			env.Pings, env.Log = pings, log
			var rec *trace.Recorder
			if record != "" {
				rec = trace.NewRecorder()
				env.Record = rec
			}
			rep := selfcheck.Run(ctx, env)
			rep.File = file
			if rec != nil {
				if err := rec.WriteFile(record, "rig bench check ("+rep.Bench+")"); err != nil {
					return &exitError{exitRunError, err}
				}
			}
			if asJSON {
				err = printJSON(cmd.OutOrStdout(), rep)
			} else {
				err = selfcheck.WriteText(cmd.OutOrStdout(), rep)
			}
			if err != nil {
				return &exitError{exitRunError, err}
			}
			if !rep.Summary.OK {
				return &exitError{exitFindings, nil}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&benchFile, "bench", defaultBenchFile, "bench file naming the serial port and the NRST, BOOT0 and power GPIO lines (docs/bench.md#bench-file)")
	fl.BoolVar(&emulate, "emulate", false, "check the Go emulator of the STM32 on a pty pair instead of the bench's UART and lines")
	fl.BoolVar(&asJSON, "json", false, "print the report as JSON (schema "+selfcheck.Schema+")")
	fl.IntVar(&pings, "pings", selfcheck.DefaultPings, "PINGs of the device-answers item (1..1000)")
	fl.DurationVar(&timeout, "timeout", time.Minute, "bound on the whole check")
	fl.StringVar(&record, "record", "", "write the session's UART bytes and GPIO levels to this trace file (rig.trace/v1)")
	return cmd
}
