package checks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/record"
)

const ctlGuardUART = "GUARD-UART"

// ErrNoUART is what UART.Inject returns when the run's device has no line the rig can write on
// (a real board or QEMU): the control is then skipped with the reason.
var ErrNoUART = errors.New("no UART the rig can write on for this device kind")

// UART gives the malformed-frame probe the device's serial line and the gateway's frame counters.
// Only the rig's own stack has one: the emulated device's side of the pty pair.
type UART interface {
	// Inject writes b onto the line from the device's side in one write, between the device's
	// own frames.
	Inject(ctx context.Context, b []byte) error
	// Frames returns the gateway's count of valid frames and of rejected ones.
	Frames() (ok, bad uint64)
	// Ping has the gateway send a PING command to the device and wait for its RESPONSE: a valid
	// frame the device sends on demand, whether or not telemetry is running.
	Ping(ctx context.Context) error
}

// malformedFrames are what the probe sends: each ends with the frame delimiter, so that the
// gateway can resynchronise on the device's next frame.
func malformedFrames() [][]byte {
	badCRC, _ := protocol.EncodeBadCRC(protocol.NewFrame(protocol.TypeTelemetry, 1, 0, 0, make([]byte, 8)))
	return [][]byte{
		{0x13, 0x37, 0xC0, 0xFF, 0xEE, protocol.Delimiter},                               // random bytes
		append([]byte{0x05}, append(make([]byte, 0), 0x01, 0x02, protocol.Delimiter)...), // COBS code past the end
		badCRC, // a well-formed telemetry frame with a wrong CRC
		append(repeatNonZero(600), protocol.Delimiter), // longer than any frame
		{0x02, 0xAA, protocol.Delimiter},               // too short for a header
	}
}

func repeatNonZero(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i%254 + 1)
	}
	return b
}

// probeUART injects malformed frames and checks that the gateway counts every one as rejected
// and goes on decoding the device's valid frames.
func probeUART(ctx context.Context, env *Env) Outcome {
	if env.UART == nil {
		return skip("no access to the device's UART in this run (only the rig's emulated device on its own stack has one)")
	}
	ev := newEvidence(env, ctlGuardUART)
	frames := malformedFrames()
	ok0, bad0 := env.UART.Frames()
	type injection struct {
		Bytes int    `json:"bytes"`
		Hex   string `json:"hex_prefix"`
		Error string `json:"error,omitempty"`
	}
	var sent []injection
	for _, f := range frames {
		in := injection{Bytes: len(f), Hex: fmt.Sprintf("% x", f[:min(len(f), 16)])}
		if err := env.UART.Inject(ctx, f); errors.Is(err, ErrNoUART) {
			return skip("%v: malformed frames cannot be injected in this run", err)
		} else if err != nil {
			in.Error = err.Error()
		}
		sent = append(sent, in)
		time.Sleep(5 * time.Millisecond) // let the device's frames interleave, as noise would
	}
	// Wait (bounded) for every malformed frame to be counted, then ask the device for a frame
	// (PING, answered whether or not telemetry runs) to show the gateway still decodes.
	deadline := time.Now().Add(env.Limits.ProbeTimeout)
	var ok1, bad1 uint64
	for {
		ok1, bad1 = env.UART.Frames()
		if bad1-bad0 >= uint64(len(frames)) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	pctx, cancel := probeContext(ctx, env.Limits.ProbeTimeout)
	pingErr := env.UART.Ping(pctx)
	cancel()
	ok1, _ = env.UART.Frames()
	obs := map[string]any{"injected": len(frames), "rejected": bad1 - bad0, "ping_answered": pingErr == nil}
	rec := map[string]any{"frames": sent, "frames_ok_before": ok0, "frames_ok_after": ok1, "bad_before": bad0, "bad_after": bad1}
	if pingErr != nil {
		rec["ping_error"] = pingErr.Error()
	}
	ev.json("injection.json", rec)
	for _, s := range sent {
		if s.Error != "" {
			return ev.outcome(record.StatusError, obs, "could not write onto the UART: %s", s.Error)
		}
	}
	switch {
	case bad1-bad0 < uint64(len(frames)):
		return ev.outcome(record.StatusFail, obs, "the gateway counted %d of %d malformed frames as rejected: some garbage went through or was silently lost", bad1-bad0, len(frames))
	case pingErr != nil:
		return ev.outcome(record.StatusFail, obs, "after the malformed frames the device's answer to PING did not come through the gateway (%v): it did not resynchronise", pingErr)
	}
	return ev.outcome(record.StatusPass, obs, "the gateway rejected all %d malformed frames and still decodes the device's frames (PING answered, %d valid frames since)", len(frames), ok1-ok0)
}
