package device

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pathrig/rig/firmware/emulator"
	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/link"
)

// TestProbeAcrossReplug: the device is unplugged in the middle of a partial frame and a
// different boot comes back under the same name; the client drops the old partial frame, probes
// the new device, and the link's counters span both connections.
func TestProbeAcrossReplug(t *testing.T) {
	name := filepath.Join(t.TempDir(), "rig-stm32")
	uid, _ := protocol.ParseUID(EmulatedUID)
	plug := func(boot uint32) (*link.PtyPair, context.CancelFunc) {
		pp, err := link.NewPtyPair()
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(name)
		if err := os.Symlink(pp.Path(), name); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		dev := emulator.New(emulator.Config{UID: uid, FW: protocol.FWVersion{Major: 1}, Boot: boot, Interval: time.Hour})
		go dev.Run(ctx, pp.Device())
		return pp, cancel
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pp1, stop1 := plug(4)
	port, err := link.Supervise(ctx, link.SerialConfig{Path: name, Baud: 115200}, link.SuperviseOptions{RetryInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()

	err = WithClient(ctx, port, nil, func(ctx context.Context, c *Client) error {
		first, err := Probe(ctx, c, 2)
		if err != nil {
			return err
		}
		if first.Boot != 4 {
			t.Errorf("first device boot %d", first.Boot)
		}
		stop1()
		pp1.Device().Write([]byte{0x05, 0x01, 0x02}) // half a frame, then the cable is pulled
		pp1.Close()
		os.Remove(name)
		for deadline := time.Now().Add(5 * time.Second); port.Stats().Connected; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("unplug not detected")
			}
		}
		pp2, stop2 := plug(9)
		t.Cleanup(func() { stop2(); pp2.Close() }) // after the client has stopped reading
		for deadline := time.Now().Add(5 * time.Second); !port.Stats().Connected; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("no reconnect")
			}
		}
		second, err := Probe(ctx, c, 2)
		if err != nil {
			return err
		}
		if second.Boot != 9 || second.UID != EmulatedUID {
			t.Errorf("after replug: boot %d uid %s", second.Boot, second.UID)
		}
		if n := len(second.Host.BadFrames); n != 0 {
			t.Errorf("the partial frame of the old connection was counted as bad: %v", second.Host.BadFrames)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := port.Stats(); st.Disconnects != 1 || st.Reconnects != 1 || st.BytesIn == 0 {
		t.Fatalf("link stats: %+v", st)
	}
}
