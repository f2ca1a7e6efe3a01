package qemu

import (
	"context"
	"testing"
	"time"

	"github.com/pathrig/rig/firmware/protocol"
)

// BenchmarkBootToHello measures the firmware-in-the-loop start-up: QEMU started paused, the pty
// opened through go.bug.st/serial, cont, and the firmware's HELLO decoded; then QEMU quit.
func BenchmarkBootToHello(b *testing.B) {
	image := firmware(b)
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		m, err := Start(ctx, Config{Image: image, UID: &testUID})
		if err != nil {
			b.Fatal(err)
		}
		p, err := m.Connect(ctx, 115200)
		if err != nil {
			b.Fatal(err)
		}
		var dec protocol.Decoder
		buf := make([]byte, 256)
		got := false
		for !got && ctx.Err() == nil {
			n, err := p.Read(buf)
			if err != nil {
				b.Fatal(err)
			}
			dec.Feed(buf[:n], func(f protocol.Frame, err error) { got = got || (err == nil && f.Type == protocol.TypeHello) })
		}
		if !got {
			b.Fatal("no HELLO")
		}
		p.Close()
		m.Close()
		cancel()
	}
}
