package mqttclient

import (
	"bufio"
	"bytes"
	"net"
	"testing"
	"time"
)

// byteConn is a net.Conn that reads a fixed byte string and discards writes.
type byteConn struct {
	net.Conn
	r *bytes.Reader
}

func (c byteConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c byteConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c byteConn) Close() error                     { return nil }
func (c byteConn) SetReadDeadline(time.Time) error  { return nil }
func (c byteConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzRead feeds what a broker might send to the probe's packet reader (mochi's decoders behind
// our fixed-header and length handling): no input may panic, and none may make it allocate past
// maxPacket.
func FuzzRead(f *testing.F) {
	for _, seed := range [][]byte{
		{0x20, 0x02, 0x00, 0x00},                // CONNACK accepted (3.1.1)
		{0x20, 0x03, 0x00, 0x87, 0x00},          // CONNACK not authorized (5, empty properties)
		{0x30, 0x05, 0x00, 0x01, 't', 'h', 'i'}, // PUBLISH QoS 0
		{0x90, 0x03, 0x00, 0x01, 0x80},          // SUBACK failure
		{0xD0, 0x00},                            // PINGRESP
		{0xE0, 0x01, 0x8E},                      // DISCONNECT session taken over (5)
		{0x30, 0xFF, 0xFF, 0xFF, 0x7F},          // PUBLISH declaring 256 MiB
		{0x20, 0x80, 0x80, 0x80, 0x80, 0x01},    // a five-byte remaining length
	} {
		f.Add(seed, byte(4))
		f.Add(seed, byte(5))
	}
	f.Fuzz(func(t *testing.T, data []byte, version byte) {
		if version != 5 {
			version = 4
		}
		c := &Client{version: version, conn: byteConn{r: bytes.NewReader(data)}, r: bufio.NewReader(bytes.NewReader(data)), timeout: time.Second}
		for range 8 {
			if _, err := c.next(time.Now().Add(time.Second)); err != nil {
				return
			}
		}
	})
}
