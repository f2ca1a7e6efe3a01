package checks

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/record"
)

// fakeUART is a line that injects nothing or breaks the decoder, for the verdict logic; the
// real pty path is covered by the engine tests on the reference stack.
type fakeUART struct {
	injectErr error
	countBad  bool // the gateway counts what is injected
	pingErr   error
	bad       uint64
}

func (f *fakeUART) Inject(context.Context, []byte) error {
	if f.injectErr == nil && f.countBad {
		f.bad++
	}
	return f.injectErr
}

func (f *fakeUART) Frames() (uint64, uint64) { return 10, f.bad }

func (f *fakeUART) Ping(context.Context) error { return f.pingErr }

func TestUARTVerdicts(t *testing.T) {
	tests := []struct {
		name string
		uart *fakeUART
		want record.Status
	}{
		{"rejected and still decoding", &fakeUART{countBad: true}, record.StatusPass},
		{"garbage not counted", &fakeUART{countBad: false}, record.StatusFail},
		{"no resync", &fakeUART{countBad: true, pingErr: errors.New("timeout")}, record.StatusFail},
		{"no UART for this device kind", &fakeUART{injectErr: ErrNoUART}, record.StatusSkip},
		{"write fails", &fakeUART{injectErr: errors.New("EIO")}, record.StatusError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := newEnv(t, Targets{}, nil)
			env.Limits.ProbeTimeout = 200 * time.Millisecond
			env.UART = tc.uart
			results, err := Evaluate(context.Background(), env, []string{"guardrails-depth"})
			if err != nil {
				t.Fatal(err)
			}
			if r := byControl(t, results)[ctlGuardUART]; r.Status != tc.want {
				t.Errorf("%s: %s (%s), want %s", ctlGuardUART, r.Status, r.Reason, tc.want)
			}
		})
	}
}
