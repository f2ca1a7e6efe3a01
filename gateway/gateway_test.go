package gateway

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pathrig/rig/firmware/emulator"
	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/lines"
	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/telemetry"
)

var testUID = protocol.UID{0x3f, 0x00, 0x27, 0x00, 0x0c, 0x51, 0x36, 0x30, 0x38, 0x33, 0x39, 0x34}

// testLog discards unless RIG_TEST_LOG is set: goroutines of paho may log after a test ends.
func testLog() *slog.Logger {
	if os.Getenv("RIG_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// checkNoLeaks fails if goroutines started by the test outlive it (a cheap goleak).
func checkNoLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("%d goroutines leaked:\n%s", runtime.NumGoroutine()-before, buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// allowAll lets every client connect, publish and subscribe. (mochi's hooks/auth.AllowHook would
// do, but that package pulls a YAML library into the module for a test.)
type allowAll struct{ mochi.HookBase }

func (h *allowAll) ID() string { return "allow-all" }
func (h *allowAll) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}
func (h *allowAll) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool { return true }
func (h *allowAll) OnACLCheck(*mochi.Client, string, bool) bool              { return true }

// startBroker runs a real mochi broker on an ephemeral loopback port and returns its address.
func startBroker(t *testing.T) string {
	t.Helper()
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(allowAll), nil); err != nil {
		t.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := srv.AddListener(l); err != nil {
		t.Fatalf("broker listen: %v", err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return l.Address()
}

// subscribe connects a paho client and returns the telemetry records it receives.
func subscribe(t *testing.T, addr string) <-chan telemetry.Record {
	t.Helper()
	recs := make(chan telemetry.Record, 100000)
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("sub-" + t.Name()).SetAutoReconnect(false)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	tok := c.Subscribe(telemetry.Topic(telemetry.TopicPrefix, "+"), 1, func(_ mqtt.Client, m mqtt.Message) {
		var r telemetry.Record
		if err := json.Unmarshal(m.Payload(), &r); err != nil {
			t.Errorf("record on %s: %v: %s", m.Topic(), err, m.Payload())
			return
		}
		if m.Topic() != telemetry.Topic(telemetry.TopicPrefix, r.Device) {
			t.Errorf("record of %s on topic %s", r.Device, m.Topic())
		}
		recs <- r
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return recs
}

// bench is one emulated device on a real pty, a gateway on the tty through go.bug.st/serial,
// a mochi broker and a paho subscriber.
type bench struct {
	dev    *emulator.Device
	pty    *link.PtyPair
	gw     *Gateway
	recs   <-chan telemetry.Record
	cancel context.CancelFunc
	runErr chan error
}

func startBench(t *testing.T, boot uint32, interval time.Duration) *bench {
	t.Helper()
	checkNoLeaks(t)
	addr := startBroker(t)
	recs := subscribe(t, addr)
	pp, err := link.NewPtyPair()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pp.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	dev := emulator.New(emulator.Config{UID: testUID, FW: protocol.FWVersion{Major: 1, Minor: 2, Patch: 3}, Boot: boot, Interval: interval, Log: testLog()})
	devErr := make(chan error, 1)
	go func() { devErr <- dev.Run(ctx, pp.Device()) }()
	gw, err := New(Config{Port: pp.Path(), Baud: 115200, BrokerURL: "tcp://" + addr, QoS: 1, Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{dev: dev, pty: pp, gw: gw, recs: recs, cancel: cancel, runErr: make(chan error, 1)}
	go func() { b.runErr <- gw.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-b.runErr; err != nil {
			t.Errorf("gateway Run: %v", err)
		}
		if err := <-devErr; err != nil {
			t.Errorf("emulator Run: %v", err)
		}
		// Every TELEMETRY frame the gateway decoded is accounted for exactly once.
		s := gw.Stats()
		if sum := s.Published + s.PublishErrors + s.PublishTimeouts + s.QueueDropped + s.Unpublished; sum != s.Telemetry {
			t.Errorf("accounting: telemetry %d != published %d + errors %d + timeouts %d + dropped %d + unpublished %d",
				s.Telemetry, s.Published, s.PublishErrors, s.PublishTimeouts, s.QueueDropped, s.Unpublished)
		}
	})
	return b
}

// next returns the next record, failing after within.
func (b *bench) next(t *testing.T, within time.Duration) telemetry.Record {
	t.Helper()
	select {
	case r := <-b.recs:
		return r
	case <-time.After(within):
		t.Fatalf("no telemetry record within %s; gateway stats %+v", within, b.gw.Stats())
		return telemetry.Record{}
	}
}

// expectRun reads records and checks they are boot's seq from..to-1, consecutive.
func (b *bench) expectRun(t *testing.T, boot, from, to uint32) {
	t.Helper()
	for want := from; want < to; want++ {
		r := b.next(t, 5*time.Second)
		if r.Boot != boot || r.Seq != want {
			t.Fatalf("record boot %d seq %d, want boot %d seq %d (loss, duplicate or reorder)", r.Boot, r.Seq, boot, want)
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTelemetryEndToEnd: emulator → real pty → go.bug.st/serial → gateway → mochi → paho, with
// consecutive seq numbers and zero loss.
func TestTelemetryEndToEnd(t *testing.T) {
	const n = 300
	b := startBench(t, 100, 2*time.Millisecond)
	first := b.next(t, 5*time.Second)
	if err := first.Validate(); err != nil {
		t.Fatalf("record: %v", err)
	}
	if first.Device != testUID.String() || first.Boot != 100 || first.Seq != 0 {
		t.Fatalf("first record %+v, want device %s boot 100 seq 0", first, testUID)
	}
	b.expectRun(t, 100, 1, n)
	uid, fw, boot, ok := b.gw.Identity()
	if !ok || uid != testUID.String() || fw != "1.2.3" || boot != 100 {
		t.Fatalf("Identity() = %q %q %d %v", uid, fw, boot, ok)
	}
	// The subscriber can get a message before the gateway has processed its PUBACK.
	waitFor(t, "PUBACKs of every record", 5*time.Second, func() bool { return b.gw.Stats().Published >= n })
	s := b.gw.Stats()
	if len(s.BadFrames) != 0 || s.SeqGaps != 0 || s.SeqBackwards != 0 || s.Hellos != 1 || s.PublishErrors != 0 || !s.Connected {
		t.Fatalf("gateway stats %+v", s)
	}
}

// TestGarbageOnTheLine writes garbage and corrupt frames on the device side of the pty between the
// emulator's frames (each frame is one write(2), and tty writes do not interleave): each is
// counted under its reason and skipped, and the good frames keep flowing with no loss.
func TestGarbageOnTheLine(t *testing.T) {
	b := startBench(t, 7, 2*time.Millisecond)
	b.expectRun(t, 7, 0, 20)

	enc := func(f protocol.Frame) []byte {
		w, err := protocol.Encode(f)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	tel := protocol.Telemetry{TempCentiC: 1, SupplyMv: 2}.Marshal()
	badCRC, _ := protocol.EncodeBadCRC(protocol.NewFrame(protocol.TypeTelemetry, 7, 9999, 0, tel))
	wrongVersion := protocol.NewFrame(protocol.TypeTelemetry, 7, 9999, 0, tel)
	wrongVersion.Version = 2
	injections := []struct {
		reason string
		wire   []byte
	}{
		{protocol.ReasonCOBS, []byte{0xde, 0xad, 0xbe, 0xef, 0x00}},
		{protocol.ReasonCRC, badCRC},
		{protocol.ReasonTooLong, append([]byte(strings.Repeat("A", 300)), 0)},
		{protocol.ReasonTooShort, []byte{0x02, 0x01, 0x00}},
		{protocol.ReasonVersion, enc(wrongVersion)},
		{protocol.ReasonType, enc(protocol.NewFrame(0x03, 7, 9999, 0, tel))},
		{protocol.ReasonBodyLength, enc(protocol.NewFrame(protocol.TypeTelemetry, 7, 9999, 0, append(tel, 0)))},
	}
	want := map[string]uint64{}
	for range 3 {
		for _, inj := range injections {
			if _, err := b.pty.Device().Write(inj.wire); err != nil {
				t.Fatalf("inject %s: %v", inj.reason, err)
			}
			want[inj.reason]++
		}
	}
	waitFor(t, "bad frames counted by reason", 5*time.Second, func() bool {
		got := b.gw.Stats().BadFrames
		for r, n := range want {
			if got[r] != n {
				return false
			}
		}
		return len(got) == len(want)
	})
	b.expectRun(t, 7, 20, 200)
	s := b.gw.Stats()
	if s.SeqGaps != 0 || s.SeqBackwards != 0 || s.Telemetry < 200 {
		t.Fatalf("gateway stats after garbage %+v", s)
	}
	for r, n := range want {
		if s.BadFrames[r] != n {
			t.Errorf("bad frames %s: %d, want %d", r, s.BadFrames[r], n)
		}
	}
}

// TestResetLine pulses the emulator's NRST through rig/lines: the gateway sees HELLO of boot+1
// and telemetry restarting at seq 0, with nothing lost before or after.
func TestResetLine(t *testing.T) {
	b := startBench(t, 41, 2*time.Millisecond)
	b.expectRun(t, 41, 0, 10)
	rec := &lines.Recorder{}
	reset := lines.ResetLine{Pin: b.dev.ResetPin(), Hold: 5 * time.Millisecond, Rec: rec}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := reset.Pulse(ctx); err != nil {
		t.Fatal(err)
	}
	if tr := rec.Transitions(); len(tr) != 2 {
		t.Fatalf("recorded transitions %+v", tr)
	}
	sentBoot41 := b.dev.Stats().Boots[0].TelemetrySent
	b.expectRun(t, 41, 10, sentBoot41)
	b.expectRun(t, 42, 0, 50)
	waitFor(t, "identity boot 42", 2*time.Second, func() bool { _, _, boot, _ := b.gw.Identity(); return boot == 42 })
	s := b.gw.Stats()
	if s.Hellos != 2 || s.Reboots != 1 || s.SeqGaps != 0 || len(s.BadFrames) != 0 {
		t.Fatalf("gateway stats after reset %+v", s)
	}
}

// TestCommands reads device STATS and friends through the gateway over the pty.
func TestCommands(t *testing.T) {
	b := startBench(t, 3, 5*time.Millisecond)
	b.expectRun(t, 3, 0, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := b.gw.DeviceStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Boot != 3 || st.TelemetrySent < 5 || st.RxOK < 1 || st.RxBad != 0 {
		t.Fatalf("device stats %+v", st)
	}
	if _, err := b.gw.Command(ctx, protocol.OpPing, nil); err != nil {
		t.Fatalf("PING: %v", err)
	}
	r, err := b.gw.Command(ctx, 0x7e, nil)
	var ce *CommandError
	if !errors.As(err, &ce) || ce.Status != protocol.StatusUnknownOp || r.Status != protocol.StatusUnknownOp {
		t.Fatalf("unknown op: %+v, %v", r, err)
	}
	if _, err := b.gw.Command(ctx, protocol.OpSetInterval, []byte{0x00, 0x00}); err != nil {
		t.Fatalf("SET_INTERVAL 0: %v", err)
	}
}

// TestIdentifyWhenHelloMissed: the gateway starts after the device's HELLO went nowhere (over
// the in-memory link a fleet uses), so it learns the identity with IDENTIFY.
func TestIdentifyWhenHelloMissed(t *testing.T) {
	checkNoLeaks(t)
	addr := startBroker(t)
	recs := subscribe(t, addr)
	devSide, host := link.NewPipe("pipe:dev0")
	defer devSide.Close()
	defer host.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dev := emulator.New(emulator.Config{UID: testUID, Boot: 9, Interval: 2 * time.Millisecond, WriteTimeout: time.Millisecond})
	devErr := make(chan error, 1)
	go func() { devErr <- dev.Run(ctx, devSide) }()
	waitFor(t, "the device to send into the void", 2*time.Second, func() bool { return dev.Stats().TelemetrySent > 3 })

	gw, err := New(Config{Link: host, BrokerURL: "tcp://" + addr, QoS: 1, IdentifyTimeout: 20 * time.Millisecond, Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- gw.Run(ctx) }()
	select {
	case r := <-recs:
		if r.Device != testUID.String() || r.Boot != 9 {
			t.Fatalf("record %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no record; stats %+v", gw.Stats())
	}
	if s := gw.Stats(); s.Hellos != 0 || !s.Identity.Known || s.Identity.FW != "0.0.0" {
		t.Fatalf("stats %+v: want identity from IDENTIFY, no HELLO", s)
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
	<-devErr
}

// TestNoBroker: with the broker unreachable the gateway keeps reading and retrying, stops
// promptly on cancel, and accounts every frame as unpublished or dropped.
func TestNoBroker(t *testing.T) {
	checkNoLeaks(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	devSide, host := link.NewPipe("pipe:dev0")
	defer devSide.Close()
	defer host.Close()
	ctx, cancel := context.WithCancel(context.Background())
	dev := emulator.New(emulator.Config{UID: testUID, Interval: time.Millisecond})
	devErr := make(chan error, 1)
	go func() { devErr <- dev.Run(ctx, devSide) }()
	gw, err := New(Config{Link: host, BrokerURL: "tcp://" + addr, QoS: 1, ConnectTimeout: 200 * time.Millisecond, QueueSize: 16, Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- gw.Run(ctx) }()
	waitFor(t, "telemetry read while the broker is down", 5*time.Second, func() bool { return gw.Stats().Telemetry > 40 })
	cancel()
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	<-devErr
	s := gw.Stats()
	if s.Published != 0 || s.QueueDropped == 0 || s.QueueDropped+s.Unpublished != s.Telemetry {
		t.Fatalf("stats %+v: want every frame dropped or unpublished", s)
	}
}

func TestRunPortError(t *testing.T) {
	gw, err := New(Config{Port: "/dev/rig-no-such-tty", BrokerURL: "tcp://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	err = gw.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "/dev/rig-no-such-tty") || !strings.Contains(err.Error(), "check the path") {
		t.Fatalf("Run: %v", err)
	}
	if _, err := gw.Command(context.Background(), protocol.OpPing, nil); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Command before Run: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no port", Config{BrokerURL: "tcp://127.0.0.1:1883"}, "no serial port"},
		{"no broker", Config{Port: "/dev/ttyAMA0"}, "no broker"},
		{"bad scheme", Config{Port: "/dev/ttyAMA0", BrokerURL: "http://b:1883"}, `scheme "http"`},
		{"no host", Config{Port: "/dev/ttyAMA0", BrokerURL: "b:1883"}, "want scheme://host:port"},
		{"TLS on plaintext", Config{Port: "/dev/ttyAMA0", BrokerURL: "tcp://b:1883", TLS: &tls.Config{}}, "use ssl://"},
		{"qos 3", Config{Port: "/dev/ttyAMA0", BrokerURL: "tcp://b:1883", QoS: 3}, "QoS 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error saying %q", err, tt.want)
			}
		})
	}
	g, err := New(Config{Port: "/dev/ttyAMA0", BrokerURL: "ssl://b:8883"})
	if err != nil || g.cfg.TLS == nil || g.cfg.TopicPrefix != telemetry.TopicPrefix || g.cfg.Baud != DefaultBaud {
		t.Fatalf("defaults: %+v %v", g, err)
	}
}
