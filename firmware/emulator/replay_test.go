package emulator

import (
	"reflect"
	"testing"
	"time"

	"github.com/pathrig/rig/firmware/protocol"
)

// recorder keeps every TELEMETRY frame the host read, by seq, as first received.
type recorder struct {
	t    *testing.T
	h    *host
	boot uint32
	sent map[uint32]protocol.Frame
	last uint32
}

func (r *recorder) keep(fs ...protocol.Frame) {
	for _, f := range fs {
		if f.Type != protocol.TypeTelemetry {
			continue
		}
		if f.Boot != r.boot {
			r.t.Fatalf("TELEMETRY of boot %d, want %d", f.Boot, r.boot)
		}
		if _, dup := r.sent[f.Seq]; dup {
			r.t.Fatalf("seq %d received twice outside a replay", f.Seq)
		}
		r.sent[f.Seq], r.last = f, f.Seq
	}
}

// command sends c and keeps the telemetry that came before its response.
func (r *recorder) command(c protocol.Command) protocol.Response {
	r.t.Helper()
	rsp, before := r.h.command(c)
	r.keep(before...)
	return rsp
}

// replay sends REPLAY and checks the announced frames follow the RESPONSE, each exactly the frame
// first received with that seq (want: the seqs expected, oldest first).
func (r *recorder) replay(boot, from uint32, want []uint32) {
	r.t.Helper()
	rsp := r.command(protocol.ReplayCommand(boot, from))
	if rsp.Status != protocol.StatusOK {
		r.t.Fatalf("REPLAY boot %d from %d: status %s", boot, from, rsp.Status)
	}
	n, err := protocol.ParseReplay(rsp.Data)
	if err != nil || int(n) != len(want) {
		r.t.Fatalf("REPLAY boot %d from %d: count %d (%v), want %d", boot, from, n, err, len(want))
	}
	for _, seq := range want {
		f := r.h.nextOK()
		if orig, ok := r.sent[seq]; !ok || !reflect.DeepEqual(f, orig) {
			r.t.Fatalf("REPLAY boot %d from %d: frame %+v, first sent as %+v", boot, from, f, orig)
		}
	}
}

func seqs(from, to uint32) []uint32 {
	var out []uint32
	for s := from; s < to; s++ {
		out = append(out, s)
	}
	return out
}

// TestReplay: REPLAY sends again, right after its RESPONSE, the held TELEMETRY frames of the
// current boot from from_seq on, each exactly as first sent; the count says how many; the ring
// holds the last 64; replays leave seq, STATS and BOOT_STATS alone; another boot, a seq past the
// newest, a reset all give 0; args of the wrong length answer status 2 and send nothing.
func TestReplay(t *testing.T) {
	d, h, _ := startDevice(t, Config{UID: testUID, Boot: 5, Interval: 2 * time.Millisecond})
	r := &recorder{t: t, h: h, boot: 5, sent: map[uint32]protocol.Frame{}}
	for r.last < 80 {
		r.keep(h.nextOK())
	}
	r.command(protocol.SetIntervalCommand(0)) // no new telemetry from here on: the replays alone
	st, _ := protocol.ParseDeviceStats(r.command(protocol.Command{Op: protocol.OpStats}).Data)
	sent := st.TelemetrySent
	if sent != r.last+1 || uint32(len(r.sent)) != sent {
		t.Fatalf("STATS telemetry_sent %d; received %d frames up to seq %d", sent, len(r.sent), r.last)
	}

	r.replay(5, sent-10, seqs(sent-10, sent))
	if h.rspSeq != sent {
		t.Fatalf("REPLAY RESPONSE carries seq %d, want the next seq %d", h.rspSeq, sent)
	}
	r.replay(5, 0, seqs(sent-protocol.ReplayDepth, sent)) // older than the ring: what it holds
	r.replay(5, sent-1, []uint32{sent - 1})
	r.replay(5, sent, nil)
	r.replay(5, sent+100, nil)
	r.replay(4, 0, nil)
	r.replay(6, sent-5, nil)
	for _, args := range [][]byte{nil, {5, 0, 0, 0}, append(protocol.ReplayCommand(5, 0).Args, 0)} {
		rsp := r.command(protocol.Command{Op: protocol.OpReplay, Args: args})
		if rsp.Status != protocol.StatusBadArgs || len(rsp.Data) != 0 {
			t.Fatalf("REPLAY with %d bytes of args: status %s data %x, want bad_args, no data", len(args), rsp.Status, rsp.Data)
		}
		if _, before := h.command(protocol.Command{Op: protocol.OpPing}); len(before) != 0 {
			t.Fatalf("REPLAY with bad args sent %d frames", len(before))
		}
	}

	// Replays are not telemetry sent: counters and seq unchanged.
	st, _ = protocol.ParseDeviceStats(r.command(protocol.Command{Op: protocol.OpStats}).Data)
	bs, _ := protocol.ParseBootStats(r.command(protocol.BootStatsCommand(5)).Data)
	if st.TelemetrySent != sent || bs.TelemetrySent != sent || d.Stats().TelemetrySent != sent {
		t.Fatalf("after replays: STATS %d, BOOT_STATS %d, emulator %d sent; want %d", st.TelemetrySent, bs.TelemetrySent, d.Stats().TelemetrySent, sent)
	}
	if want := uint64(10 + protocol.ReplayDepth + 1); d.Stats().Replayed != want {
		t.Fatalf("emulator counted %d replayed frames, want %d", d.Stats().Replayed, want)
	}

	// A frame sent with a corrupted CRC (FAULT CORRUPT_CRC) is held whole and replayed with a good
	// one; the fault does not touch the replay. Telemetry resumes at the seq it stopped at.
	r.command(protocol.FaultCommand(protocol.FaultCorruptCRC))
	r.command(protocol.SetIntervalCommand(2))
	if bad := h.next(2 * time.Second); protocol.Reason(bad.err) != protocol.ReasonCRC {
		t.Fatalf("first frame after CORRUPT_CRC: %+v, want a crc error", bad)
	}
	for r.last < sent+5 {
		r.keep(h.nextOK())
	}
	r.command(protocol.SetIntervalCommand(0))
	rsp := r.command(protocol.ReplayCommand(5, sent))
	if n, _ := protocol.ParseReplay(rsp.Data); uint32(n) != r.last+1-sent {
		t.Fatalf("REPLAY from %d after %d: count %d", sent, r.last, n)
	}
	first := h.nextOK()
	if want := d.cfg.Sensor(5, sent).Marshal(); first.Seq != sent || first.Boot != 5 || !reflect.DeepEqual(first.Body, want) {
		t.Fatalf("replayed frame %+v, want seq %d body %x with a good CRC", first, sent, want)
	}
	for seq := sent + 1; seq <= r.last; seq++ {
		if f := h.nextOK(); !reflect.DeepEqual(f, r.sent[seq]) {
			t.Fatalf("replayed %+v, first sent as %+v", f, r.sent[seq])
		}
	}

	// A reset loses the ring: boot 5 is gone, boot 6 starts empty.
	r.command(protocol.FaultCommand(protocol.FaultReset))
	if f := h.nextOfType(protocol.TypeHello); f.Boot != 6 {
		t.Fatalf("HELLO boot %d after FAULT RESET", f.Boot)
	}
	r.boot, r.sent, r.last = 6, map[uint32]protocol.Frame{}, 0
	for r.last < 3 {
		r.keep(h.nextOK())
	}
	r.command(protocol.SetIntervalCommand(0))
	r.replay(5, 0, nil)
	r.replay(6, 0, seqs(0, r.last+1))
}

// TestReplayOldFirmware: a device built without REPLAY answers status 1 and sends nothing more.
func TestReplayOldFirmware(t *testing.T) {
	_, h, _ := startDevice(t, Config{UID: testUID, Boot: 2, Interval: time.Hour, NoReplay: true})
	rsp, _ := h.command(protocol.ReplayCommand(2, 0))
	if rsp.Status != protocol.StatusUnknownOp || len(rsp.Data) != 0 {
		t.Fatalf("REPLAY on old firmware: status %s data %x, want unknown_op", rsp.Status, rsp.Data)
	}
	if _, before := h.command(protocol.Command{Op: protocol.OpPing}); len(before) != 0 {
		t.Fatalf("old firmware sent %d frames after REPLAY", len(before))
	}
}
