package trace

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"periph.io/x/conn/v3/gpio"

	"github.com/pathrig/rig/rig/infile"
	"github.com/pathrig/rig/rig/link"
)

// memPort is a link.Port over fixed input, recording writes.
type memPort struct {
	in  []byte
	out bytes.Buffer
}

func (m *memPort) Read(b []byte) (int, error)  { n := copy(b, m.in); m.in = m.in[n:]; return n, nil }
func (m *memPort) Write(b []byte) (int, error) { return m.out.Write(b) }
func (m *memPort) Close() error                { return nil }
func (m *memPort) Name() string                { return "mem0" }

var _ link.Port = (*memPort)(nil)

func record(t *testing.T) string {
	t.Helper()
	r := NewRecorder()
	port := r.Port(&memPort{in: []byte{0xaa, 0xbb, 0xcc}})
	port.Write([]byte{1, 2})
	buf := make([]byte, 8)
	port.Read(buf)
	pin := &pinOut{}
	r.Pin("reset", pin).Out(gpio.Low)
	path := filepath.Join(t.TempDir(), "t.trace")
	if err := r.WriteFile(path, "unit"); err != nil {
		t.Fatal(err)
	}
	if len(pin.levels) != 1 {
		t.Fatal("recorded pin did not pass the level on")
	}
	return path
}

// pinOut is the smallest gpio.PinOut: embedding the interface leaves the unused methods nil.
type pinOut struct {
	gpio.PinOut
	levels []gpio.Level
}

func (p *pinOut) Out(l gpio.Level) error { p.levels = append(p.levels, l); return nil }

func TestRecordPlayback(t *testing.T) {
	path := record(t)
	pb, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if pb.Header.Port != "mem0" || pb.Header.Note != "unit" {
		t.Errorf("header %+v", pb.Header)
	}
	p := pb.Port()
	if n, err := p.Read(make([]byte, 4)); n != 0 || err != nil {
		t.Fatalf("read before the recorded write: (%d, %v), want (0, nil)", n, err)
	}
	if _, err := p.Write([]byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	small := make([]byte, 2) // a short buffer gets the recorded read in pieces
	n1, _ := p.Read(small)
	got := append([]byte(nil), small[:n1]...)
	n2, _ := p.Read(small)
	got = append(got, small[:n2]...)
	if !bytes.Equal(got, []byte{0xaa, 0xbb, 0xcc}) {
		t.Fatalf("replayed %x", got)
	}
	if err := pb.Pin("reset").Out(gpio.Low); err != nil {
		t.Fatal(err)
	}
	if err := pb.Done(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write([]byte{9}); !errors.Is(err, ErrDiverged) || !strings.Contains(err.Error(), "after the end of the trace") {
		t.Fatalf("write past the end: %v", err)
	}
}

func TestPlaybackWrongBytes(t *testing.T) {
	pb, _ := Load(record(t))
	_, err := pb.Port().Write([]byte{1, 3})
	if !errors.Is(err, ErrDiverged) || !strings.Contains(err.Error(), "the code wrote 0103, the trace has write 0102") {
		t.Fatalf("err = %v", err)
	}
	if _, err := pb.Port().Write([]byte{1, 2}); !errors.Is(err, ErrDiverged) {
		t.Fatal("a divergence is not sticky")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ name, body, want string }{
		{"empty", "", "empty file"},
		{"header", `{"trace":"other"}`, ":1: not a rig.trace/v1 header"},
		{"op", `{"trace":"rig.trace/v1"}` + "\n" + `{"op":"poke","at_ms":0}`, `:2: field op: "poke"`},
		{"hex", `{"trace":"rig.trace/v1"}` + "\n" + `{"op":"read","hex":"zz","at_ms":0}`, ":2: field hex"},
		{"level", `{"trace":"rig.trace/v1"}` + "\n" + `{"op":"out","line":"reset","level":"up","at_ms":0}`, ":2: an out event needs"},
		{"unknown field", `{"trace":"rig.trace/v1"}` + "\n" + `{"op":"read","hex":"00","data":1}`, `:2: json: unknown field "data"`},
		{"trailing data", `{"trace":"rig.trace/v1"}` + "\n" + `{"op":"read","hex":"00"} {"op":"read","hex":"01"}`, ":2: trailing data after the event"},
	} {
		p := filepath.Join(dir, tt.name)
		os.WriteFile(p, []byte(tt.body), 0o644)
		if _, err := Load(p); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	// Files that are not traces are refused before they are read: a device, and a file over the
	// limit (sparse, so the test writes nothing).
	huge := filepath.Join(dir, "huge.trace")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(infile.MaxTrace + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for path, want := range map[string]string{
		"/dev/zero": "trace: /dev/zero: is a character device, not a regular file: name the trace itself",
		huge:        "trace: " + huge + ": larger than the 64 MiB limit of a trace",
	} {
		if _, err := Load(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", path, err, want)
		}
	}
}
