package qemu

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStartErrors: a missing QEMU, a missing image and an image QEMU cannot load are clear errors,
// and nothing is left running.
func TestStartErrors(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), "garbage.elf")
	if err := os.WriteFile(garbage, []byte("not an ELF file"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, qemuErr := exec.LookPath(DefaultBinary)
	firmwarePath := func(t *testing.T) string {
		if qemuErr != nil {
			return garbage
		}
		return firmware(t)
	}
	for _, tc := range []struct {
		name      string
		cfg       Config
		needQEMU  bool
		wantIs    error
		wantInMsg string
	}{
		{"no qemu binary", Config{Binary: "no-such-qemu-system-arm", Image: garbage}, false, ErrNotInstalled, "apt-get install qemu-system-arm"},
		{"no image", Config{Image: filepath.Join(t.TempDir(), "fw.elf")}, true, nil, "make firmware"},
		{"not an ELF image", Config{Image: garbage}, true, nil, "not an ARM ELF file"},
		{"machine QEMU does not have", Config{Image: firmwarePath(t), Machine: "no-such-board"}, true, nil, "exited while starting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needQEMU && qemuErr != nil {
				skip(t, "%v", ErrNotInstalled)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			m, err := Start(ctx, tc.cfg)
			if err == nil {
				m.Close()
				t.Fatal("Start succeeded")
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v is not %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantInMsg) {
				t.Errorf("error %q does not say %q", err, tc.wantInMsg)
			}
		})
	}
}
