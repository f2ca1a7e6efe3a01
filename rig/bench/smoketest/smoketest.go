// Package smoketest checks a real bench — a Raspberry Pi 5 wired to the STM32 as in docs/bench.md —
// end to end: it opens the bench file's serial port and GPIO lines, probes the device, resets it
// through NRST, probes it again, and can record the whole session as a rig.trace/v1 file. It only
// runs on the bench: `go test ./...` skips it unless -rig.bench names a bench file:
//
//	go test ./rig/bench/smoketest -rig.bench /etc/rig/bench.yaml -rig.record /tmp/bench.trace -v
//
// or, cross-compiled for the Pi: `make dist` builds dist/smoketest-linux-arm64.test. A recorded
// trace copied into rig/device/testdata/ and added to TestSessionPlayback turns the hardware
// session into a unit test that runs on every commit without the bench.
package smoketest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/pathrig/rig/rig/bench"
	"github.com/pathrig/rig/rig/bench/pi5"
	"github.com/pathrig/rig/rig/device"
	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/trace"
)

// Options of Run.
type Options struct {
	Pings  int          // PINGs of the first probe; 0 = 10
	Record string       // trace file to write; "" = none
	Log    *slog.Logger // nil = discard
}

// Result is the session and the serial driver's counters at its end.
type Result struct {
	Session device.SessionResult
	Link    link.LinkStats
}

// Run runs the bring-up session on the bench described by benchFile.
func Run(ctx context.Context, benchFile string, o Options) (Result, error) {
	var res Result
	if o.Pings <= 0 {
		o.Pings = 10
	}
	b, err := bench.Load(benchFile)
	if err != nil {
		return res, err
	}
	if b.GPIO.Reset == nil {
		return res, fmt.Errorf("smoketest: %s names no gpio.reset: the smoketest resets the device", benchFile)
	}
	pins, err := pi5.Open(ctx, b.GPIO, nil)
	if err != nil {
		return res, err
	}
	defer pins.Close()
	port, err := link.Supervise(ctx, b.SerialConfig(), link.SuperviseOptions{Log: o.Log})
	if err != nil {
		return res, err
	}
	defer port.Close()

	var io link.Port = port
	reset, boot0 := pins.Reset, pins.Boot0
	var rec *trace.Recorder
	if o.Record != "" {
		rec = trace.NewRecorder()
		io = rec.Port(port)
		r := *reset
		r.Pin = rec.Pin("reset", r.Pin)
		reset = &r
		if boot0 != nil {
			b0 := *boot0
			b0.Pin = rec.Pin("boot0", b0.Pin)
			boot0 = &b0
		}
	}
	res.Session, err = device.Session(ctx, io, reset, boot0, o.Pings, b.GPIO.BootTimeout.D(), o.Log)
	res.Link = port.Stats()
	if rec != nil {
		note := fmt.Sprintf("hardware smoketest on bench %q: probe (%d PINGs), reset, probe (1 PING)", b.Name, o.Pings)
		err = errors.Join(err, rec.WriteFile(o.Record, note))
	}
	return res, err
}
