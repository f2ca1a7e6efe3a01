//go:build unix

package stack

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
)

// TestEnsureDescriptors: a need the limit covers passes; a need above what the kernel lets any
// process have (fs.nr_open, 2^20 by default) is an error naming the need and the hard limit.
func TestEnsureDescriptors(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		need    uint64
		wantErr []string
	}{
		{name: "within the soft limit", need: 64},
		{name: "beyond any limit", need: 1 << 31, wantErr: []string{"needs about 2147483648 file descriptors", "ulimit -Hn 2147483648"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ensureDescriptors(tt.need)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("ensureDescriptors(%d): %v, want nil", tt.need, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ensureDescriptors(%d): nil, want an error", tt.need)
			}
			for _, w := range append(tt.wantErr, fmt.Sprintf("hard limit is %d", lim.Max)) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
