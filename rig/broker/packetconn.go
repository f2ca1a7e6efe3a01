package broker

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"slices"

	"github.com/mochi-mqtt/server/v2/packets"
)

// HardMaxPacketSize is the largest MQTT packet the reference broker reads, whatever the profile:
// a profile without a packet limit (the exposed state, MaxPacketSize 0) gets this one. It is far
// above what the probes send (GUARD-MAX-PACKET publishes limits.oversize_bytes, 256 KiB by
// default and at most 64 MiB) and below what MQTT lets a header declare (256 MiB), so the
// exposed profile still acknowledges every oversize probe while a header declaring 256 MiB ends
// its connection before anything is allocated for it.
const HardMaxPacketSize = 128 << 20

// packetLimit is the packet size mochi enforces for cfg: the profile's limit, or the hard one.
func packetLimit(cfg Config) uint32 {
	if cfg.MaxPacketSize == 0 || cfg.MaxPacketSize > HardMaxPacketSize {
		return HardMaxPacketSize
	}
	return cfg.MaxPacketSize
}

// Buffers of the packet reader: what it reads from the socket at a time, the largest packet
// buffer it keeps for the next packet, and how much it adds at once to a body being received.
const (
	packetReadBuffer = 1 << 10
	packetKeepBuffer = 4 << 10
	packetBodyChunk  = 64 << 10
)

// packetConn hands mochi one whole MQTT packet at a time. mochi allocates the remaining length a
// fixed header declares as soon as it has read that header (Client.ReadPacket: make([]byte,
// Remaining)), so five bytes declaring 256 MiB would cost 256 MiB before one byte of body
// arrived. packetConn reads the fixed header itself, then the body as it arrives — its buffer
// grows with the bytes received, not with the length declared — and lets mochi read header and
// body only once the body is complete: mochi's allocation then follows bytes the peer really
// sent. A header declaring more than limit is passed on at once, so that mochi refuses it
// (packets.ErrPacketTooLarge, counted in Stats.Oversize) exactly as it refuses any oversize
// packet, before reading the body.
type packetConn struct {
	net.Conn
	r     *bufio.Reader
	limit uint32
	buf   []byte // the packet being handed out
	off   int    // bytes of buf already read by mochi
}

func newPacketConn(c net.Conn, limit uint32) net.Conn {
	pc := &packetConn{Conn: c, r: bufio.NewReaderSize(c, packetReadBuffer), limit: limit}
	if tc, ok := c.(*tls.Conn); ok {
		return &tlsPacketConn{packetConn: pc, tls: tc}
	}
	return pc
}

// tlsPacketConn keeps the TLS state visible to the hooks (connState), which read the client
// certificate from it.
type tlsPacketConn struct {
	*packetConn
	tls *tls.Conn
}

func (c *tlsPacketConn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }

func (c *packetConn) Read(p []byte) (int, error) {
	if c.off == len(c.buf) {
		if err := c.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.buf[c.off:])
	c.off += n
	return n, nil
}

// next reads the next packet into buf. On an error the partial packet is dropped: mochi gets the
// error and ends the connection, as it would have reading the socket itself.
func (c *packetConn) next() error {
	if cap(c.buf) > packetKeepBuffer {
		c.buf = nil // let a large packet's buffer go
	}
	c.buf, c.off = c.buf[:0], 0
	b, err := c.r.ReadByte()
	if err != nil {
		return err
	}
	c.buf = append(c.buf, b)
	var remaining uint32
	for i := 0; ; i++ {
		if i == 4 {
			// A fifth length byte is malformed [MQTT-1.5.5]. mochi would read on and could decode
			// a length this reader never framed: end the connection here.
			c.buf = c.buf[:0]
			return packets.ErrMalformedVariableByteInteger
		}
		b, err := c.r.ReadByte()
		if err != nil {
			c.buf = c.buf[:0]
			return eofIsUnexpected(err)
		}
		c.buf = append(c.buf, b)
		remaining |= uint32(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			break
		}
	}
	if uint64(remaining)+1 > uint64(c.limit) {
		return nil // the header alone: mochi refuses the size before reading on
	}
	for need := int(remaining); need > 0; {
		start := len(c.buf)
		chunk := min(need, packetBodyChunk)
		c.buf = slices.Grow(c.buf, chunk)[:start+chunk]
		n, err := io.ReadFull(c.r, c.buf[start:])
		c.buf = c.buf[:start+n]
		if err != nil {
			c.buf = c.buf[:0]
			return eofIsUnexpected(err)
		}
		need -= n
	}
	return nil
}

func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
