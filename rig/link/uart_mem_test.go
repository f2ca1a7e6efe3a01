package link

import (
	"bytes"
	"runtime"
	"testing"
	"time"
)

// TestUARTLink: the device's writes never wait (past the receive buffer they are dropped and
// counted), the host reads them in order, an idle read times out as a serial port's does, the
// host's writes reach the device, and the link runs no goroutine.
func TestUARTLink(t *testing.T) {
	before := runtime.NumGoroutine()
	dev, host := NewUART("uart:test", 8)
	defer dev.Close()
	defer host.Close()
	if n := runtime.NumGoroutine(); n > before { // earlier tests' goroutines may still be ending
		t.Errorf("goroutines %d after NewUART, want at most %d (the link runs none)", n, before)
	}
	for _, tc := range []struct {
		name        string
		write       string
		wantRead    string
		wantOverrun uint64
	}{
		{"fits", "abc", "abc", 0},
		{"exactly the buffer", "12345678", "12345678", 0},
		{"past the buffer: newest dropped", "0123456789xy", "01234567", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := host.Overrun()
			_ = dev.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			n, err := dev.Write([]byte(tc.write))
			if err != nil || n != len(tc.write) {
				t.Fatalf("device Write = %d, %v; want %d, nil (a UART never blocks its sender)", n, err, len(tc.write))
			}
			var got []byte
			buf := make([]byte, 64)
			for len(got) < len(tc.wantRead) {
				n, err := host.Read(buf)
				if err != nil {
					t.Fatalf("host Read: %v", err)
				}
				got = append(got, buf[:n]...)
			}
			if string(got) != tc.wantRead {
				t.Errorf("host read %q, want %q", got, tc.wantRead)
			}
			if d := host.Overrun() - before; d != tc.wantOverrun {
				t.Errorf("overrun grew by %d, want %d", d, tc.wantOverrun)
			}
		})
	}
	start := time.Now()
	if n, err := host.Read(make([]byte, 8)); n != 0 || err != nil {
		t.Fatalf("idle host Read = %d, %v; want 0, nil (the read timeout)", n, err)
	}
	if d := time.Since(start); d > 2*PipeReadTimeout {
		t.Errorf("idle read took %s, want about %s", d, PipeReadTimeout)
	}
	if _, err := host.Write([]byte("cmd")); err != nil {
		t.Fatalf("host Write: %v", err)
	}
	buf := make([]byte, 8)
	n, err := dev.Read(buf)
	if err != nil || !bytes.Equal(buf[:n], []byte("cmd")) {
		t.Fatalf("device Read = %q, %v; want \"cmd\"", buf[:n], err)
	}
}
