// Command emulate runs the emulated STM32 on one side of a pseudo-terminal pair and prints the
// path of the other side, so that the real gateway binary (or a terminal program) can open it
// exactly as it would open /dev/ttyAMA0:
//
//	go run ./tools/emulate --uid 303030313233343536373839 &
//	bin/gateway --port /dev/pts/N --broker tcp://127.0.0.1:1883
//
// It stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pathrig/rig/firmware/emulator"
	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/link"
)

func main() {
	uid := flag.String("uid", "303030313233343536373839", "device UID: 24 hex digits")
	boot := flag.Uint("boot", 1, "boot counter of the first boot")
	interval := flag.Duration("interval", emulator.DefaultInterval, "telemetry period")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: emulate [flags]\n\nRuns the emulated STM32 (protocol v1) on a pty pair and prints the tty path to open.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	u, err := protocol.ParseUID(*uid)
	if err != nil {
		fmt.Fprintln(os.Stderr, "emulate: --uid:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pair, err := link.NewPtyPair()
	if err != nil {
		fmt.Fprintln(os.Stderr, "emulate:", err)
		os.Exit(1)
	}
	defer pair.Close()
	fmt.Println(pair.Path())
	dev := emulator.New(emulator.Config{UID: u, FW: protocol.FWVersion{Major: 1}, Boot: uint32(*boot), Interval: *interval, Log: log})
	if err := dev.Run(ctx, pair.Device()); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "emulate:", err)
		os.Exit(1)
	}
	// Give the operator the device's own accounting on the way out.
	st := dev.Stats()
	fmt.Fprintf(os.Stderr, "emulate: boot %d, %d telemetry frames sent this boot, %s\n", st.Boot, st.TelemetrySent, time.Now().UTC().Format(time.RFC3339))
}
