// Package probe holds what every probe of the library shares: the kinds of answer an endpoint
// gives, a bounded dial, the classification of what went wrong after it, and the probe's own
// deadline told apart from the run being stopped. The protocol probes are its subpackages:
// mqttprobe (MQTT 3.1.1 by hand, and a paho client), tlsprobe and tlsscan (TLS handshakes, and
// hand-built ClientHellos), httpprobe (HTTP requests recorded for the evidence), uartprobe
// (malformed frames on the device's UART).
package probe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"syscall"
	"time"
)

// Kinds of answer an endpoint gives to a probe (an MQTT CONNECT, a TLS handshake).
const (
	AnswerConnack     = "connack"     // a CONNACK came back (see ReturnCode)
	AnswerRefusedTCP  = "tcp-refused" // nothing listens: connection refused
	AnswerNoTCP       = "tcp-timeout" // nothing answered the TCP connect within the timeout
	AnswerUnreachable = "unreachable" // the address could not be dialled (DNS, no route, ...)
	AnswerTLSAlert    = "tls-alert"   // the server sent a TLS alert (handshake or first read)
	AnswerTLSFailed   = "tls-failed"  // the TLS handshake failed on our side (not TLS, bad hello)
	AnswerClosed      = "closed"      // the connection closed before any CONNACK
	AnswerSilent      = "no-answer"   // connected, but no byte came back within the timeout
	AnswerNotMQTT     = "not-mqtt"    // bytes came back that are not a CONNACK
	AnswerInterrupted = "interrupted" // the run's context ended
	AnswerLocalError  = "local-error" // the probe itself failed (should not happen)
	AnswerMalformed   = "malformed"   // a CONNACK-typed packet that does not decode
)

// Dial opens a TCP connection bounded by ctx and timeout and names what went wrong.
func Dial(ctx context.Context, addr string, timeout time.Duration) (net.Conn, string, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		return conn, "", nil
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return nil, AnswerRefusedTCP, err
	case Interrupted(ctx):
		return nil, AnswerInterrupted, err
	case IsTimeout(err):
		return nil, AnswerNoTCP, err
	}
	return nil, AnswerUnreachable, err
}

// ClassifyIOError sorts an error met after TCP connected. A TLS alert from the server is told
// apart by the error's shape (crypto/tls reports it as a net.OpError with Op "remote error"), not
// by its text.
func ClassifyIOError(ctx context.Context, err error, otherwise string) (answer, alert, msg string) {
	if a, ok := RemoteAlert(err); ok {
		return AnswerTLSAlert, a, err.Error()
	}
	switch {
	case Interrupted(ctx):
		return AnswerInterrupted, "", err.Error()
	case IsTimeout(err):
		return AnswerSilent, "", err.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return AnswerClosed, "", err.Error()
	}
	return otherwise, "", err.Error()
}

// RemoteAlert returns the text of a TLS alert the peer sent, e.g. "tls: protocol version not
// supported".
func RemoteAlert(err error) (string, bool) {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" && op.Err != nil {
		return op.Err.Error(), true
	}
	return "", false
}

// errProbeTimeout is the cause of a probe context that ran out of its own time.
var errProbeTimeout = errors.New("probe timeout")

// Context bounds one probe by timeout, remembering whether it ended by that timeout or
// because the run itself was stopped.
func Context(parent context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(parent, timeout, errProbeTimeout)
}

// Interrupted reports whether ctx ended because the run stopped, not because the probe's own
// timeout (see Context) ran out: an interrupted probe proves nothing about the target.
func Interrupted(ctx context.Context) bool {
	return ctx.Err() != nil && !errors.Is(context.Cause(ctx), errProbeTimeout)
}

func IsTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) || (errors.As(err, &ne) && ne.Timeout())
}

// MsSince is the time since t in milliseconds, as the evidence records durations.
func MsSince(t time.Time) float64 {
	return float64(time.Since(t).Microseconds()) / 1000
}

// RandomHex returns n random bytes as hex, for probe client ids and wrong tokens.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
