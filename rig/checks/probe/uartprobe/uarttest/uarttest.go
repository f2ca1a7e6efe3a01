// Package uarttest is a fake of uartprobe.Line: a plain struct whose exported fields say what
// the gateway does with injected bytes, for the verdict logic of the malformed-frame probe. The
// real pty path is covered by the engine tests on the reference stack.
package uarttest

import (
	"context"
	"sync"
)

// Line is a fake device line and gateway. The zero value counts nothing and answers PING.
type Line struct {
	// InjectErr is what every Inject returns (uartprobe.ErrNoUART for a device without a line).
	InjectErr error
	// CountBad: the gateway counts every injected frame as rejected.
	CountBad bool
	// PingErr is what Ping returns: not nil for a gateway that no longer decodes the device.
	PingErr error
	// Ok is the gateway's count of valid frames.
	Ok uint64

	mu       sync.Mutex
	bad      uint64
	injected [][]byte
}

// Inject records b and counts it as rejected when CountBad is set.
func (l *Line) Inject(_ context.Context, b []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.InjectErr == nil {
		l.injected = append(l.injected, append([]byte(nil), b...))
		if l.CountBad {
			l.bad++
		}
	}
	return l.InjectErr
}

// Frames returns Ok and the frames counted as rejected.
func (l *Line) Frames() (ok, bad uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Ok, l.bad
}

// Ping returns PingErr.
func (l *Line) Ping(context.Context) error { return l.PingErr }

// Injected returns the frames written so far.
func (l *Line) Injected() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([][]byte(nil), l.injected...)
}
