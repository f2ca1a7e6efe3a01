package relay

import (
	"errors"

	"net"
	"os"
	"syscall"
	"time"

	"github.com/pathrig/rig/rig/link"
)

// NewPtyHost makes a pty pair for the gateway: it opens the tty path through go.bug.st/serial,
// exactly as it opens /dev/ttyAMA0 on a Pi; the relay holds the other side.
func NewPtyHost() (HostSide, error) {
	pp, err := link.NewPtyPair()
	if err != nil {
		return nil, err
	}
	return &ptyHost{pp}, nil
}

type ptyHost struct{ pp *link.PtyPair }

func (h *ptyHost) Read(p []byte) (int, error)         { return h.pp.Device().Read(p) }
func (h *ptyHost) Write(p []byte) (int, error)        { return h.pp.Device().Write(p) }
func (h *ptyHost) SetReadDeadline(t time.Time) error  { return h.pp.Device().SetReadDeadline(t) }
func (h *ptyHost) SetWriteDeadline(t time.Time) error { return h.pp.Device().SetWriteDeadline(t) }
func (h *ptyHost) Path() string                       { return h.pp.Path() }
func (h *ptyHost) Port() link.Port                    { return nil }
func (h *ptyHost) Close() error                       { return h.pp.Close() }

// FifoSize is the receive buffer an in-memory gateway link gets: a tty's.
const FifoSize = 4096

// NewPipeHost makes an in-memory link for an in-process gateway (fleets: go.bug.st/serial uses
// select(), so a pty per device does not scale past about a thousand descriptors). Writes toward
// the gateway land in a FifoSize buffer, as on a tty, so the relay never blocks on a busy gateway
// (link.NewUART: no goroutine of its own).
func NewPipeHost(name string) HostSide {
	conn, port := link.NewUART(name, FifoSize)
	return &pipeHost{conn: conn, port: port}
}

type pipeHost struct {
	conn net.Conn
	port *link.UARTHost
}

func (h *pipeHost) Read(p []byte) (int, error)        { return h.conn.Read(p) }
func (h *pipeHost) Write(p []byte) (int, error)       { return h.conn.Write(p) }
func (h *pipeHost) SetReadDeadline(t time.Time) error { return h.conn.SetReadDeadline(t) }
func (h *pipeHost) Path() string                      { return "" }
func (h *pipeHost) Port() link.Port                   { return h.port }

// Overrun is how many bytes the gateway did not read in time (dropped at the buffer's bound).
func (h *pipeHost) Overrun() uint64 { return h.port.Overrun() }

func (h *pipeHost) Close() error {
	return errors.Join(h.conn.Close(), h.port.Close())
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func isEIO(err error) bool { return errors.Is(err, syscall.EIO) }
