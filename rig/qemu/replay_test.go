package qemu

import (
	"bytes"
	"testing"
	"time"

	"github.com/pathrig/rig/firmware/protocol"
)

// TestFirmwareReplay runs the firmware in QEMU and checks REPLAY (op 0x08): the RESPONSE announces
// how many frames of the current boot it holds from from_seq on (the last 64 at most), and right
// after it the firmware sends them again, oldest first, byte for byte the frames it first sent;
// seq, STATS and BOOT_STATS are unchanged; another boot, a seq past the newest and a reset give 0;
// args of the wrong length give status 2 and nothing else.
func TestFirmwareReplay(t *testing.T) {
	_, p := board(t, &testUID)
	r := &rx{t: t, p: p}
	hello := r.next(5 * time.Second)
	if hello.f.Type != protocol.TypeHello {
		t.Fatalf("first frame %s, want HELLO", hello.f.Type)
	}
	boot := hello.f.Boot
	wire := map[uint32][]byte{} // each TELEMETRY frame of the boot as first received
	keep := func(w wireFrame) {
		t.Helper()
		agree(t, w)
		if w.f.Type != protocol.TypeTelemetry {
			return
		}
		if _, dup := wire[w.f.Seq]; dup || w.f.Boot != boot {
			t.Fatalf("TELEMETRY boot %d seq %d outside a replay: seen before, or another boot than %d", w.f.Boot, w.f.Seq, boot)
		}
		wire[w.f.Seq] = w.wire
	}
	reqSeq := uint32(500)
	// do sends c and returns its RESPONSE, keeping the telemetry that came before it.
	do := func(c protocol.Command, status protocol.Status) (protocol.Frame, protocol.Response) {
		t.Helper()
		reqSeq++
		command(t, p, reqSeq, c)
		for {
			w := r.next(5 * time.Second)
			if w.f.Type != protocol.TypeResponse {
				keep(w)
				continue
			}
			agree(t, w)
			rsp, err := protocol.ParseResponse(w.f.Body)
			if err != nil {
				t.Fatal(err)
			}
			if rsp.ReqSeq != reqSeq || rsp.Op != c.Op || rsp.Status != status {
				t.Fatalf("response %+v, want req_seq %d op %s status %s", rsp, reqSeq, c.Op, status)
			}
			return w.f, rsp
		}
	}
	// replay asks REPLAY and checks the frames that follow are the ones first sent as want.
	replay := func(b, from uint32, want []uint32) {
		t.Helper()
		f, rsp := do(protocol.ReplayCommand(b, from), protocol.StatusOK)
		n, err := protocol.ParseReplay(rsp.Data)
		if err != nil || int(n) != len(want) {
			t.Fatalf("REPLAY boot %d from %d: count %d (%v), want %d", b, from, n, err, len(want))
		}
		for _, seq := range want {
			w := r.next(2 * time.Second)
			if !bytes.Equal(w.wire, wire[seq]) {
				t.Fatalf("REPLAY boot %d from %d: sent %x (%s seq %d), first sent seq %d as %x", b, from, w.wire, w.f.Type, w.f.Seq, seq, wire[seq])
			}
		}
		if n > 0 && f.Seq != want[len(want)-1]+1 {
			t.Fatalf("REPLAY RESPONSE carries seq %d, want one past the last frame replayed (%d)", f.Seq, want[len(want)-1]+1)
		}
	}
	seqs := func(from, to uint32) []uint32 {
		var out []uint32
		for s := from; s < to; s++ {
			out = append(out, s)
		}
		return out
	}

	for len(wire) < protocol.ReplayDepth+10 { // more than the ring holds
		keep(r.next(2 * time.Second))
	}
	f, _ := do(protocol.SetIntervalCommand(0), protocol.StatusOK) // from here on only replays
	sent := f.Seq
	if uint32(len(wire)) != sent {
		t.Fatalf("received %d TELEMETRY frames, the device has sent %d", len(wire), sent)
	}

	replay(boot, sent-10, seqs(sent-10, sent))
	replay(boot, 0, seqs(sent-protocol.ReplayDepth, sent)) // older than the ring: what it holds
	replay(boot, sent-1, []uint32{sent - 1})
	replay(boot, sent, nil)
	replay(boot, sent+1000, nil)
	replay(boot-1, 0, nil)
	replay(boot+1, sent-3, nil)
	for _, args := range [][]byte{nil, {1, 0, 0, 0}, append(protocol.ReplayCommand(boot, 0).Args, 0)} {
		do(protocol.Command{Op: protocol.OpReplay, Args: args}, protocol.StatusBadArgs)
		reqSeq++
		command(t, p, reqSeq, protocol.Command{Op: protocol.OpPing}) // the very next frame must answer it
		if _, rsp := response(t, r, reqSeq, protocol.OpPing, protocol.StatusOK); rsp.ReqSeq != reqSeq {
			t.Fatal("a frame came between REPLAY with bad args and the next command")
		}
	}

	// Replays are not telemetry sent: the counters and the seq stay.
	_, rsp := do(protocol.Command{Op: protocol.OpStats}, protocol.StatusOK)
	st, _ := protocol.ParseDeviceStats(rsp.Data)
	_, rsp = do(protocol.BootStatsCommand(boot), protocol.StatusOK)
	bs, _ := protocol.ParseBootStats(rsp.Data)
	if st.TelemetrySent != sent || bs.TelemetrySent != sent {
		t.Fatalf("after replays STATS says %d sent, BOOT_STATS %d; want %d", st.TelemetrySent, bs.TelemetrySent, sent)
	}
	do(protocol.SetIntervalCommand(5), protocol.StatusOK)
	for uint32(len(wire)) <= sent {
		keep(r.next(2 * time.Second))
	}

	// A reset empties the ring: the old boot is gone, the new one holds only its own frames.
	do(protocol.FaultCommand(protocol.FaultReset), protocol.StatusOK)
	w := r.nextOf(protocol.TypeHello, 5*time.Second)
	if w.f.Boot != boot+1 {
		t.Fatalf("HELLO boot %d after FAULT RESET, want %d", w.f.Boot, boot+1)
	}
	boot, wire = boot+1, map[uint32][]byte{}
	for len(wire) < 3 {
		keep(r.next(2 * time.Second))
	}
	f, _ = do(protocol.SetIntervalCommand(0), protocol.StatusOK)
	replay(boot-1, 0, nil)
	replay(boot, 0, seqs(0, f.Seq))
}
