package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestMain lets a test start this test binary as the rig itself (RIG_TEST_AS_RIG=1), so a test
// can kill a real rig process.
func TestMain(m *testing.M) {
	if os.Getenv("RIG_TEST_AS_RIG") == "1" {
		os.Exit(execute(context.Background(), os.Args[1:]))
	}
	os.Exit(m.Run())
}

// TestKilledRun: a run killed with SIGKILL leaves its work folder (with the run's private keys)
// and an empty evidence/ behind; the next run in the same output folder is not blocked by the
// empty folders, and removes the killed run's work folder.
func TestKilledRun(t *testing.T) {
	tmp := t.TempDir()
	out := filepath.Join(t.TempDir(), "run")
	cmd := exec.Command(os.Args[0], "run", "audit-baseline", "--profile", "hardened", "-q", "--log-level", "error", "--out", out)
	cmd.Env = append(os.Environ(), "RIG_TEST_AS_RIG=1", "TMPDIR="+tmp)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it as soon as its work folder names its owner: the stack is starting, no evidence yet.
	var work string
	for deadline := time.Now().Add(20 * time.Second); work == "" && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if m, _ := filepath.Glob(filepath.Join(tmp, "rig-run-*", "rig-owner")); len(m) == 1 {
			work = filepath.Dir(m[0])
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if work == "" {
		t.Fatalf("no work folder with an owner record appeared in %s; rig said: %s", tmp, stderr.String())
	}
	if fi, err := os.Stat(work); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("the killed run's work folder: %v, want it left behind with mode 0700 (%v)", fi, err)
	}
	var files []string
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) > 0 {
		t.Skipf("the run was killed after it wrote %v: too late for this test (slow machine?)", files)
	}

	t.Setenv("TMPDIR", tmp)
	if got := execute(context.Background(), []string{"run", "audit-baseline", "-q", "--log-level", "error", "--out", out}); got != exitOK {
		t.Fatalf("the rerun in the killed run's output folder exited %d, want 0", got)
	}
	if _, err := os.Stat(work); !os.IsNotExist(err) {
		t.Errorf("the killed run's work folder %s is still there after the next run (stat: %v)", work, err)
	}
	if got := execute(context.Background(), []string{"verify", out}); got != exitOK {
		t.Errorf("verify of the rerun exited %d", got)
	}
}
