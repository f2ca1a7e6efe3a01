// Package uartprobe injects malformed frames onto the device's UART, between the device's own
// frames, and reads what the gateway made of them: whether it counted every one as rejected and
// still decodes the device's valid frames. The line is a small interface (Line); the rig's
// emulated device on its pty implements it, uarttest fakes it.
package uartprobe

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/checks/probe"
)

// ErrNoUART is what Line.Inject returns when the run's device has no line the rig can write on
// (a real board or QEMU).
var ErrNoUART = errors.New("no UART the rig can write on for this device kind")

// Line is the device's serial line as the probe sees it, with the gateway's frame counters.
type Line interface {
	// Inject writes b onto the line from the device's side in one write, between the device's
	// own frames.
	Inject(ctx context.Context, b []byte) error
	// Frames returns the gateway's count of valid frames and of rejected ones.
	Frames() (ok, bad uint64)
	// Ping has the gateway send a PING command to the device and wait for its RESPONSE: a valid
	// frame the device sends on demand, whether or not telemetry is running.
	Ping(ctx context.Context) error
}

// MalformedFrames are what the probe sends: each ends with the frame delimiter, so that the
// gateway can resynchronise on the device's next frame.
func MalformedFrames() [][]byte {
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

// Injection is one malformed frame written, as the evidence records it.
type Injection struct {
	Bytes int    `json:"bytes"`
	Hex   string `json:"hex_prefix"`
	Error string `json:"error,omitempty"`
}

// Result is what one run of the probe observed.
type Result struct {
	Sent                []Injection
	OkBefore, BadBefore uint64
	OkAfter, BadAfter   uint64
	PingErr             error
}

// Run injects MalformedFrames onto line, waits up to timeout for the gateway to count them, then
// has the device answer a PING through the gateway. It returns ErrNoUART (wrapped by the line)
// as soon as the line says it has none; a write that fails otherwise is recorded in the
// injection and the probe goes on.
func Run(ctx context.Context, line Line, timeout time.Duration) (Result, error) {
	frames := MalformedFrames()
	var r Result
	r.OkBefore, r.BadBefore = line.Frames()
	for _, f := range frames {
		in := Injection{Bytes: len(f), Hex: fmt.Sprintf("% x", f[:min(len(f), 16)])}
		if err := line.Inject(ctx, f); errors.Is(err, ErrNoUART) {
			return r, err
		} else if err != nil {
			in.Error = err.Error()
		}
		r.Sent = append(r.Sent, in)
		time.Sleep(5 * time.Millisecond) // let the device's frames interleave, as noise would
	}
	// Wait (bounded) for every malformed frame to be counted, then ask the device for a frame
	// (PING, answered whether or not telemetry runs) to show the gateway still decodes.
	deadline := time.Now().Add(timeout)
	for {
		r.OkAfter, r.BadAfter = line.Frames()
		if r.BadAfter-r.BadBefore >= uint64(len(frames)) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	pctx, cancel := probe.Context(ctx, timeout)
	r.PingErr = line.Ping(pctx)
	cancel()
	r.OkAfter, _ = line.Frames()
	return r, nil
}
