package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The work folder of a run holds what must not outlive it: the run's PKI (device and broker
// private keys), broker passwords and ingest tokens, the gateway's spool. It is private (0700)
// and removed when the run returns. A run killed with SIGKILL cannot remove it, so it names its
// owner, and the next run removes every work folder whose owner is gone.
const (
	workPrefix = "rig-run-"  // os.MkdirTemp pattern: only folders named so are ever swept
	ownerFile  = "rig-owner" // inside the work folder: which process owns it
)

// owner identifies a process across PID reuse: its PID, its start time (clock ticks after boot)
// and its PID namespace (a PID is only meaningful in its own).
type owner struct {
	pid   int
	start uint64
	pidNS string
}

func (o owner) String() string {
	return fmt.Sprintf("pid %d\nstart %d\npidns %s\n", o.pid, o.start, o.pidNS)
}

func parseOwner(b []byte) (owner, error) {
	var o owner
	var seen int
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(line, " ")
		var err error
		switch k {
		case "pid":
			o.pid, err = strconv.Atoi(v)
		case "start":
			o.start, err = strconv.ParseUint(v, 10, 64)
		case "pidns":
			o.pidNS = v
		default:
			continue
		}
		if err != nil {
			return o, fmt.Errorf("%s: %w", k, err)
		}
		seen++
	}
	if seen != 3 || o.pid <= 0 {
		return o, errors.New("want pid, start and pidns lines")
	}
	return o, nil
}

// makeWorkDir removes the work folders of killed runs, then creates this run's (0700) with its
// owner record.
func makeWorkDir(log *slog.Logger) (string, error) {
	sweepWorkDirs(os.TempDir(), log)
	self, err := ownerOf(os.Getpid())
	if err != nil {
		return "", fmt.Errorf("engine: identify this process for the work folder: %w", err)
	}
	dir, err := os.MkdirTemp("", workPrefix+"*")
	if err != nil {
		return "", fmt.Errorf("engine: create the work folder in %s: %w (set TMPDIR to a writable folder)", os.TempDir(), err)
	}
	if err := os.Chmod(dir, 0o700); err == nil {
		err = os.WriteFile(filepath.Join(dir, ownerFile), []byte(self.String()), 0o600)
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("engine: prepare the work folder %s: %w", dir, err)
	}
	return dir, nil
}

// sweepWorkDirs removes, below tmp, every folder named rig-run-* that this user owns, that is
// not a symbolic link, and whose owner record names a process that is gone. A folder without a
// readable record (an older rig's, or one being created right now) is left alone. It returns
// the removed folders; log (nil: none) gets one line for each.
func sweepWorkDirs(tmp string, log *slog.Logger) []string {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), workPrefix) {
			continue
		}
		dir := filepath.Join(tmp, e.Name())
		fi, err := os.Lstat(dir)
		if err != nil || !fi.IsDir() || !ownedByMe(fi) {
			continue
		}
		rec := filepath.Join(dir, ownerFile)
		if ri, err := os.Lstat(rec); err != nil || !ri.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(rec)
		if err != nil {
			continue
		}
		o, err := parseOwner(b)
		if err != nil || !gone(o) {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			if log != nil {
				log.Warn("cannot remove the work folder of a killed run", "dir", dir, "err", err)
			}
			continue
		}
		if log != nil {
			log.Info("removed the work folder of a killed run", "dir", dir, "pid", o.pid)
		}
		removed = append(removed, dir)
	}
	return removed
}
