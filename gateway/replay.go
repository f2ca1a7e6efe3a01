package gateway

import (
	"context"
	"errors"

	"github.com/pathrig/rig/firmware/protocol"
)

// replayAfterStart recovers, in spool mode, the frames an earlier gateway read off the UART but
// was killed before committing: once the device's identity and current boot are known, if the
// spool's mark for that device (marks: as the spool was opened, before this run committed
// anything) is in that boot, it asks the device once to REPLAY everything after the mark. The
// replayed frames arrive as TELEMETRY and take the normal path (spooled, published; the ingest is
// idempotent on device, boot and seq), as do those read since the start, some of which the replay
// repeats. A device in another boot, one with no mark (first start) or an older firmware
// (status 1) gets no replay.
func (g *Gateway) replayAfterStart(ctx context.Context, marks map[string]mark) {
	select {
	case <-g.identReady:
	case <-ctx.Done():
		return
	}
	g.mu.Lock()
	uid, boot := g.identity.UID, g.identity.Boot
	g.mu.Unlock()
	log := g.log.With("device", uid)
	m, ok := marks[uid]
	switch {
	case !ok:
		log.Debug("no replay: no earlier run committed anything of this device to the spool")
		g.releaseMark()
		return
	case m.Boot != boot:
		log.Info("no replay: the device booted since the spool's last commit (its held frames went with that boot)", "mark_boot", m.Boot, "mark_seq", m.Seq, "boot", boot)
		g.releaseMark()
		return
	}
	g.mu.Lock()
	g.stats.ReplayRequests++
	g.replayFrom = m.Seq + 1
	g.mu.Unlock()
	log.Info("asking the device to replay the telemetry after the spool's last commit", "boot", boot, "from_seq", m.Seq+1)
	n, err := g.session.Replay(ctx, boot, m.Seq+1)
	var ce *CommandError
	switch {
	case err == nil:
		log.Info("device replays telemetry", "boot", boot, "from_seq", m.Seq+1, "frames", n)
	case errors.As(err, &ce) && ce.Status == protocol.StatusUnknownOp:
		// logged once where the RESPONSE was read
	case ctx.Err() != nil:
	default:
		log.Warn("REPLAY failed; frames read but not committed before the restart may be lost", "err", err)
	}
	g.mu.Lock()
	if g.window.left == 0 { // an announced replay releases the mark itself, when its frames are in
		g.markHeld = false
	}
	g.mu.Unlock()
}

func (g *Gateway) releaseMark() {
	g.mu.Lock()
	g.markHeld = false
	g.mu.Unlock()
}

// replayAnsweredLocked reads the RESPONSE to REPLAY as it comes off the line, before the frames
// it announces: they are the count seqs before the RESPONSE's own seq (the device's next one).
func (g *Gateway) replayAnsweredLocked(f protocol.Frame, r protocol.Response) {
	switch r.Status {
	case protocol.StatusOK:
		n, err := protocol.ParseReplay(r.Data)
		if err != nil || n == 0 {
			g.markHeld = false
			return
		}
		g.stats.Replayed += uint64(n)
		g.window = replayWindow{boot: f.Boot, from: f.Seq - uint32(n), count: uint32(n), left: uint32(n)}
		if asked := f.Seq - g.replayFrom; asked > uint32(n) && asked <= 1<<30 {
			// The device's ring no longer reaches back to from_seq: those frames are gone
			// unless this gateway read them itself (sent while it was down, from the tty).
			g.log.Info("device no longer holds the oldest frames asked for (lost if the crash took them before their commit)", "from_seq", g.replayFrom, "next_seq", f.Seq, "held", n, "beyond_ring", asked-uint32(n))
		}
	case protocol.StatusUnknownOp:
		if !g.noReplay {
			g.noReplay = true
			g.log.Info("device firmware has no REPLAY (op 0x08): carrying on without it; frames a crash took between read and commit cannot be recovered from this device")
		}
		g.markHeld = false
	default:
		g.markHeld = false
	}
}

// replayedLocked reports whether a TELEMETRY frame is one of an announced replay: such frames
// repeat seqs on purpose and stay out of the gap and step-back counts. The first frame that is
// not one ends the replay (the rest was lost on the line); the last one releases the mark.
func (g *Gateway) replayedLocked(f protocol.Frame) bool {
	w := &g.window
	if w.left == 0 {
		return false
	}
	if f.Boot == w.boot && f.Seq-w.from < w.count {
		w.left--
		if w.left == 0 {
			g.markHeld = false
		}
		return true
	}
	w.left = 0
	g.markHeld = false
	return false
}
