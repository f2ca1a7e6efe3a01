package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// ownerOf reads pid's start time from /proc/PID/stat (field 22, after the parenthesised
// command name, which may itself hold spaces and parentheses) and its PID namespace.
func ownerOf(pid int) (owner, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return owner{}, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return owner{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return owner{}, fmt.Errorf("/proc/%d/stat: %d fields after the command name, want 20 or more", pid, len(f))
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return owner{}, fmt.Errorf("/proc/%d/stat: start time: %w", pid, err)
	}
	ns, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/pid")
	if err != nil {
		return owner{}, err
	}
	return owner{pid: pid, start: start, pidNS: ns}, nil
}

// gone reports whether o's process no longer exists: no such PID, or the PID now belongs to a
// process started at another time. A record from another PID namespace (a container sharing
// /tmp) cannot be judged from here and is never gone.
func gone(o owner) bool {
	self, err := ownerOf(os.Getpid())
	if err != nil || self.pidNS != o.pidNS {
		return false
	}
	cur, err := ownerOf(o.pid)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	return err == nil && cur.start != o.start
}

// ownedByMe reports whether fi belongs to this process's user.
func ownedByMe(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid()
}
