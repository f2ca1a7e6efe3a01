package device

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/pathrig/rig/rig/lines"
	"github.com/pathrig/rig/rig/link"
)

// SessionResult is a probe, a reset and a probe after it: the bring-up check of a bench.
type SessionResult struct {
	Probe ProbeResult `json:"probe"`
	Reset ResetResult `json:"reset"`
	After ProbeResult `json:"after_reset"`
}

// Session runs Probe(pings), Reset, and Probe(1) over port. It is what the recorded traces in
// testdata/ hold, and what the hardware smoketest runs on the bench.
func Session(ctx context.Context, port link.Port, reset *lines.ResetLine, boot0 *lines.Line, pings int, bootTimeout time.Duration, log *slog.Logger) (SessionResult, error) {
	var res SessionResult
	err := WithClient(ctx, port, log, func(ctx context.Context, c *Client) error {
		var err error
		if res.Probe, err = Probe(ctx, c, pings); err != nil {
			return err
		}
		if res.Reset, err = Reset(ctx, c, reset, boot0, bootTimeout); err != nil {
			return err
		}
		res.After, err = Probe(ctx, c, 1)
		return err
	})
	return res, err
}

// WithClient runs a Client's reader over port while fn runs, and stops it afterwards. A port
// failure ends fn's context and is returned with fn's error.
func WithClient(ctx context.Context, port link.Port, log *slog.Logger, fn func(context.Context, *Client) error) error {
	c := NewClient(port, log)
	ctx, cancel := context.WithCancel(ctx)
	var runErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		runErr = c.Run(ctx)
		cancel()
	})
	err := fn(ctx, c)
	cancel()
	wg.Wait()
	return errors.Join(err, runErr)
}
