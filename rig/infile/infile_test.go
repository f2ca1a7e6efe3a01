//go:build unix

package infile

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, n int) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Repeat("x", n)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		path    string
		limit   int64
		wantLen int
		wantErr error  // nil: success
		wantMsg string // in the error
	}{
		{"under the limit", write("small", 10), 100, 10, nil, ""},
		{"at the limit", write("exact", 100), 100, 100, nil, ""},
		{"empty", write("empty", 0), 100, 0, nil, ""},
		{"over the limit", write("big", 101), 100, 0, ErrTooLarge, "larger than the 100 bytes limit of a test file (it holds 101 bytes)"},
		{"device", "/dev/zero", 1 << 20, 0, ErrNotRegular, "/dev/zero: is a character device, not a regular file: name the test file itself"},
		{"folder", dir, 1 << 20, 0, ErrNotRegular, "is a folder"},
		{"named pipe", fifo, 1 << 20, 0, ErrNotRegular, "is a named pipe"},
		{"missing", filepath.Join(dir, "nope"), 100, 0, os.ErrNotExist, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Read(tc.path, "test file", tc.limit)
			if tc.wantErr == nil {
				if err != nil || len(b) != tc.wantLen {
					t.Fatalf("got %d bytes, err %v; want %d bytes", len(b), err, tc.wantLen)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) || !strings.Contains(err.Error(), tc.path) {
				t.Fatalf("err = %v; want %v naming %s and containing %q", err, tc.wantErr, tc.path, tc.wantMsg)
			}
		})
	}
}

// A file that grows past the limit after the stat is still refused, and reading /dev/zero-like
// input never allocates more than the limit.
func TestReadBoundedAllocation(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 10 {
		if _, err := Read("/dev/zero", "test file", 1<<20); !errors.Is(err, ErrNotRegular) {
			t.Fatalf("err = %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("refusing /dev/zero 10 times allocated %d bytes", d)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{1 << 20: "1 MiB", 64 << 10: "64 KiB", 1500: "1500 bytes", 3 << 30: "3 GiB", 1<<20 + 1: "1048577 bytes"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestOpen: a file read in place (a binary's sections) is refused like Read refuses it; the size
// returned bounds what is read.
func TestOpen(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bin")
	if err := os.WriteFile(p, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, size, err := Open(p, "binary", 10)
	if err != nil || size != 10 {
		t.Fatalf("Open: size %d, err %v", size, err)
	}
	f.Close()
	for name, tc := range map[string]struct {
		path  string
		limit int64
		want  error
	}{
		"over the limit": {p, 9, ErrTooLarge},
		"device":         {"/dev/zero", 1 << 20, ErrNotRegular},
		"folder":         {dir, 1 << 20, ErrNotRegular},
		"missing":        {filepath.Join(dir, "nope"), 10, os.ErrNotExist},
	} {
		if f, _, err := Open(tc.path, "binary", tc.limit); !errors.Is(err, tc.want) || f != nil {
			t.Errorf("%s: err %v, want %v", name, err, tc.want)
		}
	}
}

// TestReadFS: a file of an fs.FS (an embedded tree, a folder through os.DirFS) is read bounded,
// regular files only.
func TestReadFS(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	fsys := os.DirFS(dir)
	if b, err := ReadFS(fsys, "a.json", "db/a.json", "entry", 2); err != nil || string(b) != "{}" {
		t.Fatalf("ReadFS: %q %v", b, err)
	}
	if _, err := ReadFS(fsys, "a.json", "db/a.json", "entry", 1); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "db/a.json") {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := ReadFS(fsys, "sub", "db/sub", "entry", 10); !errors.Is(err, ErrNotRegular) {
		t.Errorf("folder: %v", err)
	}
}
