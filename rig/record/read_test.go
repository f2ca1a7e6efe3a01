//go:build unix

package record

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pathrig/rig/rig/infile"
)

// A baseline (rig delta, rig run --baseline) is read bounded and only from a regular file.
func TestReadRunRefuses(t *testing.T) {
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge", RunFile) // sparse: no disk used
	if err := os.MkdirAll(filepath.Dir(huge), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(infile.MaxRunRecord + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	dev := filepath.Join(dir, "dev")
	if err := os.MkdirAll(dev, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dev, RunFile)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		want       error
		msg        string
	}{
		{"device as the file", "/dev/zero", infile.ErrNotRegular, "record: /dev/zero: is a character device, not a regular file: name the run record itself"},
		{"device in a run folder", dev, infile.ErrNotRegular, filepath.Join(dev, RunFile) + ": is a character device"},
		{"over the limit", filepath.Dir(huge), infile.ErrTooLarge, huge + ": larger than the 64 MiB limit of a run record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadRun(tc.path)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
}
