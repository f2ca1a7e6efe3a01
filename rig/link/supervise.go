package link

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"go.bug.st/serial"
)

// DefaultRetryInterval is how often a Supervised port tries to reopen an unplugged device.
const DefaultRetryInterval = 250 * time.Millisecond

// ErrDisconnected is returned by Supervised.Write while the device is unplugged.
var ErrDisconnected = errors.New("device disconnected")

// LinkStats is the link's own accounting. A Supervised port keeps it across reconnects: an
// unplug does not reset what was counted before it.
type LinkStats struct {
	Path        string `json:"path"`
	Framing     string `json:"framing"` // e.g. 8N1
	Baud        int    `json:"baud"`
	Connected   bool   `json:"connected"`
	Opens       uint64 `json:"opens"`       // successful opens, the first included
	Disconnects uint64 `json:"disconnects"` // hot-unplugs detected (read or write failed with EIO/ENODEV/closed)
	Reconnects  uint64 `json:"reconnects"`  // reopens after a disconnect
	ReadErrors  uint64 `json:"read_errors"`
	WriteErrors uint64 `json:"write_errors"` // failed writes, writes while disconnected included
	BytesIn     uint64 `json:"bytes_in"`
	BytesOut    uint64 `json:"bytes_out"`
	LastError   string `json:"last_error,omitempty"`
}

// SuperviseOptions tunes Supervise.
type SuperviseOptions struct {
	RetryInterval time.Duration // between reopen attempts; 0 = DefaultRetryInterval
	OpenTimeout   time.Duration // bound on one reopen attempt; 0 = 1s
	Log           *slog.Logger  // nil = discard
}

// Supervised is a serial Port that survives the device being unplugged and plugged back: a read or
// write failing with EIO, ENODEV or "port closed" marks the link down (Read then returns (0, nil)
// and Write ErrDisconnected), and Read reopens the same path every RetryInterval until it opens
// again — point Path at a stable name such as the udev symlink /dev/rig-stm32 so the device finds
// its way back even when the kernel gives it another ttyUSB number. Counters are kept across
// reconnects. Safe for one reader and concurrent writers.
type Supervised struct {
	cfg  SerialConfig
	opts SuperviseOptions
	log  *slog.Logger

	mu      sync.Mutex
	port    Port
	closed  bool
	lastTry time.Time
	gen     uint64
	stats   LinkStats
}

var _ Port = (*Supervised)(nil)

// Supervise opens cfg.Path (the first open must succeed: its error names the port and the remedy)
// and supervises it.
func Supervise(ctx context.Context, cfg SerialConfig, opts SuperviseOptions) (*Supervised, error) {
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = DefaultRetryInterval
	}
	if opts.OpenTimeout <= 0 {
		opts.OpenTimeout = time.Second
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p, err := OpenSerialConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &Supervised{cfg: cfg, opts: opts, log: log.With("port", cfg.Path), port: p, gen: 1}
	s.stats = LinkStats{Path: cfg.Path, Framing: cfg.Framing.String(), Baud: cfg.Baud, Connected: true, Opens: 1}
	return s, nil
}

// Name returns the configured path.
func (s *Supervised) Name() string { return s.cfg.Path }

// Stats returns a snapshot of the counters.
func (s *Supervised) Stats() LinkStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Generation increases by one on every reconnect: a reader that keeps a partial frame across
// reads resets its decoder when it changes.
func (s *Supervised) Generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// Read reads from the current connection. While the device is unplugged it tries to reopen it
// and returns (0, nil) after at most the read timeout, like an idle line.
func (s *Supervised) Read(p []byte) (int, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, fmt.Errorf("link: read %s: %w", s.cfg.Path, os.ErrClosed)
	}
	port := s.port
	s.mu.Unlock()
	if port == nil {
		if port = s.reopen(); port == nil {
			return 0, nil
		}
	}
	n, err := port.Read(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.BytesIn += uint64(n)
	if err == nil {
		return n, nil
	}
	if s.closed {
		return n, fmt.Errorf("link: read %s: %w", s.cfg.Path, os.ErrClosed)
	}
	s.stats.ReadErrors++
	s.stats.LastError = err.Error()
	if Unplugged(err) {
		s.dropLocked(port, err)
		return n, nil
	}
	return n, err
}

// Write writes to the current connection, or fails with ErrDisconnected while unplugged.
func (s *Supervised) Write(p []byte) (int, error) {
	s.mu.Lock()
	port, closed := s.port, s.closed
	if closed {
		s.mu.Unlock()
		return 0, fmt.Errorf("link: write %s: %w", s.cfg.Path, os.ErrClosed)
	}
	if port == nil {
		s.stats.WriteErrors++
		s.mu.Unlock()
		return 0, fmt.Errorf("link: write %s: %w (unplugged; reconnecting every %s: check the cable)", s.cfg.Path, ErrDisconnected, s.opts.RetryInterval)
	}
	s.mu.Unlock()
	n, err := port.Write(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.BytesOut += uint64(n)
	if err != nil {
		s.stats.WriteErrors++
		s.stats.LastError = err.Error()
		if Unplugged(err) && !s.closed {
			s.dropLocked(port, err)
		}
	}
	return n, err
}

// Close closes the connection; Read and Write fail afterwards.
func (s *Supervised) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.stats.Connected = false
	if s.port != nil {
		err := s.port.Close()
		s.port = nil
		return err
	}
	return nil
}

func (s *Supervised) dropLocked(port Port, err error) {
	if s.port != port { // another goroutine already dropped it
		return
	}
	port.Close()
	s.port = nil
	s.stats.Connected = false
	s.stats.Disconnects++
	s.lastTry = time.Now()
	s.log.Warn("serial device disconnected; reconnecting", "err", err, "retry_every", s.opts.RetryInterval)
}

// reopen tries to open the path again if RetryInterval has passed since the last try; otherwise
// it waits out the read timeout so that a read loop does not spin.
func (s *Supervised) reopen() Port {
	s.mu.Lock()
	wait := s.opts.RetryInterval - time.Since(s.lastTry)
	s.mu.Unlock()
	if wait > 0 {
		time.Sleep(min(wait, s.cfg.ReadTimeout))
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.OpenTimeout)
	defer cancel()
	p, err := OpenSerialConfig(ctx, s.cfg)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastTry = time.Now()
	if err != nil {
		s.stats.LastError = err.Error()
		return nil
	}
	if s.closed {
		p.Close()
		return nil
	}
	s.port = p
	s.gen++
	s.stats.Connected = true
	s.stats.Opens++
	s.stats.Reconnects++
	s.log.Info("serial device reconnected", "reconnects", s.stats.Reconnects)
	return p
}

// Unplugged reports whether err from a serial port means the device went away (USB-UART unplugged,
// pty master closed): EIO, ENODEV, ENXIO or go.bug.st/serial's "port closed".
func Unplugged(err error) bool {
	var pe *serial.PortError
	if errors.As(err, &pe) && pe.Code() == serial.PortClosed {
		return true
	}
	return errors.Is(err, syscall.EIO) || errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ENXIO) ||
		errors.Is(err, os.ErrClosed) || errors.Is(err, fs.ErrNotExist)
}
