package devicecerts_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/checks/devicecerts"
)

// TestInventoryRefusesWhatIsNotAFile: a FIFO or an oversized file in the inventory folder is an
// error naming it, returned at once (a FIFO opened for reading would block until a writer came).
func TestInventoryRefusesWhatIsNotAFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(path string) error
		want string
	}{
		{"fifo", func(p string) error { return syscall.Mkfifo(p, 0o600) }, "not a regular file"},
		{"oversized", func(p string) error {
			f, err := os.Create(p)
			if err != nil {
				return err
			}
			defer f.Close()
			return f.Truncate(5 << 20) // sparse: above infile.MaxPEM
		}, "larger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "device-7.pem")
			if err := tc.make(p); err != nil {
				t.Skipf("cannot make the file: %v", err)
			}
			done := make(chan error, 1)
			go func() { _, err := devicecerts.LoadInventory(dir); done <- err }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "device-7.pem") || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("LoadInventory = %v, want an error naming device-7.pem and %q", err, tc.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("LoadInventory blocked on the file")
			}
		})
	}
}
