package link

import (
	"net"
	"testing"

	"golang.org/x/net/nettest"
)

// TestMemConn: the in-memory connection behaves as net.Conn promises (x/net's conformance
// suite: ordered bytes, deadlines that interrupt blocked calls, close semantics, concurrency).
func TestMemConn(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		c1, c2 = MemPipe(64 << 10)
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	})
}

// TestMemConnWritesDoNotWaitForTheReader: both ends can write at once with nobody reading (a
// TLS alert crossing a CONNECT), which net.Pipe would block until a deadline.
func TestMemConnWritesDoNotWaitForTheReader(t *testing.T) {
	a, b := MemPipe(64 << 10)
	defer a.Close()
	defer b.Close()
	for _, c := range []net.Conn{a, b} {
		if n, err := c.Write(make([]byte, 4096)); n != 4096 || err != nil {
			t.Fatalf("write with no reader: %d, %v; want 4096, nil", n, err)
		}
	}
}
