package guardrails

import (
	"context"
	"errors"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/probe/uartprobe"
	"github.com/pathrig/rig/rig/record"
)

const ctlGuardUART = "GUARD-UART"

// probeUART injects malformed frames and checks that the gateway counts every one as rejected
// and goes on decoding the device's valid frames.
func probeUART(ctx context.Context, env *check.Env) check.Outcome {
	if env.UART == nil {
		return check.Skip("no access to the device's UART in this run (only the rig's emulated device on its own stack has one)")
	}
	ev := check.NewEvidence(env, ctlGuardUART)
	frames := uartprobe.MalformedFrames()
	r, err := uartprobe.Run(ctx, env.UART, env.Limits.ProbeTimeout)
	if errors.Is(err, check.ErrNoUART) {
		return check.Skip("%v: malformed frames cannot be injected in this run", err)
	}
	sent, ok0, bad0, ok1, bad1, pingErr := r.Sent, r.OkBefore, r.BadBefore, r.OkAfter, r.BadAfter, r.PingErr
	obs := map[string]any{"injected": len(frames), "rejected": bad1 - bad0, "ping_answered": pingErr == nil}
	rec := map[string]any{"frames": sent, "frames_ok_before": ok0, "frames_ok_after": ok1, "bad_before": bad0, "bad_after": bad1}
	if pingErr != nil {
		rec["ping_error"] = pingErr.Error()
	}
	ev.JSON("injection.json", rec)
	for _, s := range sent {
		if s.Error != "" {
			return ev.Outcome(record.StatusError, obs, "could not write onto the UART: %s", s.Error)
		}
	}
	switch {
	case bad1-bad0 < uint64(len(frames)):
		return ev.Outcome(record.StatusFail, obs, "the gateway counted %d of %d malformed frames as rejected: some garbage went through or was silently lost", bad1-bad0, len(frames))
	case pingErr != nil:
		return ev.Outcome(record.StatusFail, obs, "after the malformed frames the device's answer to PING did not come through the gateway (%v): it did not resynchronise", pingErr)
	}
	return ev.Outcome(record.StatusPass, obs, "the gateway rejected all %d malformed frames and still decodes the device's frames (PING answered, %d valid frames since)", len(frames), ok1-ok0)
}
