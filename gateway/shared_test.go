package gateway

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pathrig/rig/firmware/emulator"
	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/link"
)

// countConnects counts the CONNECTs a mochi broker accepted, by client id.
type countConnects struct {
	mochi.HookBase
	mu  sync.Mutex
	ids map[string]int
}

func (h *countConnects) ID() string           { return "count-connects" }
func (h *countConnects) Provides(b byte) bool { return b == mochi.OnConnect }
func (h *countConnects) OnConnect(cl *mochi.Client, _ packets.Packet) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ids[cl.ID]++
	return nil
}

// TestSharedSession: three devices on their own in-memory links, each with its own Gateway, all
// publishing through one MQTT session: the broker sees one client, and every device's records
// arrive under that device's topic, consecutive, with every frame accounted per device.
func TestSharedSession(t *testing.T) {
	checkNoLeaks(t)
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	counts := &countConnects{ids: map[string]int{}}
	for _, h := range []mochi.Hook{new(allowAll), counts} {
		if err := srv.AddHook(h, nil); err != nil {
			t.Fatal(err)
		}
	}
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := srv.AddListener(l); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	recs := subscribe(t, l.Address())

	sh, err := NewShared(Config{BrokerURL: "tcp://" + l.Address(), ClientID: "gateway-0", QoS: 1, Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	const devices, frames = 3, 50
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	gws := make([]*Gateway, devices)
	var runErrs atomic.Int32
	for i := range devices {
		uid := testUID
		uid[11] = byte(i)
		devSide, host := link.NewPipe("pipe:dev" + uid.String())
		dev := emulator.New(emulator.Config{UID: uid, FW: protocol.FWVersion{Major: 1}, Boot: 7, Interval: 2 * time.Millisecond, Log: testLog()})
		gw, err := New(Config{Link: host, BrokerURL: "tcp://" + l.Address(), QoS: 1, Session: sh, Log: testLog()})
		if err != nil {
			t.Fatal(err)
		}
		gws[i] = gw
		wg.Go(func() { _ = dev.Run(ctx, devSide) })
		wg.Go(func() {
			if err := gw.Run(ctx); err != nil {
				runErrs.Add(1)
			}
		})
	}
	next := map[string]uint32{}
	deadline := time.After(10 * time.Second)
	for done := 0; done < devices; {
		select {
		case r := <-recs:
			if r.Seq != next[r.Device] || r.Boot != 7 {
				t.Fatalf("record of %s boot %d seq %d, want boot 7 seq %d", r.Device, r.Boot, r.Seq, next[r.Device])
			}
			next[r.Device]++
			if next[r.Device] == frames {
				done++
			}
		case <-deadline:
			t.Fatalf("records per device after 10 s: %v, want %d each", next, frames)
		}
	}
	for i, gw := range gws {
		if !gw.Stats().Connected {
			t.Errorf("gateway %d: Stats().Connected false while its session is up", i)
		}
	}
	cancel()
	wg.Wait()
	sh.Close()
	if runErrs.Load() != 0 {
		t.Errorf("%d gateways' Run returned an error", runErrs.Load())
	}
	counts.mu.Lock()
	if len(counts.ids) != 2 || counts.ids["gateway-0"] != 1 { // the session and the test's subscriber
		t.Errorf("broker CONNECTs by client id %v, want gateway-0 once (and the subscriber)", counts.ids)
	}
	counts.mu.Unlock()
	for i, gw := range gws {
		s := gw.Stats()
		if s.Connected {
			t.Errorf("gateway %d: Stats().Connected after its Run and the session ended", i)
		}
		if sum := s.Published + s.PublishErrors + s.PublishTimeouts + s.QueueDropped + s.Unpublished; sum != s.Telemetry || s.Published < frames {
			t.Errorf("gateway %d: telemetry %d, published %d (+ errors %d, timeouts %d, dropped %d, unpublished %d)",
				i, s.Telemetry, s.Published, s.PublishErrors, s.PublishTimeouts, s.QueueDropped, s.Unpublished)
		}
	}
}

func TestNewSharedValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no identity", Config{BrokerURL: "tcp://127.0.0.1:1"}},
		{"spool", Config{BrokerURL: "tcp://127.0.0.1:1", ClientID: "gw", SpoolPath: "x.db"}},
		{"no broker", Config{ClientID: "gw"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewShared(tc.cfg); err == nil {
				t.Fatal("NewShared: nil error, want one")
			}
		})
	}
}
