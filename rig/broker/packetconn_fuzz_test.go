package broker

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// streamConn is a net.Conn over fixed bytes, delivered in reads of at most step bytes.
type streamConn struct {
	net.Conn // nil: only Read is used
	data     []byte
	step     int
}

func (c *streamConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.step)], c.data)
	c.data = c.data[n:]
	return n, nil
}

// FuzzPacketConn: whatever a peer sends, what mochi reads through packetConn is a prefix of the
// stream as sent (packetConn frames, never alters), and its buffer never runs more than one body
// chunk ahead of the bytes received: a declared length costs nothing until it arrives.
func FuzzPacketConn(f *testing.F) {
	f.Fuzz(func(t *testing.T, stream []byte, step uint8, limit uint16) {
		pc := newPacketConn(&streamConn{data: bytes.Clone(stream), step: int(step%64) + 1}, uint32(limit)+2).(*packetConn)
		var got []byte
		buf := make([]byte, 97)
		for range len(stream) + 2 {
			n, err := pc.Read(buf)
			got = append(got, buf[:n]...)
			if c := cap(pc.buf); c > 2*(len(stream)+packetBodyChunk)+16 {
				t.Fatalf("buffer of %d bytes for a %d-byte stream", c, len(stream))
			}
			if err != nil {
				break
			}
		}
		if !bytes.HasPrefix(stream, got) {
			t.Fatalf("read %x, not a prefix of the stream %x", got, stream)
		}
	})
}
