package link

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.bug.st/serial"
)

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// readN reads n bytes from a Port, treating (0, nil) as "nothing yet", until deadline.
func readN(t *testing.T, p Port, n int, within time.Duration) []byte {
	t.Helper()
	deadline := time.Now().Add(within)
	var got []byte
	buf := make([]byte, 512)
	for len(got) < n {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d bytes from %s before the deadline: %x", len(got), n, p.Name(), got)
		}
		k, err := p.Read(buf)
		if err != nil {
			t.Fatalf("read %s: %v", p.Name(), err)
		}
		got = append(got, buf[:k]...)
	}
	return got
}

// readFile reads n bytes from a deadline-capable reader (the pty master, a pipe end).
func readFile(t *testing.T, r interface {
	io.Reader
	SetReadDeadline(time.Time) error
}, n int, within time.Duration) []byte {
	t.Helper()
	if err := r.SetReadDeadline(time.Now().Add(within)); err != nil {
		t.Fatalf("set read deadline: %v", err)
	}
	got := make([]byte, n)
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("read %d bytes from the device side: %v", n, err)
	}
	return got
}

func newPty(t *testing.T) *PtyPair {
	t.Helper()
	pp, err := NewPtyPair()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pp.Close() })
	return pp
}

func openTTY(t *testing.T, pp *PtyPair) Port {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p, err := OpenSerial(ctx, pp.Path(), 115200)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestPtyPassesEveryByte sends all 256 byte values both ways over the pty, through
// go.bug.st/serial on the tty side: 0x00, 0x03 (^C), 0x0a/0x0d (newline), 0x11/0x13 (XON/XOFF)
// and 0x7f must pass untouched.
func TestPtyPassesEveryByte(t *testing.T) {
	pp := newPty(t)
	port := openTTY(t, pp)
	want := allBytes()

	if _, err := pp.Device().Write(want); err != nil {
		t.Fatalf("device write: %v", err)
	}
	if got := readN(t, port, len(want), 2*time.Second); !bytes.Equal(got, want) {
		t.Fatalf("device → gateway:\n got %x\nwant %x", got, want)
	}

	if _, err := port.Write(want); err != nil {
		t.Fatalf("gateway write: %v", err)
	}
	if got := readFile(t, pp.Device(), len(want), 2*time.Second); !bytes.Equal(got, want) {
		t.Fatalf("gateway → device:\n got %x\nwant %x", got, want)
	}
}

// TestPtyRawBeforeOpen: bytes the device sends before the gateway opens the tty are neither echoed
// back to the device nor altered (the pair is raw from creation, not from the gateway's open).
func TestPtyRawBeforeOpen(t *testing.T) {
	pp := newPty(t)
	want := allBytes()
	if _, err := pp.Device().Write(want); err != nil {
		t.Fatalf("device write: %v", err)
	}
	pp.Device().SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	buf := make([]byte, 16)
	if n, err := pp.Device().Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("device read back %x (err %v): the tty echoes", buf[:n], err)
	}
	port := openTTY(t, pp)
	if got := readN(t, port, len(want), 2*time.Second); !bytes.Equal(got, want) {
		t.Fatalf("got %x\nwant %x", got, want)
	}
}

// TestSerialReadTimeoutIsNotEOF: an idle port returns (0, nil) within about the read timeout.
func TestSerialReadTimeoutIsNotEOF(t *testing.T) {
	pp := newPty(t)
	port := openTTY(t, pp)
	start := time.Now()
	n, err := port.Read(make([]byte, 8))
	if n != 0 || err != nil {
		t.Fatalf("idle read: got (%d, %v), want (0, nil)", n, err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("idle read took %s; the read timeout is not applied", el)
	}
}

func TestPtyReopen(t *testing.T) {
	pp := newPty(t)
	p1 := openTTY(t, pp)
	p1.Close()
	p2 := openTTY(t, pp)
	pp.Device().Write([]byte{0x42, 0x00})
	if got := readN(t, p2, 2, 2*time.Second); !bytes.Equal(got, []byte{0x42, 0x00}) {
		t.Fatalf("after reopen got %x", got)
	}
}

func TestOpenSerialErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	regular := filepath.Join(dir, "not-a-tty")
	os.WriteFile(regular, nil, 0o600)
	tests := []struct {
		name string
		path string
		baud int
		want []string
	}{
		{"missing", filepath.Join(dir, "ttyNOPE"), 115200, []string{"ttyNOPE", "no such port", "check the path"}},
		{"regular file", regular, 115200, []string{"not-a-tty", "not a serial port"}},
		{"zero baud", regular, 0, []string{"baud rate 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := OpenSerial(ctx, tt.path, tt.baud)
			if err == nil {
				p.Close()
				t.Fatal("want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := OpenSerial(cctx, regular, 115200); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: got %v", err)
	}
}

// TestBusyRemedy: go.bug.st/serial reports a busy port without naming it or saying what to do.
// A second open of a TIOCEXCL tty fails only without CAP_SYS_ADMIN, so the mapping is also tested
// on the library's error value directly (its zero value is PortBusy).
func TestBusyRemedy(t *testing.T) {
	err := describe(&serial.PortError{}, "/dev/ttyAMA0")
	if !strings.Contains(err.Error(), "port busy") || !strings.Contains(err.Error(), "fuser -v /dev/ttyAMA0") {
		t.Fatalf("busy error %q does not name the remedy", err)
	}
	var pe *serial.PortError
	if !errors.As(err, &pe) {
		t.Fatal("the library error is not kept for errors.As")
	}

	pp := newPty(t)
	openTTY(t, pp)
	p2, err := OpenSerial(context.Background(), pp.Path(), 115200)
	if err == nil {
		p2.Close()
		t.Log("second open succeeded: this process may bypass TIOCEXCL (CAP_SYS_ADMIN)")
		return
	}
	if !strings.Contains(err.Error(), "busy") || !strings.Contains(err.Error(), pp.Path()) {
		t.Fatalf("second open: %v", err)
	}
}

func TestPipe(t *testing.T) {
	dev, host := NewPipe("pipe:dev0")
	t.Cleanup(func() { dev.Close(); host.Close() })
	want := allBytes()

	go dev.Write(want)
	if got := readN(t, host, len(want), 2*time.Second); !bytes.Equal(got, want) {
		t.Fatalf("device → host: got %x", got)
	}
	go host.Write(want)
	if got := readFile(t, dev, len(want), 2*time.Second); !bytes.Equal(got, want) {
		t.Fatalf("host → device: got %x", got)
	}
	if n, err := host.Read(make([]byte, 4)); n != 0 || err != nil {
		t.Fatalf("idle pipe read: got (%d, %v), want (0, nil)", n, err)
	}
	if host.Name() != "pipe:dev0" {
		t.Errorf("Name = %q", host.Name())
	}
}
