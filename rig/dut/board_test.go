package dut_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pathrig/rig/firmware/emulator"
	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/dut"
	"github.com/pathrig/rig/rig/lines"
	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/relay"
	"github.com/pathrig/rig/rig/scenario"
	"periph.io/x/conn/v3/gpio"
)

// devName is the device's id, its UID as 24 hex digits, as the stack names devices.
const devName = "303030313233343536373839"

var (
	testUID, _ = protocol.ParseUID(devName)
	testFW     = protocol.FWVersion{Major: 2, Minor: 0, Patch: 7}
)

// board is a fake dut.Driver: the Go emulator as a board on the bench, its UART a pty whose tty
// side PowerOn opens by path through go.bug.st/serial, its NRST and supply the emulator's pins.
// Set the exported fields to make a call fail.
type board struct {
	Emu         *emulator.Device
	PowerOnErr  error // PowerOn fails
	PowerOffErr error // PowerOff fails
	ResetErr    error // NRST cannot be driven
	NoReset     bool  // the kind has no NRST
	KeepRunning bool  // Close leaves the board running, as a board on the bench

	pp *link.PtyPair

	mu      sync.Mutex
	calls   []string
	port    link.Port
	running bool
	cancel  context.CancelFunc
	done    chan error
}

func newBoard(t *testing.T, boot uint32, interval time.Duration) *board {
	t.Helper()
	pp, err := link.NewPtyPair()
	if err != nil {
		t.Fatal(err)
	}
	b := &board{Emu: emulator.New(emulator.Config{UID: testUID, FW: testFW, Boot: boot, Interval: interval}), pp: pp}
	t.Cleanup(func() {
		b.stop(t)
		pp.Close()
	})
	return b
}

func (b *board) record(call string) {
	b.mu.Lock()
	b.calls = append(b.calls, call)
	b.mu.Unlock()
}

// Calls lists the driver's calls so far.
func (b *board) Calls() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.calls)
}

func (b *board) PowerOn(ctx context.Context) (link.Port, error) {
	b.record("power on")
	if b.PowerOnErr != nil {
		return nil, b.PowerOnErr
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.running {
		rctx, cancel := context.WithCancel(context.Background())
		b.cancel, b.done, b.running = cancel, make(chan error, 1), true
		go func() { b.done <- b.Emu.Run(rctx, b.pp.Device()) }()
	} else if err := b.Emu.PowerPin().Out(gpio.High); err != nil {
		return nil, err
	}
	if b.port == nil {
		p, err := link.OpenSerial(ctx, b.pp.Path(), 115200)
		if err != nil {
			return nil, err
		}
		b.port = p
	}
	return b.port, nil
}

func (b *board) PowerOff(ctx context.Context) error {
	b.record("power off")
	if b.PowerOffErr != nil {
		return b.PowerOffErr
	}
	return b.Emu.PowerPin().Out(gpio.Low)
}

func (b *board) Reset() *lines.ResetLine {
	if b.NoReset {
		return nil
	}
	return &lines.ResetLine{Name: "reset", Pin: &flakyPin{ResetPin: b.Emu.ResetPin(), b: b}}
}

func (b *board) Close() error {
	b.record("close")
	if !b.KeepRunning {
		b.stop(nil)
	}
	return nil
}

func (b *board) stop(t *testing.T) {
	b.mu.Lock()
	running, cancel, done := b.running, b.cancel, b.done
	b.running = false
	b.mu.Unlock()
	if !running {
		return
	}
	cancel()
	if err := <-done; err != nil && t != nil {
		t.Errorf("emulator: %v", err)
	}
}

// flakyPin is the emulator's NRST failing with board.ResetErr when it is set.
type flakyPin struct {
	*emulator.ResetPin
	b *board
}

func (p *flakyPin) Out(l gpio.Level) error {
	if p.b.ResetErr != nil {
		return p.b.ResetErr
	}
	return p.ResetPin.Out(l)
}

// gateway reads the relay's host side as the gateway does and answers its own session.
type gateway struct {
	port link.Port
	sess protocol.Session
	mu   sync.Mutex
	tel  []protocol.Frame
	done chan struct{}
}

func startGateway(t *testing.T, port link.Port) *gateway {
	t.Helper()
	g := &gateway{port: port, done: make(chan struct{})}
	g.sess = protocol.Session{Name: port.Name(), Write: func(b []byte) error { _, err := port.Write(b); return err }}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(g.done)
		var dec protocol.Decoder
		buf := make([]byte, 1024)
		for ctx.Err() == nil {
			n, err := port.Read(buf) // (0, nil) is the read timeout
			dec.Feed(buf[:n], func(f protocol.Frame, err error) {
				switch {
				case err != nil:
				case f.Type == protocol.TypeResponse:
					if rsp, err := protocol.ParseResponse(f.Body); err == nil {
						g.sess.Deliver(rsp)
					}
				case f.Type == protocol.TypeTelemetry:
					g.mu.Lock()
					g.tel = append(g.tel, f)
					g.mu.Unlock()
				}
			})
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-g.done })
	return g
}

// telemetryAfter returns the TELEMETRY frames decoded after the first n.
func (g *gateway) telemetryAfter(n int) []protocol.Frame {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n >= len(g.tel) {
		return nil
	}
	return slices.Clone(g.tel[n:])
}

// testDevice is a dut.Device over a board, its relay's host side read by a gateway.
type testDevice struct {
	*dut.Device
	gw     *gateway
	closed bool
}

func newDevice(t *testing.T, b *board) *testDevice {
	t.Helper()
	return newDeviceClock(t, b, nil)
}

// newDeviceClock is newDevice with the relay on clock now (nil: time.Now).
func newDeviceClock(t *testing.T, b *board, now func() time.Time) *testDevice {
	t.Helper()
	host := relay.NewPipeHost("gateway:" + devName)
	r := relay.New(relay.Config{Name: devName, Host: host, Seed: 1, Now: now})
	d := &testDevice{Device: dut.New(devName, b, r, dut.Spec{Device: scenario.Device{Kind: "fake", UID: devName}})}
	d.gw = startGateway(t, host.Port())
	t.Cleanup(func() {
		if !d.closed {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := d.Close(ctx); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})
	return d
}

func (d *testDevice) Close(ctx context.Context) error {
	d.closed = true
	return d.Device.Close(ctx)
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// openPort opens the board's UART afresh, as another host would after the rig let go of it.
func openPort(ctx context.Context, b *board) (link.Port, error) {
	return link.OpenSerial(ctx, b.pp.Path(), 115200)
}
