package qemu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/firmware/stm32"
	"github.com/pathrig/rig/gateway"
	"github.com/pathrig/rig/rig/broker"
	"github.com/pathrig/rig/rig/lines"
	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/telemetry"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

var testUID = protocol.UID{0x30, 0x30, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39}

// skip skips a test whose tools are missing, unless RIG_REQUIRE_QEMU is set (CI installs them).
func skip(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("RIG_REQUIRE_QEMU") != "" {
		t.Fatalf("RIG_REQUIRE_QEMU is set but: "+format, args...)
	}
	t.Skipf(format, args...)
}

var (
	fwOnce sync.Once
	fwPath string
	fwErr  error
	fwDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fwDir != "" {
		os.RemoveAll(fwDir)
	}
	os.Exit(code)
}

// firmware builds the firmware once for the package's tests and checks QEMU is installed.
func firmware(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath(DefaultBinary); err != nil {
		skip(t, "%v", ErrNotInstalled)
	}
	fwOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if fwDir, fwErr = os.MkdirTemp("", "rig-fw-"); fwErr == nil {
			fwPath, _, fwErr = stm32.Build(ctx, fwDir)
		}
	})
	if errors.Is(fwErr, stm32.ErrNoToolchain) {
		skip(t, "%v", fwErr)
	}
	if fwErr != nil {
		t.Fatal(fwErr)
	}
	return fwPath
}

func testLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// board starts a QEMU board and connects to it.
func board(t *testing.T, uid *protocol.UID) (*Machine, link.Port) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := Start(ctx, Config{Image: firmware(t), UID: uid, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	p, err := m.Connect(ctx, 115200)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return m, p
}

// rx reads frames from a port, keeping each frame's exact wire bytes.
type rx struct {
	t    *testing.T
	p    link.Port
	dec  protocol.Decoder
	raw  []byte // bytes of the frame being received
	got  []wireFrame
	buf  [512]byte
	bad  []string
	done bool
}

type wireFrame struct {
	f    protocol.Frame
	wire []byte // the bytes on the UART, delimiter included
}

// next returns the next valid frame (failing on any bad one) within the deadline.
func (r *rx) next(d time.Duration) wireFrame {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for len(r.got) == 0 {
		if time.Now().After(deadline) {
			r.t.Fatalf("no frame from the firmware within %s", d)
		}
		n, err := r.p.Read(r.buf[:])
		if err != nil {
			r.t.Fatalf("read %s: %v", r.p.Name(), err)
		}
		for _, b := range r.buf[:n] {
			if b == 0 && len(r.raw) == 0 {
				continue // the flush byte before HELLO
			}
			r.raw = append(r.raw, b)
			r.dec.Feed([]byte{b}, func(f protocol.Frame, err error) {
				if err != nil {
					r.bad = append(r.bad, protocol.Reason(err))
					r.got = append(r.got, wireFrame{wire: append([]byte(nil), r.raw...)})
				} else {
					r.got = append(r.got, wireFrame{f: f, wire: append([]byte(nil), r.raw...)})
				}
				r.raw = r.raw[:0]
			})
		}
	}
	w := r.got[0]
	r.got = r.got[1:]
	return w
}

// nextOf skips telemetry until a frame of type ty.
func (r *rx) nextOf(ty protocol.Type, d time.Duration) wireFrame {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for {
		w := r.next(time.Until(deadline))
		if w.f.Type == ty {
			return w
		}
		if w.f.Type != protocol.TypeTelemetry {
			r.t.Fatalf("frame %s while waiting for %s", w.f.Type, ty)
		}
	}
}

// agree checks the Go codec re-encodes a decoded firmware frame to the exact bytes received.
func agree(t *testing.T, w wireFrame) {
	t.Helper()
	if w.f.Version == 0 {
		t.Fatalf("bad frame %x", w.wire)
	}
	enc, err := protocol.Encode(w.f)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, w.wire) {
		t.Fatalf("firmware sent %x, Go codec encodes the decoded frame as %x", w.wire, enc)
	}
}

func command(t *testing.T, p link.Port, seq uint32, c protocol.Command) {
	t.Helper()
	wire, err := protocol.Encode(protocol.NewFrame(protocol.TypeCommand, 0, seq, 0, c.Marshal()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write(wire); err != nil {
		t.Fatal(err)
	}
}

func response(t *testing.T, r *rx, seq uint32, op protocol.Op, status protocol.Status) (protocol.Frame, protocol.Response) {
	t.Helper()
	w := r.nextOf(protocol.TypeResponse, 5*time.Second)
	agree(t, w)
	rsp, err := protocol.ParseResponse(w.f.Body)
	if err != nil {
		t.Fatal(err)
	}
	if rsp.ReqSeq != seq || rsp.Op != op || rsp.Status != status {
		t.Fatalf("response %+v, want req_seq %d op %s status %s", rsp, seq, op, status)
	}
	return w.f, rsp
}

// TestFirmwareSpeaksProtocol runs the firmware binary in QEMU and checks, byte for byte with the Go
// codec, every frame it sends, then every command of protocol v1 and its response.
func TestFirmwareSpeaksProtocol(t *testing.T) {
	m, p := board(t, &testUID)
	r := &rx{t: t, p: p}

	hello := r.next(5 * time.Second)
	agree(t, hello)
	if hello.f.Type != protocol.TypeHello || hello.f.Seq != 0 {
		t.Fatalf("first frame %s seq %d, want HELLO seq 0", hello.f.Type, hello.f.Seq)
	}
	h, _ := protocol.ParseHello(hello.f.Body)
	if h.UID != testUID || h.FW != (protocol.FWVersion{Major: 1}) || h.ResetCause != protocol.ResetPowerOn {
		t.Fatalf("HELLO %+v, want uid %s fw 1.0.0 reset_cause power_on", h, testUID)
	}
	boot := hello.f.Boot

	// Telemetry: seq 0, 1, 2, ... with the emulator's synthetic readings, in the same boot.
	var lastTime uint32
	for i := uint32(0); i < 10; i++ {
		w := r.next(2 * time.Second)
		agree(t, w)
		if w.f.Type != protocol.TypeTelemetry || w.f.Seq != i || w.f.Boot != boot {
			t.Fatalf("frame %d: %s boot %d seq %d, want TELEMETRY boot %d seq %d", i, w.f.Type, w.f.Boot, w.f.Seq, boot, i)
		}
		want := protocol.Telemetry{TempCentiC: 2150 + int16(i%64), SupplyMv: 3300 - uint16(i%16)}.Marshal()
		if !bytes.Equal(w.f.Body, want) {
			t.Fatalf("telemetry %d body %x, want %x (the emulator's reading)", i, w.f.Body, want)
		}
		if w.f.DeviceTimeMs < lastTime {
			t.Fatalf("device time went back: %d after %d", w.f.DeviceTimeMs, lastTime)
		}
		lastTime = w.f.DeviceTimeMs
	}

	command(t, p, 100, protocol.Command{Op: protocol.OpPing})
	f, rsp := response(t, r, 100, protocol.OpPing, protocol.StatusOK)
	if len(rsp.Data) != 0 || f.Boot != boot {
		t.Fatalf("PING response %+v boot %d", rsp, f.Boot)
	}
	command(t, p, 101, protocol.Command{Op: protocol.OpIdentify})
	_, rsp = response(t, r, 101, protocol.OpIdentify, protocol.StatusOK)
	if id, err := protocol.ParseIdentity(rsp.Data); err != nil || id.UID != testUID || id.FW.String() != "1.0.0" {
		t.Fatalf("IDENTIFY %+v %v", id, err)
	}
	// Stop telemetry, then the RESPONSE's seq is the next telemetry seq and nothing else arrives.
	command(t, p, 102, protocol.SetIntervalCommand(0))
	f, _ = response(t, r, 102, protocol.OpSetInterval, protocol.StatusOK)
	sent := f.Seq
	command(t, p, 103, protocol.Command{Op: 0x7e})
	response(t, r, 103, 0x7e, protocol.StatusUnknownOp)
	command(t, p, 104, protocol.FaultCommand(0x05)) // a reserved fault code (0x04, CLOCK_SKEW, needs its skew)
	response(t, r, 104, protocol.OpFault, protocol.StatusBadArgs)
	command(t, p, 105, protocol.Command{Op: protocol.OpPing, Args: []byte{1}})
	response(t, r, 105, protocol.OpPing, protocol.StatusBadArgs)
	// Garbage and a frame a device does not accept count as rx_bad.
	p.Write([]byte{0xde, 0xad, 0xbe, 0xef, 0x00})
	tel, _ := protocol.Encode(protocol.NewFrame(protocol.TypeTelemetry, 1, 1, 1, make([]byte, 4)))
	p.Write(tel)
	command(t, p, 106, protocol.Command{Op: protocol.OpStats})
	f, rsp = response(t, r, 106, protocol.OpStats, protocol.StatusOK)
	st, err := protocol.ParseDeviceStats(rsp.Data)
	if err != nil {
		t.Fatal(err)
	}
	if want := (protocol.DeviceStats{Boot: boot, TelemetrySent: sent, RxOK: 7, RxBad: 2}); st != want || f.Seq != sent {
		t.Fatalf("STATS %+v (frame seq %d), want %+v", st, f.Seq, want)
	}

	// FAULT CORRUPT_CRC: the next telemetry frame has a bad CRC and its seq is consumed.
	command(t, p, 107, protocol.FaultCommand(protocol.FaultCorruptCRC))
	response(t, r, 107, protocol.OpFault, protocol.StatusOK)
	command(t, p, 108, protocol.SetIntervalCommand(5))
	response(t, r, 108, protocol.OpSetInterval, protocol.StatusOK)
	if w := r.next(2 * time.Second); w.f.Version != 0 || r.bad[len(r.bad)-1] != protocol.ReasonCRC {
		t.Fatalf("after CORRUPT_CRC got %s seq %d, want a crc bad frame", w.f.Type, w.f.Seq)
	}
	if w := r.next(2 * time.Second); w.f.Type != protocol.TypeTelemetry || w.f.Seq != sent+1 {
		t.Fatalf("after the corrupted frame got %s seq %d, want TELEMETRY seq %d", w.f.Type, w.f.Seq, sent+1)
	}

	// FAULT RESET: a new boot, boot counter + 1, seq back to 0, reset cause software.
	command(t, p, 109, protocol.FaultCommand(protocol.FaultReset))
	response(t, r, 109, protocol.OpFault, protocol.StatusOK)
	w := r.nextOf(protocol.TypeHello, 5*time.Second)
	agree(t, w)
	h, _ = protocol.ParseHello(w.f.Body)
	if w.f.Boot != boot+1 || w.f.Seq != 0 || h.ResetCause != protocol.ResetSoftware || h.UID != testUID {
		t.Fatalf("after FAULT RESET: HELLO boot %d seq %d %+v, want boot %d seq 0 reset_cause software", w.f.Boot, w.f.Seq, h, boot+1)
	}
	if w := r.next(2 * time.Second); w.f.Type != protocol.TypeTelemetry || w.f.Seq != 0 || w.f.Boot != boot+1 {
		t.Fatalf("first telemetry after reset: %s boot %d seq %d", w.f.Type, w.f.Boot, w.f.Seq)
	}

	// FAULT STALL: after the RESPONSE the device is silent (at 20 ms it would send ~15 frames in
	// the window below, and would answer the PING); only a reset brings it back.
	command(t, p, 110, protocol.FaultCommand(protocol.FaultStall))
	response(t, r, 110, protocol.OpFault, protocol.StatusOK)
	command(t, p, 111, protocol.Command{Op: protocol.OpPing})
	r.got = nil
	silentUntil := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(silentUntil) {
		n, err := p.Read(r.buf[:])
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			t.Fatalf("stalled device sent %x", r.buf[:n])
		}
	}
	if err := (lines.ResetLine{Pin: m.ResetPin()}).Pulse(context.Background()); err != nil {
		t.Fatal(err)
	}
	w = r.nextOf(protocol.TypeHello, 5*time.Second)
	h, _ = protocol.ParseHello(w.f.Body)
	// QEMU has no RCC reset flags: a reset through the line is "unknown" there (pin on a board).
	if w.f.Boot != boot+2 || w.f.Seq != 0 || h.ResetCause != protocol.ResetUnknown {
		t.Fatalf("after the reset pulse: HELLO boot %d seq %d %+v, want boot %d seq 0 reset_cause unknown", w.f.Boot, w.f.Seq, h, boot+2)
	}
}

// TestNoUIDMailbox documents what the gateway sees from the firmware under QEMU when the rig does
// not program a UID: netduinoplus2 maps no UID ROM, so the UID is 24 zero digits.
func TestNoUIDMailbox(t *testing.T) {
	_, p := board(t, nil)
	r := &rx{t: t, p: p}
	w := r.next(5 * time.Second)
	h, err := protocol.ParseHello(w.f.Body)
	if err != nil || h.UID.String() != "000000000000000000000000" {
		t.Fatalf("HELLO %+v %v, want the zero UID", h, err)
	}
}

// TestResetLineRestartsFirmware pulses the rig's reset line (rig/lines over the QEMU monitor) while
// the real gateway reads the board: the gateway must see a new boot counter and the sequence
// restarted at 0, without counting a gap or a step back.
func TestResetLineRestartsFirmware(t *testing.T) {
	m, p := board(t, &testUID)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, broker.Config{PlainAddr: "127.0.0.1:0", AllowAnonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// Every record the gateway publishes, as the broker delivers it.
	var recMu sync.Mutex
	var records []telemetry.Record
	err = b.Server().Subscribe(telemetry.TopicPrefix+"/#", 7, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		var r telemetry.Record
		if err := json.Unmarshal(pk.Payload, &r); err == nil {
			recMu.Lock()
			records = append(records, r)
			recMu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{Link: p, BrokerURL: "tcp://" + b.PlainAddr(), QoS: 1, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	gctx, gcancel := context.WithCancel(ctx)
	gdone := make(chan error, 1)
	go func() { gdone <- gw.Run(gctx) }()
	defer func() {
		gcancel()
		if err := <-gdone; err != nil {
			t.Errorf("gateway: %v", err)
		}
	}()

	waitFor := func(what string, ok func(gateway.Stats) bool) gateway.Stats {
		t.Helper()
		for {
			st := gw.Stats()
			if ok(st) {
				return st
			}
			select {
			case <-ctx.Done():
				t.Fatalf("waiting for %s: %v (gateway stats %+v)", what, ctx.Err(), st)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	before := waitFor("telemetry", func(s gateway.Stats) bool { return s.Identity.Known && s.Telemetry >= 20 })
	ds, err := gw.DeviceStats(ctx)
	if err != nil {
		t.Fatal(err)
	}

	rec := &lines.Recorder{}
	if err := (lines.ResetLine{Pin: m.ResetPin(), Rec: rec}).Pulse(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Transitions()); n != 2 {
		t.Fatalf("%d transitions recorded, want low then high", n)
	}
	after := waitFor("the new boot's telemetry", func(s gateway.Stats) bool {
		return s.Reboots == 1 && s.Hellos == 2 && s.Telemetry >= before.Telemetry+5
	})
	if after.Identity.Boot != before.Identity.Boot+1 {
		t.Fatalf("boot %d after the reset, want %d", after.Identity.Boot, before.Identity.Boot+1)
	}
	// A reset that lands while a frame is on the wire cuts it short: the lone 0x00 the firmware
	// sends at boot ends it as one bad frame (PROTOCOL.md §4). More than one is a fault.
	var bad uint64
	for _, n := range after.BadFrames {
		bad += n
	}
	if after.SeqGaps != 0 || after.SeqBackwards != 0 || bad > 1 {
		t.Fatalf("gateway counted gaps %d, backwards %d, bad frames %v across the reset", after.SeqGaps, after.SeqBackwards, after.BadFrames)
	}
	ds2, err := gw.DeviceStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ds2.Boot != ds.Boot+1 {
		t.Fatalf("device STATS boot %d after the reset, want %d", ds2.Boot, ds.Boot+1)
	}
	// What reached the broker: each boot's sequence is 0, 1, 2, ... with nothing missing.
	waitFor("the records of the new boot", func(gateway.Stats) bool {
		recMu.Lock()
		defer recMu.Unlock()
		return len(records) > 0 && records[len(records)-1].Boot == ds2.Boot && records[len(records)-1].Seq >= 5
	})
	recMu.Lock()
	next := map[uint32]uint32{}
	for _, r := range records {
		if r.Device != testUID.String() {
			t.Errorf("record from device %q, want %s", r.Device, testUID)
		}
		if r.Seq != next[r.Boot] {
			t.Errorf("boot %d: seq %d, want %d", r.Boot, r.Seq, next[r.Boot])
		}
		next[r.Boot] = r.Seq + 1
	}
	recMu.Unlock()
	if len(next) != 2 || next[ds.Boot] < ds.TelemetrySent {
		t.Fatalf("records per boot %v, want boots %d (at least %d records) and %d", next, ds.Boot, ds.TelemetrySent, ds2.Boot)
	}
	t.Logf("boot %d → %d; records per boot %v", ds.Boot, ds2.Boot, next)
}
