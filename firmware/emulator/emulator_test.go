package emulator

import (
	"context"
	"runtime"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/link"
)

var testUID = protocol.UID{0x3f, 0x00, 0x27, 0x00, 0x0c, 0x51, 0x36, 0x30, 0x38, 0x33, 0x39, 0x34}

type rx struct {
	f   protocol.Frame
	err error
}

// host is a minimal gateway stand-in: it reads the link continuously (net.Pipe is synchronous)
// and hands decoded frames to the test.
type host struct {
	t      *testing.T
	port   link.Port
	frames chan rx
	nextID uint32
	rspSeq uint32 // header seq of the last response: the seq the next TELEMETRY will carry
}

func startHost(t *testing.T, ctx context.Context, port link.Port) *host {
	h := &host{t: t, port: port, frames: make(chan rx, 10000)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var dec protocol.Decoder
		buf := make([]byte, 256)
		for ctx.Err() == nil {
			n, err := port.Read(buf)
			if err != nil {
				return
			}
			dec.Feed(buf[:n], func(f protocol.Frame, err error) { h.frames <- rx{f, err} })
		}
	}()
	t.Cleanup(func() { <-done })
	return h
}

func (h *host) next(within time.Duration) rx {
	h.t.Helper()
	select {
	case r := <-h.frames:
		return r
	case <-time.After(within):
		h.t.Fatalf("no frame within %s", within)
		return rx{}
	}
}

// nextOK returns the next good frame, failing on a bad one.
func (h *host) nextOK() protocol.Frame {
	h.t.Helper()
	r := h.next(2 * time.Second)
	if r.err != nil {
		h.t.Fatalf("bad frame from the emulator: %v", r.err)
	}
	return r.f
}

// command sends a command and returns its response and the frames that arrived before it.
func (h *host) command(c protocol.Command) (protocol.Response, []protocol.Frame) {
	h.t.Helper()
	h.nextID++
	id := h.nextID
	wire, err := protocol.Encode(protocol.NewFrame(protocol.TypeCommand, 0, id, 0, c.Marshal()))
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.port.Write(wire); err != nil {
		h.t.Fatalf("write command: %v", err)
	}
	var before []protocol.Frame
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		f := h.nextOK()
		if f.Type == protocol.TypeResponse {
			r, err := protocol.ParseResponse(f.Body)
			if err != nil {
				h.t.Fatal(err)
			}
			if r.ReqSeq == id {
				h.rspSeq = f.Seq
				return r, before
			}
		}
		before = append(before, f)
	}
	h.t.Fatalf("no response to %s (id %d)", c.Op, id)
	return protocol.Response{}, nil
}

// checkNoLeaks fails if goroutines started by the test outlive it (a cheap goleak).
func checkNoLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Fatalf("%d goroutines leaked:\n%s", runtime.NumGoroutine()-before, buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// startDevice runs an emulator on an in-memory link and returns it with a host reading the link.
func startDevice(t *testing.T, cfg Config) (*Device, *host, context.CancelFunc) {
	checkNoLeaks(t)
	dev, port := link.NewPipe("pipe:" + cfg.UID.String())
	ctx, cancel := context.WithCancel(context.Background())
	d := New(cfg)
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx, dev) }()
	h := startHost(t, ctx, port)
	t.Cleanup(func() {
		cancel()
		if err := <-runErr; err != nil {
			t.Errorf("Run: %v", err)
		}
		dev.Close()
		port.Close()
	})
	return d, h, cancel
}

func TestBootHelloThenTelemetry(t *testing.T) {
	_, h, _ := startDevice(t, Config{UID: testUID, FW: protocol.FWVersion{Major: 1, Minor: 4, Patch: 2}, Boot: 41, Interval: 2 * time.Millisecond})
	f := h.nextOK()
	if f.Type != protocol.TypeHello || f.Boot != 41 || f.Seq != 0 {
		t.Fatalf("first frame %s boot %d seq %d, want HELLO boot 41 seq 0", f.Type, f.Boot, f.Seq)
	}
	hello, _ := protocol.ParseHello(f.Body)
	if hello.UID != testUID || hello.FW != (protocol.FWVersion{Major: 1, Minor: 4, Patch: 2}) || hello.ResetCause != protocol.ResetPowerOn {
		t.Fatalf("HELLO %+v", hello)
	}
	var lastTime uint32
	for want := uint32(0); want < 50; want++ {
		f := h.nextOK()
		if f.Type != protocol.TypeTelemetry || f.Boot != 41 || f.Seq != want {
			t.Fatalf("frame %s boot %d seq %d, want TELEMETRY boot 41 seq %d", f.Type, f.Boot, f.Seq, want)
		}
		if f.DeviceTimeMs < lastTime {
			t.Fatalf("device time went back: %d after %d", f.DeviceTimeMs, lastTime)
		}
		lastTime = f.DeviceTimeMs
	}
}

func TestCommands(t *testing.T) {
	d, h, _ := startDevice(t, Config{UID: testUID, FW: protocol.FWVersion{Major: 1}, Boot: 3, Interval: 5 * time.Millisecond})
	tests := []struct {
		name   string
		cmd    protocol.Command
		status protocol.Status
		check  func(t *testing.T, r protocol.Response)
	}{
		{"ping", protocol.Command{Op: protocol.OpPing}, protocol.StatusOK, nil},
		{"identify", protocol.Command{Op: protocol.OpIdentify}, protocol.StatusOK, func(t *testing.T, r protocol.Response) {
			id, err := protocol.ParseIdentity(r.Data)
			if err != nil || id.UID != testUID || id.FW != (protocol.FWVersion{Major: 1}) {
				t.Fatalf("identity %+v %v", id, err)
			}
		}},
		{"stats", protocol.Command{Op: protocol.OpStats}, protocol.StatusOK, func(t *testing.T, r protocol.Response) {
			st, err := protocol.ParseDeviceStats(r.Data)
			if err != nil || st.Boot != 3 || st.RxOK != 3 || st.RxBad != 0 {
				t.Fatalf("stats %+v %v, want boot 3, rx_ok 3 (this command included)", st, err)
			}
		}},
		{"unknown op", protocol.Command{Op: 0x7e}, protocol.StatusUnknownOp, nil},
		{"ping with args", protocol.Command{Op: protocol.OpPing, Args: []byte{1}}, protocol.StatusBadArgs, nil},
		{"set interval short args", protocol.Command{Op: protocol.OpSetInterval, Args: []byte{1}}, protocol.StatusBadArgs, nil},
		{"unknown fault code", protocol.FaultCommand(0x40), protocol.StatusBadArgs, nil},
		{"fault none", protocol.FaultCommand(protocol.FaultNone), protocol.StatusOK, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := h.command(tt.cmd)
			if r.Op != tt.cmd.Op || r.Status != tt.status {
				t.Fatalf("response op %s status %s, want %s %s", r.Op, r.Status, tt.cmd.Op, tt.status)
			}
			if r.Status != protocol.StatusOK && len(r.Data) != 0 {
				t.Fatalf("error response carries data %x", r.Data)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
	if st := d.Stats(); st.RxOK != uint32(len(tests)) || st.RxBad != 0 {
		t.Fatalf("device counted rx_ok %d rx_bad %d, want %d and 0", st.RxOK, st.RxBad, len(tests))
	}
}

// TestSetIntervalStopsAndResumes: after the response to SET_INTERVAL 0 no telemetry arrives; a
// later SET_INTERVAL resumes it where the sequence left off.
func TestSetIntervalStopsAndResumes(t *testing.T) {
	_, h, _ := startDevice(t, Config{UID: testUID, Interval: 2 * time.Millisecond})
	r, before := h.command(protocol.SetIntervalCommand(0))
	if r.Status != protocol.StatusOK {
		t.Fatalf("status %s", r.Status)
	}
	var next uint32
	for _, f := range before {
		if f.Type == protocol.TypeTelemetry {
			next = f.Seq + 1
		}
	}
	for range 3 {
		r, between := h.command(protocol.Command{Op: protocol.OpStats})
		for _, f := range between {
			if f.Type == protocol.TypeTelemetry {
				t.Fatalf("TELEMETRY seq %d after SET_INTERVAL 0", f.Seq)
			}
		}
		st, _ := protocol.ParseDeviceStats(r.Data)
		if st.TelemetrySent != next {
			t.Fatalf("telemetry_sent %d while stopped, want %d", st.TelemetrySent, next)
		}
	}
	h.command(protocol.SetIntervalCommand(1))
	for {
		f := h.nextOK()
		if f.Type == protocol.TypeTelemetry {
			if f.Seq != next {
				t.Fatalf("resumed at seq %d, want %d", f.Seq, next)
			}
			return
		}
	}
}

func TestResetPin(t *testing.T) {
	d, h, _ := startDevice(t, Config{UID: testUID, Boot: 10, Interval: 2 * time.Millisecond})
	pin := d.ResetPin()
	if h.nextOK().Type != protocol.TypeHello {
		t.Fatal("no HELLO at power on")
	}
	for h.nextOK().Seq < 5 {
	}
	if err := pin.Out(gpio.Low); err != nil {
		t.Fatal(err)
	}
	if pin.Read() != gpio.Low || !d.Stats().InReset {
		t.Fatal("device not in reset after Out(Low)")
	}
	sentBefore := d.Stats().TelemetrySent
	if err := pin.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	// Drain what was sent before the reset; then HELLO of boot 11 and seq from 0.
	for {
		f := h.nextOK()
		if f.Boot == 10 {
			continue
		}
		hello, _ := protocol.ParseHello(f.Body)
		if f.Type != protocol.TypeHello || f.Boot != 11 || f.Seq != 0 || hello.ResetCause != protocol.ResetPin {
			t.Fatalf("after reset: %s boot %d seq %d cause %s, want HELLO boot 11 seq 0 cause pin", f.Type, f.Boot, f.Seq, hello.ResetCause)
		}
		break
	}
	if f := h.nextOK(); f.Type != protocol.TypeTelemetry || f.Boot != 11 || f.Seq != 0 {
		t.Fatalf("first telemetry after reset: %s boot %d seq %d", f.Type, f.Boot, f.Seq)
	}
	st := d.Stats()
	if len(st.Boots) != 2 || st.Boots[0].Boot != 10 || st.Boots[0].TelemetrySent != sentBefore || st.Boots[1].Boot != 11 {
		t.Fatalf("boot history %+v, want boot 10 with %d sent, then boot 11", st.Boots, sentBefore)
	}
}

func TestFaults(t *testing.T) {
	d, h, _ := startDevice(t, Config{UID: testUID, Boot: 1, Interval: 2 * time.Millisecond})
	h.nextOK() // HELLO

	// CORRUPT_CRC: exactly one TELEMETRY is bad (reason crc) and its seq is missing afterwards.
	r, _ := h.command(protocol.FaultCommand(protocol.FaultCorruptCRC))
	if r.Status != protocol.StatusOK {
		t.Fatalf("status %s", r.Status)
	}
	corrupt := h.rspSeq
	got := h.next(2 * time.Second)
	if protocol.Reason(got.err) != protocol.ReasonCRC {
		t.Fatalf("after CORRUPT_CRC: got %+v, want a crc error", got)
	}
	if f := h.nextOK(); f.Type != protocol.TypeTelemetry || f.Seq != corrupt+1 {
		t.Fatalf("after the corrupt frame: %s seq %d, want TELEMETRY %d (seq %d consumed)", f.Type, f.Seq, corrupt+1, corrupt)
	}

	// RESET: response first, then HELLO of the next boot with cause software.
	r, _ = h.command(protocol.FaultCommand(protocol.FaultReset))
	if r.Status != protocol.StatusOK {
		t.Fatalf("status %s", r.Status)
	}
	for {
		f := h.nextOK()
		if f.Type == protocol.TypeHello {
			hello, _ := protocol.ParseHello(f.Body)
			if f.Boot != 2 || hello.ResetCause != protocol.ResetSoftware {
				t.Fatalf("HELLO boot %d cause %s, want boot 2 software", f.Boot, hello.ResetCause)
			}
			break
		}
	}

	// STALL: the response arrives, then nothing; the reset line recovers the device.
	r, _ = h.command(protocol.FaultCommand(protocol.FaultStall))
	if r.Status != protocol.StatusOK || !d.Stats().Stalled {
		t.Fatalf("status %s stalled %v", r.Status, d.Stats().Stalled)
	}
	sent := d.Stats().TelemetrySent
	d.ResetPin().Out(gpio.Low)
	d.ResetPin().Out(gpio.High)
	for {
		f := h.nextOK()
		if f.Type == protocol.TypeHello {
			if f.Boot != 3 {
				t.Fatalf("HELLO boot %d, want 3", f.Boot)
			}
			break
		}
		if f.Boot == 2 && f.Type == protocol.TypeTelemetry && f.Seq >= sent {
			t.Fatalf("telemetry seq %d sent while stalled", f.Seq)
		}
	}
}

// TestStallLiftedByFaultNone: FAULT NONE ends a stall without a reset. The stalled device cannot
// answer it (it sends nothing), but its telemetry resumes, at the period and without a burst.
func TestStallLiftedByFaultNone(t *testing.T) {
	d, h, _ := startDevice(t, Config{UID: testUID, Boot: 1, Interval: 5 * time.Millisecond})
	h.nextOK() // HELLO
	if r, _ := h.command(protocol.FaultCommand(protocol.FaultStall)); r.Status != protocol.StatusOK {
		t.Fatalf("STALL: status %s", r.Status)
	}
	sent := d.Stats().TelemetrySent
	time.Sleep(50 * time.Millisecond) // ten periods stalled
	wire, err := protocol.Encode(protocol.NewFrame(protocol.TypeCommand, 0, 99, 0, protocol.FaultCommand(protocol.FaultNone).Marshal()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.port.Write(wire); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Second); ; {
		if time.Now().After(deadline) {
			t.Fatalf("no telemetry within 2s of FAULT NONE (stalled %v)", d.Stats().Stalled)
		}
		got := h.next(time.Until(deadline))
		if got.err == nil && got.f.Type == protocol.TypeTelemetry {
			if got.f.Seq != sent {
				t.Fatalf("first telemetry after the stall has seq %d, want %d (a stalled device consumes no seq)", got.f.Seq, sent)
			}
			break
		}
	}
}

// TestBadInputCounted: garbage and frames a device does not accept count as rx_bad.
func TestBadInputCounted(t *testing.T) {
	_, h, _ := startDevice(t, Config{UID: testUID, Interval: 50 * time.Millisecond})
	h.port.Write([]byte{0xde, 0xad, 0x00}) // cobs
	tel, _ := protocol.Encode(protocol.NewFrame(protocol.TypeTelemetry, 0, 0, 0, make([]byte, 4)))
	h.port.Write(tel) // valid, wrong direction
	r, _ := h.command(protocol.Command{Op: protocol.OpStats})
	st, _ := protocol.ParseDeviceStats(r.Data)
	if st.RxBad != 2 || st.RxOK != 1 {
		t.Fatalf("rx_bad %d rx_ok %d, want 2 and 1", st.RxBad, st.RxOK)
	}
}

// TestRunOverPty runs the emulator on a real pty master and stops it by context: Run returns
// nil promptly and no goroutine outlives it.
func TestRunOverPty(t *testing.T) {
	checkNoLeaks(t)
	pp, err := link.NewPtyPair()
	if err != nil {
		t.Fatal(err)
	}
	defer pp.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	port, err := link.OpenSerial(ctx, pp.Path(), 115200)
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	runCtx, stop := context.WithCancel(ctx)
	d := New(Config{UID: testUID, Interval: time.Millisecond})
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(runCtx, pp.Device()) }()
	h := startHost(t, runCtx, port)
	if f := h.nextOK(); f.Type != protocol.TypeHello {
		t.Fatalf("first frame %s", f.Type)
	}
	for want := uint32(0); want < 20; want++ {
		if f := h.nextOK(); f.Seq != want {
			t.Fatalf("seq %d, want %d", f.Seq, want)
		}
	}
	stop()
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// TestPowerCycle: a second Run is a power cycle.
func TestPowerCycle(t *testing.T) {
	checkNoLeaks(t)
	d := New(Config{UID: testUID, Boot: 5})
	for i, want := range []uint32{5, 6} {
		dev, port := link.NewPipe("pipe")
		ctx, cancel := context.WithCancel(context.Background())
		runErr := make(chan error, 1)
		go func() { runErr <- d.Run(ctx, dev) }()
		h := startHost(t, ctx, port)
		f := h.nextOK()
		hello, _ := protocol.ParseHello(f.Body)
		if f.Boot != want || hello.ResetCause != protocol.ResetPowerOn {
			t.Fatalf("run %d: HELLO boot %d cause %s, want %d power_on", i, f.Boot, hello.ResetCause, want)
		}
		cancel()
		if err := <-runErr; err != nil {
			t.Fatal(err)
		}
		dev.Close()
		port.Close()
	}
}

func TestRunTwiceConcurrently(t *testing.T) {
	checkNoLeaks(t)
	d := New(Config{UID: testUID})
	dev, port := link.NewPipe("pipe")
	defer dev.Close()
	defer port.Close()
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx, dev) }()
	h := startHost(t, ctx, port)
	h.nextOK()
	if err := d.Run(ctx, dev); err == nil {
		t.Fatalf("second concurrent Run: %v, want an error", err)
	}
	cancel()
	<-runErr
}
