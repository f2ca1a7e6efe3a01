package qemu

import (
	"context"
	"testing"
	"time"

	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/lines"
)

// bootHistory is the firmware's ring of recent boots (PROTO_BOOT_HISTORY, firmware/stm32/src/proto.h).
const bootHistory = 16

// TestFirmwareBootStats runs the firmware in QEMU across FAULT RESETs and a reset-line pulse and
// checks BOOT_STATS (op 0x06) against what the host actually received: for every boot the device
// still remembers, the reset cause of its HELLO and the number of TELEMETRY frames received (each
// boot's seq 0, 1, 2, ... with nothing missing); a boot it never had, or has forgotten (the history
// holds the last 16), and wrong args are status 2.
func TestFirmwareBootStats(t *testing.T) {
	m, p := board(t, &testUID)
	r := &rx{t: t, p: p}

	type seenBoot struct {
		cause     protocol.ResetCause
		telemetry uint32 // TELEMETRY frames received in that boot
	}
	seen := map[uint32]*seenBoot{}
	var cur uint32
	// recv reads frames, accounting every HELLO and TELEMETRY, until one of type ty.
	recv := func(ty protocol.Type) protocol.Frame {
		t.Helper()
		for {
			w := r.next(5 * time.Second)
			agree(t, w) // fails on a bad frame: none is expected here
			switch w.f.Type {
			case protocol.TypeHello:
				h, err := protocol.ParseHello(w.f.Body)
				if err != nil {
					t.Fatal(err)
				}
				if _, dup := seen[w.f.Boot]; dup || w.f.Seq != 0 {
					t.Fatalf("HELLO boot %d seq %d: boot seen before, or seq not 0", w.f.Boot, w.f.Seq)
				}
				seen[w.f.Boot] = &seenBoot{cause: h.ResetCause}
				cur = w.f.Boot
			case protocol.TypeTelemetry:
				b := seen[w.f.Boot]
				if b == nil || w.f.Boot != cur || w.f.Seq != b.telemetry {
					t.Fatalf("TELEMETRY boot %d seq %d, want boot %d seq %d", w.f.Boot, w.f.Seq, cur, seen[cur].telemetry)
				}
				b.telemetry++
			}
			if w.f.Type == ty {
				return w.f
			}
		}
	}
	reqSeq := uint32(1000)
	do := func(c protocol.Command, status protocol.Status) (protocol.Frame, protocol.Response) {
		t.Helper()
		reqSeq++
		command(t, p, reqSeq, c)
		f := recv(protocol.TypeResponse)
		rsp, err := protocol.ParseResponse(f.Body)
		if err != nil {
			t.Fatal(err)
		}
		if rsp.ReqSeq != reqSeq || rsp.Op != c.Op || rsp.Status != status {
			t.Fatalf("response %+v, want req_seq %d op %s status %s", rsp, reqSeq, c.Op, status)
		}
		return f, rsp
	}
	telemetry := func(n uint32) {
		t.Helper()
		for seen[cur].telemetry < n {
			recv(protocol.TypeTelemetry)
		}
	}
	// remembered checks BOOT_STATS of boot against what was received in it.
	remembered := func(boot uint32) {
		t.Helper()
		f, rsp := do(protocol.BootStatsCommand(boot), protocol.StatusOK)
		bs, err := protocol.ParseBootStats(rsp.Data)
		if err != nil {
			t.Fatal(err)
		}
		s := seen[boot]
		want := protocol.BootStats{Boot: boot, ResetCause: s.cause, TelemetrySent: s.telemetry}
		if bs != want {
			t.Fatalf("BOOT_STATS %d = %+v, received %+v", boot, bs, want)
		}
		if boot == cur && f.Seq != bs.TelemetrySent {
			t.Fatalf("BOOT_STATS of the current boot says %d sent, the RESPONSE's seq %d", bs.TelemetrySent, f.Seq)
		}
	}
	forgotten := func(boot uint32) {
		t.Helper()
		if _, rsp := do(protocol.BootStatsCommand(boot), protocol.StatusBadArgs); len(rsp.Data) != 0 {
			t.Fatalf("BOOT_STATS %d status 2 with data %x", boot, rsp.Data)
		}
	}
	faultReset := func() {
		t.Helper()
		before := cur
		do(protocol.FaultCommand(protocol.FaultReset), protocol.StatusOK)
		recv(protocol.TypeHello)
		if cur != before+1 || seen[cur].cause != protocol.ResetSoftware {
			t.Fatalf("after FAULT RESET: boot %d cause %s, want boot %d software", cur, seen[cur].cause, before+1)
		}
	}

	// Power on: a fresh history with only this boot.
	recv(protocol.TypeHello)
	b0 := cur
	if seen[b0].cause != protocol.ResetPowerOn {
		t.Fatalf("first HELLO reset cause %s, want power_on", seen[b0].cause)
	}
	telemetry(5)
	remembered(b0)
	forgotten(b0 - 1)
	forgotten(b0 + 1)
	do(protocol.Command{Op: protocol.OpBootStats, Args: []byte{1, 0, 0}}, protocol.StatusBadArgs)
	do(protocol.Command{Op: protocol.OpBootStats}, protocol.StatusBadArgs)

	// FAULT RESET: the ended boot keeps its count.
	telemetry(8)
	faultReset()
	telemetry(3)
	remembered(b0)
	remembered(b0 + 1)

	// The reset line: stop telemetry first, so the pulse cuts no frame short (a frame the host
	// never received whole would not be accounted here).
	do(protocol.SetIntervalCommand(0), protocol.StatusOK)
	if err := (lines.ResetLine{Pin: m.ResetPin()}).Pulse(context.Background()); err != nil {
		t.Fatal(err)
	}
	recv(protocol.TypeHello)
	if cur != b0+2 || seen[cur].cause != protocol.ResetUnknown { // QEMU has no RCC flags: unknown, pin on a board
		t.Fatalf("after the reset pulse: boot %d cause %s, want boot %d unknown", cur, seen[cur].cause, b0+2)
	}
	telemetry(2)
	for b := b0; b <= b0+2; b++ {
		remembered(b)
	}

	// Bounded: after 16 more boots only the last 16 are remembered.
	for i := uint32(0); i < bootHistory; i++ {
		telemetry(i % 4)
		faultReset()
	}
	last := cur
	telemetry(1)
	for b := b0; b <= last; b++ {
		if last-b < bootHistory {
			remembered(b)
		} else {
			forgotten(b)
		}
	}
	t.Logf("boots %d..%d; remembered the last %d", b0, last, bootHistory)
}
