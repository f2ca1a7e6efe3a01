package guardrails_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/checktest"
	"github.com/pathrig/rig/rig/checks/probe/uartprobe"
	"github.com/pathrig/rig/rig/checks/probe/uartprobe/uarttest"
	"github.com/pathrig/rig/rig/record"
)

// TestUARTVerdicts drives GUARD-UART with a fake line that injects nothing or breaks the
// decoder, for the verdict logic; the real pty path is covered by the engine tests on the
// reference stack.
func TestUARTVerdicts(t *testing.T) {
	tests := []struct {
		name string
		uart *uarttest.Line
		want record.Status
	}{
		{"rejected and still decoding", &uarttest.Line{Ok: 10, CountBad: true}, record.StatusPass},
		{"garbage not counted", &uarttest.Line{Ok: 10, CountBad: false}, record.StatusFail},
		{"no resync", &uarttest.Line{Ok: 10, CountBad: true, PingErr: errors.New("timeout")}, record.StatusFail},
		{"no UART for this device kind", &uarttest.Line{Ok: 10, InjectErr: check.ErrNoUART}, record.StatusSkip},
		{"write fails", &uarttest.Line{Ok: 10, InjectErr: errors.New("EIO")}, record.StatusError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := checktest.NewEnv(t, check.Targets{}, nil)
			env.Limits.ProbeTimeout = 200 * time.Millisecond
			env.UART = tc.uart
			results, err := checks.Evaluate(context.Background(), env, []string{"guardrails-depth"})
			if err != nil {
				t.Fatal(err)
			}
			if r := checktest.ByControl(t, results)["GUARD-UART"]; r.Status != tc.want {
				t.Errorf("%s: %s (%s), want %s", "GUARD-UART", r.Status, r.Reason, tc.want)
			}
			if n := len(tc.uart.Injected()); tc.uart.InjectErr == nil && n != len(uartprobe.MalformedFrames()) {
				t.Errorf("%d frames injected, want every malformed frame (%d)", n, len(uartprobe.MalformedFrames()))
			}
		})
	}
}
