//go:build unix

package stack

import (
	"fmt"
	"syscall"
)

// ensureDescriptors raises the process's RLIMIT_NOFILE so that need descriptors fit: the soft
// limit up to the hard one (Go already does this at start on Linux), and the hard one as well
// when the rig may (root, CAP_SYS_RESOURCE). It errs, naming the need, when the limit stays short:
// a fleet must not fail halfway through start-up with "too many open files".
func ensureDescriptors(need uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("stack: read the descriptor limit (RLIMIT_NOFILE): %w", err)
	}
	if lim.Cur >= need {
		return nil
	}
	if lim.Max < need {
		// Raising the hard limit needs privilege; try, and fall back to the hard limit.
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: need, Max: need}); err == nil {
			return nil
		}
	}
	raised := min(need, lim.Max)
	if raised > lim.Cur {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: raised, Max: lim.Max}); err != nil {
			return fmt.Errorf("stack: raise the descriptor limit from %d to %d: %w", lim.Cur, raised, err)
		}
	}
	if raised < need {
		return fmt.Errorf("stack: this run needs about %d file descriptors and the hard limit is %d (raise it: `ulimit -Hn %d` as root before the run, or LimitNOFILE=%d in a systemd unit; or run fewer fleet.devices)", need, lim.Max, need, need)
	}
	return nil
}
