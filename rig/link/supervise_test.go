package link

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// replug points the stable name (as udev's /dev/rig-stm32 would) at a pty pair.
func replug(t *testing.T, link string, pp *PtyPair) {
	t.Helper()
	tmp := link + ".new"
	os.Remove(tmp)
	if err := os.Symlink(pp.Path(), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
}

// pollRead reads until want arrives or the deadline passes; (0, nil) reads are idle line.
func pollRead(t *testing.T, p Port, want []byte, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var got []byte
	buf := make([]byte, 256)
	for !bytes.Contains(got, want) {
		if time.Now().After(deadline) {
			t.Fatalf("read %x before the deadline, want %x", got, want)
		}
		n, err := p.Read(buf)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		got = append(got, buf[:n]...)
	}
}

// TestSuperviseUnplugReplug: the device goes away (pty master closed: reads fail with "port
// closed", writes with EIO, as a USB-UART pulled out), the link reports it and keeps counting,
// then a new device appears under the same stable name and the link reconnects by itself with
// its counters intact.
func TestSuperviseUnplugReplug(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "rig-stm32")
	pp1, err := NewPtyPair()
	if err != nil {
		t.Fatal(err)
	}
	defer pp1.Close()
	replug(t, name, pp1)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	framing, _ := ParseFraming("8N1")
	s, err := Supervise(ctx, SerialConfig{Path: name, Baud: 115200, Framing: framing}, SuperviseOptions{RetryInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	pp1.Device().Write([]byte("before\x00"))
	pollRead(t, s, []byte("before\x00"), 3*time.Second)
	if _, err := s.Write([]byte{1, 2, 3}); err != nil {
		t.Fatalf("write while plugged: %v", err)
	}
	readFile(t, pp1.Device(), 3, 2*time.Second)

	// Unplug.
	pp1.Close()
	os.Remove(name)
	deadline := time.Now().Add(3 * time.Second)
	for s.Stats().Connected {
		if time.Now().After(deadline) {
			t.Fatalf("unplug not detected: %+v", s.Stats())
		}
		if n, err := s.Read(make([]byte, 16)); err != nil || n != 0 {
			t.Fatalf("read across the unplug: (%d, %v), want (0, nil)", n, err)
		}
	}
	if _, err := s.Write([]byte{4}); !errors.Is(err, ErrDisconnected) || !strings.Contains(err.Error(), name) {
		t.Fatalf("write while unplugged: %v, want ErrDisconnected naming the port", err)
	}
	st := s.Stats()
	if st.Disconnects != 1 || st.WriteErrors != 1 || st.BytesIn != 7 || st.BytesOut != 3 {
		t.Fatalf("after unplug: %+v", st)
	}
	// Reads while the device is missing neither fail nor reconnect.
	for i := 0; i < 3; i++ {
		if n, err := s.Read(make([]byte, 16)); n != 0 || err != nil {
			t.Fatalf("read while unplugged: (%d, %v)", n, err)
		}
	}
	if st := s.Stats(); st.Reconnects != 0 || st.LastError == "" {
		t.Fatalf("while unplugged: %+v", st)
	}
	gen := s.Generation()

	// Replug: a new device under the same name.
	pp2, err := NewPtyPair()
	if err != nil {
		t.Fatal(err)
	}
	defer pp2.Close()
	replug(t, name, pp2)
	deadline = time.Now().Add(3 * time.Second)
	for !s.Stats().Connected {
		if time.Now().After(deadline) {
			t.Fatalf("no reconnect: %+v", s.Stats())
		}
		s.Read(make([]byte, 16))
	}
	if s.Generation() != gen+1 {
		t.Errorf("generation %d after reconnect, want %d", s.Generation(), gen+1)
	}
	pp2.Device().Write([]byte("after\x00"))
	pollRead(t, s, []byte("after\x00"), 3*time.Second)
	if _, err := s.Write([]byte{5, 6}); err != nil {
		t.Fatalf("write after replug: %v", err)
	}
	if got := readFile(t, pp2.Device(), 2, 2*time.Second); !bytes.Equal(got, []byte{5, 6}) {
		t.Fatalf("device got %x after replug", got)
	}
	st = s.Stats()
	if st.Disconnects != 1 || st.Reconnects != 1 || st.Opens != 2 || st.WriteErrors != 1 || st.BytesIn != 13 || st.BytesOut != 5 || st.Framing != "8N1" {
		t.Fatalf("counters not kept across the reconnect: %+v", st)
	}

	s.Close()
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("read after Close: %v", err)
	}
}

func TestFraming(t *testing.T) {
	for _, tt := range []struct {
		in, want, err string
	}{
		{"8N1", "8N1", ""}, {"8e1", "8E1", ""}, {"7O2", "7O2", ""}, {"", "", "want data bits"},
		{"9N1", "", "9 data bits"}, {"8X1", "", "parity"}, {"8N3", "", "stop bits"}, {"8N1x", "", "want data bits"},
	} {
		f, err := ParseFraming(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseFraming(%q) = %v, want error with %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || f.String() != tt.want {
			t.Errorf("ParseFraming(%q) = %v, %v; want %s", tt.in, f, err, tt.want)
		}
	}
	if (Framing{}).String() != "8N1" {
		t.Error("zero Framing is not 8N1")
	}
	pp := newPty(t)
	f, _ := ParseFraming("7E2")
	p, err := OpenSerialConfig(context.Background(), SerialConfig{Path: pp.Path(), Baud: 9600, Framing: f})
	if err != nil {
		t.Fatalf("open 7E2: %v", err)
	}
	p.Close()
}
