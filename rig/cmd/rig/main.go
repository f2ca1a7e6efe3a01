// Command rig audits an IoT path (device → gateway → MQTT broker → HTTP ingest) and turns the
// answer to "is this path safe to ship?" into evidence: runs, reports and deltas.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes, documented in README.md and `rig --help`.
const (
	exitOK         = 0 // clean: no finding at or above --fail-on, no regression
	exitFindings   = 1 // findings at or above --fail-on; rig verify: the folder does not match its manifest
	exitUsage      = 2 // usage or configuration error (bad flag, bad scenario/profile file)
	exitRegression = 3 // a control regressed against the baseline
	exitRunError   = 4 // the run could not complete (stack failed to start, I/O error)
	exitUnverified = 5 // rig delta, rig run --baseline: an input run folder fails verification
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(execute(ctx, os.Args[1:]))
}

func execute(ctx context.Context, args []string) int {
	root := newRoot()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "rig:", ee.err)
		}
		return ee.code
	}
	// Anything cobra itself rejects (unknown flag, wrong argument count) is a usage error.
	fmt.Fprintln(os.Stderr, "rig:", err)
	return exitUsage
}
