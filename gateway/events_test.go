package gateway

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathrig/rig/firmware/emulator"
	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/secevent"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) events(t *testing.T) []secevent.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	evs, err := secevent.Decode(bytes.NewReader(l.b.Bytes()), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func countKind(evs []secevent.Event, k secevent.Kind) int {
	n := 0
	for _, e := range evs {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// TestMalformedFramesAndGapAlert: a malformed frame on the line is a uart-malformed event naming
// the device; a device told to stop sending (SET_INTERVAL 0) raises the gap alert once, within
// the bound, and its next frame clears it.
func TestMalformedFramesAndGapAlert(t *testing.T) {
	checkNoLeaks(t)
	addr := startBroker(t)
	devSide, host := link.NewPipe("pipe:dev0")
	defer devSide.Close()
	defer host.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dev := emulator.New(emulator.Config{UID: testUID, Boot: 3, Interval: 5 * time.Millisecond})
	devErr := make(chan error, 1)
	go func() { devErr <- dev.Run(ctx, devSide) }()
	var events lockedBuf
	const gap = 150 * time.Millisecond
	gw, err := New(Config{Link: host, BrokerURL: "tcp://" + addr, QoS: 1, Log: testLog(), Events: secevent.New(&events, "gateway"), GapAlert: gap})
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- gw.Run(ctx) }()
	waitFor(t, "the device's identity", 5*time.Second, func() bool { _, _, _, ok := gw.Identity(); return ok })

	if _, err := devSide.Write([]byte{0xde, 0xad, 0xbe, 0xef, 0x00}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the malformed-frame event", 2*time.Second, func() bool { return countKind(events.events(t), secevent.UARTMalformed) == 1 })
	for _, e := range events.events(t) {
		if e.Kind == secevent.UARTMalformed && (e.Identity != testUID.String() || e.Outcome != secevent.Refused || e.Source != "gateway" || !strings.Contains(e.Detail, protocol.ReasonCOBS)) {
			t.Errorf("malformed-frame event = %+v", e)
		}
	}
	if a := gw.Alerts(); len(a) != 0 {
		t.Fatalf("alerts while the device speaks: %+v", a)
	}

	interval := func(ms uint16) {
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		defer ccancel()
		if _, err := gw.Command(cctx, protocol.OpSetInterval, binary.LittleEndian.AppendUint16(nil, ms)); err != nil {
			t.Fatalf("SET_INTERVAL %d: %v", ms, err)
		}
	}
	interval(0)
	silenced := time.Now()
	waitFor(t, "the gap alert", 5*gap, func() bool { return len(gw.Alerts()) == 1 })
	if took := time.Since(silenced); took < gap {
		t.Errorf("alert raised %s after the device went silent, before its bound %s", took, gap)
	}
	a := gw.Alerts()[0]
	if a.Name != AlertDeviceSilent || a.Device != testUID.String() || a.Since.IsZero() {
		t.Errorf("alert = %+v", a)
	}
	time.Sleep(2 * gap)
	if n := countKind(events.events(t), secevent.DeviceSilent); n != 1 {
		t.Errorf("%d device-silent events over one silence, want 1", n)
	}
	interval(5)
	waitFor(t, "the alert to clear", 2*time.Second, func() bool { return len(gw.Alerts()) == 0 })
	cancel()
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
	<-devErr
}
