package gateway

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/pathrig/rig/firmware/emulator"
	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/link"
)

// errKilled is what the test hook fails a commit with: the frames stay read, not committed, as
// when a SIGKILL lands while the commit is under way.
var errKilled = errors.New("killed before the commit")

// replayBench is one emulated device on a real pty, a broker and a subscriber; gateways on one
// spool file come and go on the tty, as the gateway process does across a crash.
type replayBench struct {
	t     *testing.T
	dev   *emulator.Device
	pty   *link.PtyPair
	spool string
	addr  string
	log   *slog.Logger

	mu   sync.Mutex
	seen map[uint32]map[uint32]int // boot → seq → records delivered
}

func newReplayBench(t *testing.T, cfg emulator.Config) *replayBench {
	t.Helper()
	checkNoLeaks(t)
	b := &replayBench{t: t, spool: filepath.Join(t.TempDir(), "spool.db"), addr: startBroker(t), log: testLog(), seen: map[uint32]map[uint32]int{}}
	recs := subscribe(t, b.addr)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case r := <-recs:
				b.mu.Lock()
				if b.seen[r.Boot] == nil {
					b.seen[r.Boot] = map[uint32]int{}
				}
				b.seen[r.Boot][r.Seq]++
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	pp, err := link.NewPtyPair()
	if err != nil {
		t.Fatal(err)
	}
	b.pty = pp
	if cfg.Interval == 0 {
		cfg.Interval = 20 * time.Millisecond // the ring of 64 then spans 1.28 s
	}
	cfg.UID, cfg.Log = testUID, b.log
	b.dev = emulator.New(cfg)
	t.Cleanup(func() { pp.Close() })
	return b
}

// startDevice powers the device on; call it once a gateway holds the tty, so HELLO and seq 0 are read.
func (b *replayBench) startDevice() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.dev.Run(ctx, b.pty.Device()) }()
	b.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.t.Errorf("emulator: %v", err)
		}
	})
}

// gateway is one gateway process's life on the spool.
type gateway struct {
	*Gateway
	cancel context.CancelFunc
	done   chan error
}

// start runs a gateway on the bench's tty and spool; hook, when set, runs before each commit.
func (b *replayBench) start(hook func([]spooled) error) *gateway {
	b.t.Helper()
	gw, err := New(Config{Port: b.pty.Path(), BrokerURL: "tcp://" + b.addr, QoS: 1, SpoolPath: b.spool,
		IdentifyTimeout: 50 * time.Millisecond, Log: b.log})
	if err != nil {
		b.t.Fatal(err)
	}
	gw.spoolHook = hook
	ctx, cancel := context.WithCancel(context.Background())
	g := &gateway{Gateway: gw, cancel: cancel, done: make(chan error, 1)}
	go func() { g.done <- gw.Run(ctx) }()
	waitFor(b.t, "the gateway to open the tty", 5*time.Second, func() bool {
		gw.mu.Lock()
		defer gw.mu.Unlock()
		return gw.port != nil
	})
	return g
}

// stop ends the gateway as the kill would: what it read and did not commit is gone with it.
func (g *gateway) stop(t *testing.T) Stats {
	t.Helper()
	g.cancel()
	if err := <-g.done; err != nil {
		t.Fatalf("gateway Run: %v", err)
	}
	return g.Stats()
}

// failAfter is a commit hook failing every commit that holds a frame of boot past seq n.
func failAfter(boot, n uint32) func([]spooled) error {
	return func(items []spooled) error {
		for _, it := range items {
			if it.boot == boot && it.seq > n {
				return errKilled
			}
		}
		return nil
	}
}

// waitAll waits until the broker delivered every seq of boot from 0 up to the device's count
// at the call plus more, and returns that bound.
func (b *replayBench) waitAll(boot uint32, more uint32) uint32 {
	b.t.Helper()
	end := b.dev.Stats().TelemetrySent + more
	waitFor(b.t, "every seq at the broker", 15*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		for s := uint32(0); s < end; s++ {
			if b.seen[boot][s] == 0 {
				return false
			}
		}
		return true
	})
	return end
}

func (b *replayBench) missing(boot, end uint32) []uint32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []uint32
	for s := uint32(0); s < end; s++ {
		if b.seen[boot][s] == 0 {
			out = append(out, s)
		}
	}
	return out
}

// markOf opens the spool file (no gateway holds it) and returns the device's mark.
func (b *replayBench) markOf() (mark, bool) {
	b.t.Helper()
	sp, err := openSpool(b.spool, DefaultSpoolMax)
	if err != nil {
		b.t.Fatal(err)
	}
	defer sp.close()
	return sp.markOf(testUID.String())
}

// TestReplayRecoversUncommitted: a gateway reads frames off the tty and is killed before it
// commits those after seq 20 (the commit hook fails them); a fresh gateway on the same spool file
// asks the device to REPLAY from the spool's mark, and the broker ends up with every seq: the
// frames read but never committed, and those sent while no gateway ran.
func TestReplayRecoversUncommitted(t *testing.T) {
	const boot, n = 3, 20
	b := newReplayBench(t, emulator.Config{Boot: boot})
	first := b.start(failAfter(boot, n))
	b.startDevice()
	waitFor(t, "frames past the last commit read", 5*time.Second, func() bool { return first.Stats().Telemetry >= n+10 })
	s1 := first.stop(t)
	// A read may bring seq n with n+1: the whole commit fails, so the last one committed is ≤ n.
	if s1.Spooled == 0 || s1.Spooled > n+1 || s1.ReplayRequests != 0 || s1.SpoolErrors == 0 {
		t.Fatalf("first gateway (fresh spool) %+v: want seqs 0..≤%d spooled, later commits failing, no replay (no mark)", s1, n)
	}
	if m, ok := b.markOf(); !ok || m != (mark{Device: testUID.String(), Boot: boot, Seq: uint32(s1.Spooled) - 1}) {
		t.Fatalf("spool mark %+v %v after the kill, want boot %d seq %d (the last frame committed)", m, ok, boot, s1.Spooled-1)
	}

	second := b.start(nil)
	end := b.waitAll(boot, 20)
	s2 := second.stop(t)
	if s2.ReplayRequests != 1 || s2.Replayed < s1.Telemetry-s1.Spooled || s2.Replayed > protocol.ReplayDepth {
		t.Fatalf("second gateway %+v: want one REPLAY announcing at least the %d frames read but not committed", s2, s1.Telemetry-s1.Spooled)
	}
	if s2.SeqBackwards != 0 || s2.SeqGaps != 0 {
		t.Fatalf("second gateway counted the replay as gaps %d / steps back %d", s2.SeqGaps, s2.SeqBackwards)
	}
	if d := b.dev.Stats(); d.Replayed != s2.Replayed {
		t.Fatalf("device replayed %d frames, gateway counted %d announced", d.Replayed, s2.Replayed)
	}
	if m, ok := b.markOf(); !ok || m.Boot != boot || m.Seq < end-1 {
		t.Fatalf("spool mark %+v %v after the second gateway, want boot %d seq ≥ %d", m, ok, boot, end-1)
	}
	t.Logf("first gateway read %d, committed %d; second replayed %d; seqs 0..%d all at the broker", s1.Telemetry, s1.Spooled, s2.Replayed, end-1)
}

// TestReplayMarkHeldUntilReplayed: the gateway after a kill commits what it reads from its start
// but holds the spool's mark until the replayed frames are committed too. Killed in between, it
// leaves the mark where it was, so the next gateway asks again and nothing is lost.
func TestReplayMarkHeldUntilReplayed(t *testing.T) {
	const boot, n = 5, 15
	b := newReplayBench(t, emulator.Config{Boot: boot})
	first := b.start(failAfter(boot, n))
	b.startDevice()
	waitFor(t, "frames past the last commit read", 5*time.Second, func() bool { return first.Stats().Telemetry >= n+5 })
	first.stop(t)
	m1, ok := b.markOf()
	if !ok || m1.Boot != boot || m1.Seq > n {
		t.Fatalf("spool mark %+v %v after the first gateway, want boot %d seq ≤ %d", m1, ok, boot, n)
	}
	// The second gateway commits the frames it reads after its start, then is killed as the
	// replayed ones come (older seqs than it committed): from then on no commit succeeds. A few
	// frames wait in the tty when it starts, so some are committed before the replay comes.
	time.Sleep(100 * time.Millisecond)
	var mu sync.Mutex
	var top uint32
	var committed, killed bool
	second := b.start(func(items []spooled) error {
		mu.Lock()
		defer mu.Unlock()
		for _, it := range items {
			if killed || committed && it.seq < top {
				killed = true
				return errKilled
			}
		}
		for _, it := range items {
			top, committed = max(top, it.seq), true
		}
		return nil
	})
	waitFor(t, "the replay announced and frames after it read", 5*time.Second, func() bool {
		s := second.Stats()
		return s.Replayed > 0 && s.Spooled > 0 && s.Telemetry >= s.Replayed+10
	})
	s2 := second.stop(t)
	if m, _ := b.markOf(); m != m1 || s2.Spooled == 0 {
		t.Fatalf("spool mark %+v after a gateway that committed %d frames read after its start but not its replay; want it held at %+v", m, s2.Spooled, m1)
	}
	third := b.start(nil)
	end := b.waitAll(boot, 10)
	s3 := third.stop(t)
	if s3.ReplayRequests != 1 || s3.Replayed == 0 {
		t.Fatalf("third gateway %+v: want a replay from seq %d", s3, m1.Seq+1)
	}
	if miss := b.missing(boot, end); len(miss) > 0 {
		t.Fatalf("seqs %v never reached the broker", miss)
	}
}

// TestReplayOnlyInTheMarksBoot: after the device rebooted, the spool's mark is of a boot whose
// frames the device no longer holds: no REPLAY, and the mark moves on to the new boot.
func TestReplayOnlyInTheMarksBoot(t *testing.T) {
	b := newReplayBench(t, emulator.Config{Boot: 8})
	first := b.start(nil)
	b.startDevice()
	waitFor(t, "frames committed", 5*time.Second, func() bool { return first.Stats().Spooled >= 10 })
	first.stop(t)
	pin := b.dev.ResetPin()
	if err := pin.Out(gpio.Low); err != nil {
		t.Fatal(err)
	}
	if err := pin.Out(gpio.High); err != nil { // boot 9: its HELLO waits in the tty for the next gateway
		t.Fatal(err)
	}
	second := b.start(nil)
	waitFor(t, "boot 9 committed", 5*time.Second, func() bool {
		s := second.Stats()
		return s.Identity.Boot == 9 && s.Spooled >= 10
	})
	s2 := second.stop(t)
	if s2.ReplayRequests != 0 || s2.Replayed != 0 {
		t.Fatalf("gateway after a reboot %+v: want no replay (the mark is of boot 8)", s2)
	}
	if m, _ := b.markOf(); m.Boot != 9 {
		t.Fatalf("spool mark %+v, want it moved to boot 9", m)
	}
}

// logLines counts log lines holding a substring.
type logLines struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logLines) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// TestReplayOldDevice: a device without REPLAY answers status 1; the gateway says so once at info
// and carries on: telemetry flows and the mark moves.
func TestReplayOldDevice(t *testing.T) {
	b := newReplayBench(t, emulator.Config{Boot: 2, NoReplay: true})
	logs := &logLines{}
	b.log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	first := b.start(failAfter(2, 10))
	b.startDevice()
	waitFor(t, "frames past the last commit read", 5*time.Second, func() bool { return first.Stats().Telemetry >= 15 })
	first.stop(t)
	second := b.start(nil)
	waitFor(t, "telemetry committed after the refused replay", 5*time.Second, func() bool {
		s := second.Stats()
		return s.ReplayRequests == 1 && s.Spooled >= 20
	})
	s2 := second.stop(t)
	if s2.Replayed != 0 || s2.Published == 0 {
		t.Fatalf("gateway with an old device %+v: want no frames replayed, telemetry published", s2)
	}
	if n := logs.count("device firmware has no REPLAY"); n != 1 {
		t.Fatalf("the old firmware was logged %d times, want once:\n%s", n, logs.b.String())
	}
	if m, _ := b.markOf(); m.Seq < 20 {
		t.Fatalf("spool mark %+v: want it moved on past seq 20 after the refused replay", m)
	}
}

// TestSpoolMark: the mark is written with the records in one transaction (a failed append writes
// neither), survives reopening, and follows the newest boot, the highest seq within it.
func TestSpoolMark(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	sp, err := openSpool(path, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(sp.allMarks()) != 0 {
		t.Fatal("a new spool has a mark")
	}
	m := mark{}.advance("dev", 4, 10)
	if err := sp.append("dev", []spooled{{topic: "t", payload: []byte("a"), boot: 4, seq: 10}}, &m); err != nil {
		t.Fatal(err)
	}
	sp.failAppend = func([]spooled) error { return errKilled }
	next := m.advance("dev", 4, 11)
	if err := sp.append("dev", []spooled{{topic: "t", payload: []byte("b"), boot: 4, seq: 11}}, &next); !errors.Is(err, errKilled) {
		t.Fatalf("append with a failing hook: %v", err)
	}
	sp.close()
	if sp, err = openSpool(path, 100); err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	if got, ok := sp.markOf("dev"); !ok || got != m {
		t.Fatalf("mark after reopen %+v %v, want %+v (the failed append wrote none)", got, ok, m)
	}
	if d, _ := sp.stats(); d != 1 {
		t.Fatalf("spool depth %d, want 1", d)
	}
	for _, tc := range []struct {
		from      mark
		dev       string
		boot, seq uint32
		want      mark
	}{
		{mark{}, "dev", 4, 10, mark{"dev", 4, 10}},
		{mark{"dev", 4, 10}, "dev", 4, 12, mark{"dev", 4, 12}},
		{mark{"dev", 4, 12}, "dev", 4, 11, mark{"dev", 4, 12}}, // a replayed frame
		{mark{"dev", 4, 12}, "dev", 5, 0, mark{"dev", 5, 0}},
		{mark{"dev", 9, 12}, "dev", 0, 3, mark{"dev", 0, 3}}, // the boot counter restarted
		{mark{"dev", 4, 12}, "other", 4, 1, mark{"other", 4, 1}},
	} {
		if got := tc.from.advance(tc.dev, tc.boot, tc.seq); got != tc.want {
			t.Errorf("%+v.advance(%s, %d, %d) = %+v, want %+v", tc.from, tc.dev, tc.boot, tc.seq, got, tc.want)
		}
	}
}
