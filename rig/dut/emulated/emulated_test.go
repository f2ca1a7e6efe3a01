package emulated_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/dut"
	"github.com/pathrig/rig/rig/dut/emulated"
	"github.com/pathrig/rig/rig/relay"
	"github.com/pathrig/rig/rig/scenario"
)

const uid = "414243444546474849505152"

func spec(inMemory bool) dut.Spec {
	return dut.Spec{
		Device: scenario.Device{
			Kind: scenario.DeviceEmulated, UID: uid, Firmware: "3.1.4", Boot: 10,
			TelemetryInterval: scenario.Duration(10 * time.Millisecond),
		},
		InMemory: inMemory,
	}
}

// TestOpenNamesTheUID: a UID that is not 24 hex digits is refused, naming the field.
func TestOpenNamesTheUID(t *testing.T) {
	s := spec(true)
	s.Device.UID = "4142"
	if _, err := emulated.Open(s); err == nil || !strings.Contains(err.Error(), "device.uid") || !strings.Contains(err.Error(), "4142") {
		t.Errorf("Open with UID 4142: %v; want an error naming device.uid and the value", err)
	}
}

// TestEmulatedLifecycle runs the emulated kind, as the registry opens it, through every
// transition of a device and counts what it sent, on both of its UARTs: the pty opened through
// go.bug.st/serial and the in-memory pipe of fleets.
func TestEmulatedLifecycle(t *testing.T) {
	for _, tt := range []struct {
		name     string
		inMemory bool
		port     string // the UART's name starts with it
	}{
		{"pty", false, "/dev/"},
		{"in memory", true, "emulated:" + uid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			kind, err := dut.Lookup(scenario.DeviceEmulated)
			if err != nil {
				t.Fatal(err)
			}
			drv, err := kind.Open(ctx, spec(tt.inMemory))
			if err != nil {
				t.Fatal(err)
			}
			r := relay.New(relay.Config{Name: uid, Host: relay.NewPipeHost("gateway:" + uid)})
			d := dut.New(uid, drv, r, spec(tt.inMemory))
			closed := false
			defer func() {
				if !closed {
					d.Close(ctx)
				}
			}()

			steps := []struct {
				name string
				do   func() error
			}{
				{"PowerOn", func() error { return d.PowerOn(ctx) }},
				{"MakeReady", func() error { return d.MakeReady(ctx, uid, 0) }},
				{"HoldReset", func() error { return d.HoldReset(ctx) }},
				{"ReleaseReset", func() error { return d.ReleaseReset(ctx, 2*time.Second) }},
				{"MakeReady", func() error { return d.MakeReady(ctx, uid, 0) }},
				{"PowerCut", func() error { return d.PowerCut(ctx) }},
				{"PowerRestore", func() error { return d.PowerRestore(ctx, 2*time.Second) }},
				{"MakeReady", func() error { return d.MakeReady(ctx, uid, 0) }},
			}
			for _, s := range steps {
				if err := s.do(); err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
			}
			if got := d.Steps()[0].Detail; !strings.HasPrefix(got, tt.port) {
				t.Errorf("power on detail %q, want the UART's name starting %q", got, tt.port)
			}
			if f := d.Found(); f == nil || f.FW != "3.1.4" || f.Boot != 10 || f.IntervalMs == nil || *f.IntervalMs != 10 {
				t.Errorf("Found() = %+v; want firmware 3.1.4, boot 10, 10ms", f)
			}
			if err := d.Session().SetInterval(ctx, 0); err != nil {
				t.Fatal(err)
			}
			counts, err := d.Count(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range counts {
				got = append(got, c.ResetCause)
				if c.Source != "device" || c.To < c.From {
					t.Errorf("boot %d counted %+v; want the device's own count", c.Boot, c)
				}
			}
			if want := []string{"power_on", "pin", "power_on"}; len(counts) != 3 || counts[0].Boot != 10 || !slices.Equal(got, want) {
				t.Errorf("Count() = %+v; want boots 10, 11, 12 with reset causes %v", counts, want)
			}
			closed = true
			if err := d.Close(ctx); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}
