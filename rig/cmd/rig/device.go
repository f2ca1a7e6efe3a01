package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pathrig/rig/rig/bench"
	"github.com/pathrig/rig/rig/device"
	"github.com/pathrig/rig/rig/dut"
	"github.com/pathrig/rig/rig/lines"
	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/rig/trace"
)

const deviceTargetHelp = `Where the device is (exactly one):
  --port PATH [--baud N] [--framing 8N1]   a UART: /dev/ttyAMA0, /dev/rig-stm32 (the udev symlink
                                           of deploy/99-rig-stm32.rules), /dev/ttyUSB0
  --bench FILE                             a bench file: serial port, baud, framing and the GPIO
                                           lines of NRST and BOOT0 (see docs/bench.md#bench-file)
  --emulate                                the Go emulator of the STM32 on a pty pair, through the
                                           same serial driver: no hardware needed

The serial port is opened exclusively; an unplugged USB-UART is reopened under the same path and
the link's counters (disconnects, reconnects, read/write errors, bytes) are kept across it.
--record FILE writes every byte and line level of the session as a rig.trace/v1 file that a unit
test can replay (package rig/trace).

Exit codes: 0 ok; 2 usage or bad bench file; 4 the device did not answer or a line could not be
driven.`

type deviceFlags struct {
	port, framing, benchFile, record string
	baud                             int
	emulate, asJSON                  bool
	timeout                          time.Duration
}

func (f *deviceFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.port, "port", "", "serial device of the device's UART, e.g. /dev/ttyAMA0 or /dev/rig-stm32")
	fl.IntVar(&f.baud, "baud", bench.DefaultBaud, "UART baud rate (with --port or --emulate)")
	fl.StringVar(&f.framing, "framing", "8N1", "UART framing: data bits, parity N/E/O/M/S, stop bits (with --port)")
	fl.StringVar(&f.benchFile, "bench", "", "bench file naming the serial port and the NRST/BOOT0 GPIO lines")
	fl.BoolVar(&f.emulate, "emulate", false, "run against the Go emulator of the STM32 on a pty pair (no hardware)")
	fl.StringVar(&f.record, "record", "", "write the session's UART bytes and GPIO levels to this trace file (rig.trace/v1)")
	fl.BoolVar(&f.asJSON, "json", false, "print the result as JSON")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Second, "bound on the whole command")
}

// deviceTarget is an opened device: its port and, when known, its control lines.
type deviceTarget struct {
	port     link.Port // the device's UART (supervised: it survives an unplug)
	io       link.Port // port, or its recording wrapper
	reset    *lines.ResetLine
	boot0    *lines.Line
	bootWait time.Duration
	label    string
	rec      *trace.Recorder
	cleanup  []func()
}

func (t *deviceTarget) close() {
	for i := len(t.cleanup) - 1; i >= 0; i-- {
		t.cleanup[i]()
	}
}

// linkStats returns the serial driver's counters of the port.
func (t *deviceTarget) linkStats() *link.LinkStats {
	if s, ok := t.port.(*link.Supervised); ok {
		st := s.Stats()
		return &st
	}
	return nil
}

// open resolves the flags into a device, opened through its kind's driver (rig/dut) as a run
// opens it; withLines opens the bench's GPIO lines too (and requires a reset line).
func (f *deviceFlags) open(ctx context.Context, log *slog.Logger, withLines bool) (*deviceTarget, error) {
	n := 0
	for _, set := range []bool{f.port != "", f.benchFile != "", f.emulate} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, &exitError{exitUsage, errors.New("name the device with exactly one of --port PATH, --bench FILE or --emulate")}
	}
	if f.baud < 1200 || f.baud > 4000000 {
		return nil, &exitError{exitUsage, fmt.Errorf("--baud %d: want 1200..4000000", f.baud)}
	}
	t := &deviceTarget{bootWait: bench.DefaultBoot}
	if f.record != "" {
		t.rec = trace.NewRecorder()
	}
	spec := dut.Spec{Log: log, NoLines: !withLines}
	switch {
	case f.emulate:
		spec.Device = scenario.Device{Kind: scenario.DeviceEmulated, UID: device.EmulatedUID, Firmware: "1.0.0", TelemetryInterval: scenario.Duration(250 * time.Millisecond), Baud: f.baud}
		t.label = "emulated STM32 on a pty"
	case f.port != "":
		fr, err := link.ParseFraming(f.framing)
		if err != nil {
			return nil, &exitError{exitUsage, fmt.Errorf("--framing: %w", err)}
		}
		spec.Device = scenario.Device{Kind: scenario.DeviceSerial, Port: f.port, Baud: f.baud}
		spec.Framing = fr
	default:
		b, err := bench.Load(f.benchFile)
		if err != nil {
			return nil, &exitError{exitUsage, err}
		}
		t.bootWait = b.GPIO.BootTimeout.D()
		t.label = "bench " + b.Name
		if withLines && b.GPIO.Reset == nil {
			return nil, &exitError{exitUsage, fmt.Errorf("%s names no reset line: add gpio.reset (e.g. line: GPIO23, polarity: active-low)", f.benchFile)}
		}
		spec.Device = scenario.Device{Kind: scenario.DeviceSerial, Bench: f.benchFile}
	}
	kind, err := dut.Lookup(spec.Device.Kind)
	if err != nil {
		return nil, &exitError{exitRunError, err}
	}
	drv, err := kind.Open(ctx, spec)
	if err != nil {
		return nil, &exitError{exitRunError, err}
	}
	t.cleanup = append(t.cleanup, func() { drv.Close() })
	port, err := drv.PowerOn(ctx)
	if err != nil {
		t.close()
		return nil, &exitError{exitRunError, err}
	}
	t.cleanup = append(t.cleanup, func() { port.Close() })
	t.port, t.reset = port, drv.Reset()
	if b, ok := drv.(interface{ Boot0() *lines.Line }); ok {
		t.boot0 = b.Boot0()
	}
	t.io = t.port
	if t.rec != nil {
		t.io = t.rec.Port(t.port)
		if t.reset != nil {
			r := *t.reset
			r.Pin = t.rec.Pin("reset", r.Pin)
			t.reset = &r
		}
		if t.boot0 != nil {
			b := *t.boot0
			b.Pin = t.rec.Pin("boot0", b.Pin)
			t.boot0 = &b
		}
	}
	return t, nil
}

// finish writes the trace if asked; a failure to write it is reported after the command's own error.
func (f *deviceFlags) finish(t *deviceTarget, what string, err error) error {
	if t.rec == nil {
		return err
	}
	if werr := t.rec.WriteFile(f.record, what); werr != nil {
		return errors.Join(err, &exitError{exitRunError, werr})
	}
	return err
}

func newDeviceCmd(logger func() (*slog.Logger, error)) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "device",
		Short: "Talk to the bench device directly: probe it, reset it",
		Long: `Talk to the device over its UART and control lines, outside any run: 'probe' identifies it and
measures the command round trip, 'reset' pulses NRST and watches it boot again. Use them to bring
up a bench (docs/bench.md) before 'rig run'.

` + deviceTargetHelp,
	}
	cmd.AddCommand(newDeviceProbeCmd(logger), newDeviceResetCmd(logger))
	return cmd
}

func newDeviceProbeCmd(logger func() (*slog.Logger, error)) *cobra.Command {
	var f deviceFlags
	var pings int
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Identify the device, time N PINGs, read its counters",
		Long: `Ask the device for its identity (IDENTIFY: 96-bit UID and firmware version), send --pings PINGs
one after the other and report the round trip (min, median, max), then read the device's own
counters for this boot (STATS: boot, telemetry sent, frames received good and bad), what the host
decoded on the line (good frames by type, bad frames by reason) and the serial driver's counters.

` + deviceTargetHelp,
		Example: `  rig device probe --emulate
  rig device probe --port /dev/ttyAMA0 --baud 115200 --pings 20
  rig device probe --bench /etc/rig/bench.yaml --json --record probe.trace`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logger()
			if err != nil {
				return err
			}
			if pings < 1 || pings > 10000 {
				return &exitError{exitUsage, fmt.Errorf("--pings %d: want 1..10000", pings)}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			t, err := f.open(ctx, log, false)
			if err != nil {
				return err
			}
			defer t.close()
			var res device.ProbeResult
			err = device.WithClient(ctx, t.io, log, func(ctx context.Context, c *device.Client) error {
				var err error
				res, err = device.Probe(ctx, c, pings)
				return err
			})
			if err = f.finish(t, fmt.Sprintf("rig device probe --pings %d (%s)", pings, labelOr(t)), err); err != nil {
				return asRunError(err)
			}
			res.Link = t.linkStats()
			if f.asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			printProbe(cmd.OutOrStdout(), res, labelOr(t))
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().IntVar(&pings, "pings", 10, "number of PINGs to time (1..10000)")
	return cmd
}

func newDeviceResetCmd(logger func() (*slog.Logger, error)) *cobra.Command {
	var f deviceFlags
	var hold time.Duration
	cmd := &cobra.Command{
		Use:   "reset",
		Short: "Pulse NRST and wait for the HELLO of the next boot",
		Long: `Read the device's boot counter (STATS), drive BOOT0 low if the bench names it (boot from flash),
pulse the reset line (NRST low for --hold, then released) and wait for the device's HELLO
carrying boot + 1. Needs a reset line: --bench FILE with gpio.reset, or --emulate.

` + deviceTargetHelp,
		Example: `  rig device reset --emulate
  rig device reset --bench /etc/rig/bench.yaml
  rig device reset --bench /etc/rig/bench.yaml --hold 50ms --record reset.trace`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logger()
			if err != nil {
				return err
			}
			if f.port != "" {
				return &exitError{exitUsage, errors.New("reset needs the reset line's GPIO: use --bench FILE (gpio.reset) instead of --port, or --emulate")}
			}
			if hold < 0 || hold > 10*time.Second {
				return &exitError{exitUsage, fmt.Errorf("--hold %s: want 0 (the bench file's or 10ms) .. 10s", hold)}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			t, err := f.open(ctx, log, true)
			if err != nil {
				return err
			}
			defer t.close()
			if hold > 0 {
				r := *t.reset
				r.Hold = hold
				t.reset = &r
			}
			var res device.ResetResult
			err = device.WithClient(ctx, t.io, log, func(ctx context.Context, c *device.Client) error {
				var err error
				res, err = device.Reset(ctx, c, t.reset, t.boot0, t.bootWait)
				return err
			})
			if err = f.finish(t, "rig device reset ("+labelOr(t)+")", err); err != nil {
				return asRunError(err)
			}
			if f.asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reset     %s · boot %d → %d · reset cause %s\n", res.UID, res.BootBefore, res.BootAfter, res.ResetCause)
			fmt.Fprintf(cmd.OutOrStdout(), "timing    NRST held %s · HELLO %s after release\n", res.Hold, ms(res.HelloAfter))
			fmt.Fprintf(cmd.OutOrStdout(), "port      %s (%s)\n", res.Port, labelOr(t))
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().DurationVar(&hold, "hold", 0, "NRST pulse width (default: the bench file's gpio.reset.hold, else 10ms)")
	return cmd
}

func labelOr(t *deviceTarget) string {
	if t.label != "" {
		return t.label
	}
	return "serial port"
}

func asRunError(err error) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	return &exitError{exitRunError, err}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)) }

func printProbe(w io.Writer, r device.ProbeResult, label string) {
	fmt.Fprintf(w, "device    %s · firmware %s · boot %d\n", r.UID, r.Firmware, r.Boot)
	if r.Link != nil {
		fmt.Fprintf(w, "port      %s · %d %s (%s)\n", r.Port, r.Link.Baud, r.Link.Framing, label)
	}
	l := r.Latency
	fmt.Fprintf(w, "latency   %d PINGs · min %s · median %s · max %s\n", l.Count, ms(l.Min), ms(l.Median), ms(l.Max))
	d := r.Device
	fmt.Fprintf(w, "device    STATS this boot: rx_ok %d · rx_bad %d · telemetry_sent %d\n", d.RxOK, d.RxBad, d.TelemetrySent)
	h := r.Host
	var bad []string
	var nbad uint64
	for k, v := range h.BadFrames {
		bad = append(bad, fmt.Sprintf("%s %d", k, v))
		nbad += v
	}
	sort.Strings(bad)
	badText := fmt.Sprint(nbad)
	if len(bad) > 0 {
		badText += " (" + strings.Join(bad, ", ") + ")"
	}
	fmt.Fprintf(w, "host      frames ok %d · bad frames %s · hellos %d · telemetry %d · responses %d · unexpected %d\n", h.FramesOK, badText, h.Hellos, h.Telemetry, h.Responses, h.Unexpected)
	if k := r.Link; k != nil {
		fmt.Fprintf(w, "link      disconnects %d · reconnects %d · read errors %d · write errors %d · bytes in %d · out %d\n", k.Disconnects, k.Reconnects, k.ReadErrors, k.WriteErrors, k.BytesIn, k.BytesOut)
	}
}
