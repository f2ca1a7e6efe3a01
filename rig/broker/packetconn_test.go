package broker

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pathrig/rig/rig/telemetry"
)

// connectV4 is a minimal MQTT 3.1.1 CONNECT of client id "raw".
var connectV4 = []byte{0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 30, 0, 3, 'r', 'a', 'w'}

// A fixed header declaring a large packet costs the broker nothing until the bytes arrive, on
// every profile: over the limit in force (HardMaxPacketSize without a profile limit) the
// connection is closed at once; under it, the broker waits for the body without allocating it
// and closes the connection at the deadline.
func TestDeclaredLengthCostsNothing(t *testing.T) {
	const budget = 32 << 20 // far under the 64 MiB and 256 MiB the headers below declare
	for _, tc := range []struct {
		name      string
		limit     uint32 // the profile's MaxPacketSize
		connect   bool   // send a CONNECT first
		header    []byte
		wantCause error // what the broker's read ended with, nil = not checked
	}{
		{"256 MiB CONNECT, no profile limit", 0, false, []byte{0x10, 0xff, 0xff, 0xff, 0x7f}, packets.ErrPacketTooLarge},
		{"256 MiB PUBLISH after CONNECT, no profile limit", 0, true, []byte{0x30, 0xff, 0xff, 0xff, 0x7f}, packets.ErrPacketTooLarge},
		{"256 MiB PUBLISH, 4 KiB limit", 4096, true, []byte{0x30, 0xff, 0xff, 0xff, 0x7f}, packets.ErrPacketTooLarge},
		{"64 MiB CONNECT under the hard limit, body never sent", 0, false, []byte{0x10, 0x80, 0x80, 0x80, 0x20}, nil},
		{"64 MiB PUBLISH under the hard limit, body never sent", 0, true, []byte{0x30, 0x80, 0x80, 0x80, 0x20, 0, 1, 't'}, nil},
		{"five length bytes", 0, false, []byte{0x10, 0xff, 0xff, 0xff, 0xbf, 0x00}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := start(t, Config{PlainAddr: "127.0.0.1:0", AllowAnonymous: true, MaxPacketSize: tc.limit,
				ConnectTimeout: 300 * time.Millisecond, Log: testLog(t)})
			conn, err := net.DialTimeout("tcp", b.PlainAddr(), wait)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(wait))
			if tc.connect {
				if _, err := conn.Write(connectV4); err != nil {
					t.Fatal(err)
				}
				ack := make([]byte, 4)
				if _, err := io.ReadFull(conn, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
					t.Fatalf("CONNACK %x, %v", ack, err)
				}
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			if _, err := conn.Write(tc.header); err != nil {
				t.Fatal(err)
			}
			closed := make(chan error, 1)
			go func() {
				_, err := conn.Read(make([]byte, 1))
				closed <- err
			}()
			select {
			case err := <-closed:
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("connection still open after %v", wait)
				}
			case <-time.After(time.Second):
				if tc.wantCause != nil || !tc.connect {
					t.Fatal("connection still open after 1s, want it closed (at once, or at the 300ms connect deadline)")
				}
				// Under the limit after CONNECT the broker waits for the body up to the client's
				// keepalive: what matters is what it allocated meanwhile.
			}
			runtime.ReadMemStats(&after)
			if d := after.TotalAlloc - before.TotalAlloc; d > budget {
				t.Errorf("a %d-byte header made the broker allocate %d MiB", len(tc.header), d>>20)
			}
			if tc.wantCause == packets.ErrPacketTooLarge {
				deadline := time.Now().Add(wait)
				for b.Stats().Oversize != 1 {
					if time.Now().After(deadline) {
						t.Fatalf("Stats().Oversize = %d, want 1", b.Stats().Oversize)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
}

// The verdict of GUARD-MAX-PACKET does not move: without a profile limit the broker still
// acknowledges publishes far larger than the probe's default 256 KiB (here 8 MiB, sent in pieces
// over TLS), and with one it still closes the connection.
func TestLargePublishWithoutProfileLimit(t *testing.T) {
	f := newFixture(t)
	b := start(t, f.exposed(t))
	in := subscribeInline(t, b, "rig/devices/+/telemetry")
	for _, url := range []string{"tcp://" + b.PlainAddr(), "ssl://" + b.TLSAddr()} {
		c := mustConnect(t, dial{url: url, id: "big", tls: &tls.Config{InsecureSkipVerify: true}})
		topic := telemetry.Topic(telemetry.TopicPrefix, devA)
		publish(t, c, topic, 1, bytes.Repeat([]byte("x"), 8<<20))
		in.waitFor(t, topic)
		c.Disconnect(0)
	}
	if s := b.Stats(); s.Oversize != 0 {
		t.Errorf("Oversize = %d, want 0", s.Oversize)
	}
}

// packetConn only frames: what mochi reads through it is the stream as sent, packet by packet,
// whatever the read sizes and however the peer split its writes.
func TestPacketConnPassesTheStream(t *testing.T) {
	var stream bytes.Buffer
	stream.Write(connectV4)
	big := append([]byte{0x30, 0x83, 0x80, 0x04, 0, 1, 't'}, bytes.Repeat([]byte{0xab}, 65536)...) // 65539-byte body: two chunks
	stream.Write(big)
	stream.Write([]byte{0xc0, 0x00}) // PINGREQ
	for _, split := range []int{1, 7, 4096, 1 << 20} {
		client, server := net.Pipe()
		go func() {
			b := stream.Bytes()
			for len(b) > 0 {
				n := min(split, len(b))
				if _, err := client.Write(b[:n]); err != nil {
					return
				}
				b = b[n:]
			}
			client.Close()
		}()
		pc := newPacketConn(server, HardMaxPacketSize)
		var got bytes.Buffer
		buf := make([]byte, 333)
		for {
			n, err := pc.Read(buf)
			got.Write(buf[:n])
			if err != nil {
				if err != io.EOF {
					t.Fatalf("split %d: %v", split, err)
				}
				break
			}
		}
		if !bytes.Equal(got.Bytes(), stream.Bytes()) {
			t.Errorf("split %d: read %d bytes, want the %d sent", split, got.Len(), stream.Len())
		}
		server.Close()
	}
}
