package engine

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSweepWorkDirs: a work folder whose run was killed (its owning process is gone, or its PID
// now belongs to another process) is removed on the next start; the folder of a live run, a
// folder without the owner record, a folder of another name and a symbolic link are left alone.
func TestSweepWorkDirs(t *testing.T) {
	tmp := t.TempDir()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	self, err := ownerOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name, owner string) string {
		t.Helper()
		d := filepath.Join(tmp, name)
		if err := os.MkdirAll(filepath.Join(d, "pki"), 0o700); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d, "pki", "device.key"), []byte("-----BEGIN EC PRIVATE KEY-----"), 0o600)
		if owner != "" {
			os.WriteFile(filepath.Join(d, ownerFile), []byte(owner), 0o600)
		}
		return d
	}
	target := mk("elsewhere", "")
	deadPID := owner{pid: gone.Process.Pid, start: 1, pidNS: self.pidNS}.String()
	for _, tc := range []struct{ dir, owner string }{
		{workPrefix + "gone", deadPID}, // owner exited
		{workPrefix + "reused", owner{pid: os.Getpid(), start: 1, pidNS: self.pidNS}.String()},      // PID now another process's
		{workPrefix + "alive", self.String()},                                                       // this process
		{workPrefix + "otherns", owner{pid: gone.Process.Pid, start: 1, pidNS: "pid:[1]"}.String()}, // cannot be judged here
		{workPrefix + "unknown", ""},                                                                // no owner record
		{workPrefix + "garbled", "pid x\n"},                                                         // unreadable record
		{"not-rig-gone", deadPID},                                                                   // another name
	} {
		mk(tc.dir, tc.owner)
	}
	if err := os.Symlink(target, filepath.Join(tmp, workPrefix+"link")); err != nil {
		t.Fatal(err)
	}
	removed := sweepWorkDirs(tmp, nil)
	want := map[string]bool{workPrefix + "gone": true, workPrefix + "reused": true}
	for _, name := range []string{workPrefix + "gone", workPrefix + "reused", workPrefix + "alive", workPrefix + "otherns", workPrefix + "unknown", workPrefix + "garbled", "not-rig-gone", workPrefix + "link", "elsewhere"} {
		_, err := os.Lstat(filepath.Join(tmp, name))
		if exists := err == nil; exists == want[name] {
			t.Errorf("%s: exists = %v after the sweep, want %v", name, exists, !want[name])
		}
	}
	if len(removed) != 2 {
		t.Errorf("sweep reports %v, want the 2 removed folders", removed)
	}
	if _, err := os.Stat(filepath.Join(target, "pki", "device.key")); err != nil {
		t.Errorf("the symbolic link's target lost its files: %v", err)
	}
}

// TestWorkDirPrivateAndRemoved: during a run the work folder (which holds the device's private
// key and the broker passwords) is 0700 and names its owner; after the run it is gone.
func TestWorkDirPrivateAndRemoved(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var during []string
	var mode os.FileMode
	var owner []byte
	out := filepath.Join(t.TempDir(), "run")
	_, err := Run(t.Context(), plan(t, "audit-baseline", "hardened"), Options{Out: out, OnSecrets: func([]string) {
		if during != nil {
			return
		}
		during, _ = filepath.Glob(filepath.Join(tmp, workPrefix+"*"))
		if len(during) == 1 {
			if fi, err := os.Stat(during[0]); err == nil {
				mode = fi.Mode().Perm()
			}
			owner, _ = os.ReadFile(filepath.Join(during[0], ownerFile))
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(during) != 1 {
		t.Fatalf("work folders during the run: %v, want one in %s", during, tmp)
	}
	if mode != 0o700 {
		t.Errorf("work folder mode %v, want 0700", mode)
	}
	if self, _ := ownerOf(os.Getpid()); string(owner) != self.String() {
		t.Errorf("owner record %q, want %q", owner, self.String())
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, workPrefix+"*")); len(left) != 0 {
		t.Errorf("work folders left after the run: %v", left)
	}
}

// TestPrepareOut: a run (or delta) folder must be new or empty; one that holds only empty
// directories, as a run killed or failed before its first file leaves it (evidence/), counts as
// empty, and those directories are removed so the new run's manifest covers every directory.
func TestPrepareOut(t *testing.T) {
	for _, tc := range []struct {
		name   string
		make   func(t *testing.T, dir string)
		refuse string // "" when accepted
	}{
		{"absent", func(t *testing.T, dir string) { os.Remove(dir) }, ""},
		{"empty", func(*testing.T, string) {}, ""},
		{"empty evidence folder left by a failed run", func(t *testing.T, dir string) {
			os.MkdirAll(filepath.Join(dir, "evidence", "TRUST-LOSS"), 0o755)
			os.MkdirAll(filepath.Join(dir, "delta"), 0o755)
		}, ""},
		{"a user's file", func(t *testing.T, dir string) { os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644) }, "notes.txt"},
		{"a file deep in empty folders", func(t *testing.T, dir string) {
			os.MkdirAll(filepath.Join(dir, "evidence", "X"), 0o755)
			os.WriteFile(filepath.Join(dir, "evidence", "X", "probe.json"), []byte("{}"), 0o644)
		}, filepath.Join("evidence", "X", "probe.json")},
		{"a symbolic link", func(t *testing.T, dir string) { os.Symlink("/", filepath.Join(dir, "root")) }, "root"},
		{"a file, not a folder", func(t *testing.T, dir string) {
			os.Remove(dir)
			os.WriteFile(dir, []byte("x"), 0o644)
		}, "not a folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			os.Mkdir(dir, 0o755)
			tc.make(t, dir)
			err := PrepareOut(dir)
			if tc.refuse == "" {
				if err != nil {
					t.Fatalf("PrepareOut = %v, want nil", err)
				}
				if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
					t.Errorf("after PrepareOut: %v entries (%v), want an empty folder", len(entries), err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrUsage) {
				t.Fatalf("PrepareOut = %v, want a usage error", err)
			}
			if !strings.Contains(err.Error(), tc.refuse) {
				t.Errorf("error %q does not name %q", err, tc.refuse)
			}
		})
	}
}
