package stack

import (
	"bytes"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pathrig/rig/rig/ingest"
)

// DefaultMinFree is the free space the rig wants in its work folder (store, spools) at the end
// of a run; below it the run's measurements may be the rig's own failure.
const DefaultMinFree = 16 << 20

// OwnFailures lists what went wrong on the rig's side of the run — its ingest store or a
// gateway's spool failing to write, its work folder (nearly) full — so that a loss it caused is
// reported as the rig's error, never as a finding against the path.
func (s *Stack) OwnFailures() []string {
	var out []string
	s.mu.Lock()
	storeErrs := s.storeErrors + s.ingest.Rejected()[ingest.ReasonStoreError]
	s.mu.Unlock()
	if storeErrs > 0 {
		out = append(out, fmt.Sprintf("the rig's ingest store failed %d writes (answered 500 %q)", storeErrs, ingest.ReasonStoreError))
	}
	for _, u := range s.units {
		if g := u.Gateway(); g != nil {
			if n := g.Stats().SpoolErrors; n > 0 {
				out = append(out, fmt.Sprintf("gateway of %s: %d spool writes failed", u.ID, n))
			}
		}
	}
	for id, b := range s.GatewayLogs() {
		if n := bytes.Count(b, []byte("spool write failed")); n > 0 {
			out = append(out, fmt.Sprintf("gateway process of %s: %d spool writes failed (see its log)", id, n))
		}
	}
	min := s.cfg.MinFree
	if min == 0 {
		min = DefaultMinFree
	}
	var st unix.Statfs_t
	if err := unix.Statfs(s.cfg.WorkDir, &st); err == nil {
		if free := uint64(st.Bavail) * uint64(st.Bsize); free < uint64(min) {
			out = append(out, fmt.Sprintf("the rig's work folder %s has %d bytes free, less than %d (free space for the store and the spools, or set TMPDIR to a larger disk)", s.cfg.WorkDir, free, min))
		}
	}
	return out
}

func ownError(fails []string) error {
	return fmt.Errorf("the rig's own side failed during the run, so the path was not measured: %s", strings.Join(fails, "; "))
}
