//go:build linux

package qemu

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill QEMU if the rig dies without closing it (SIGKILL, a crash),
// so no board keeps running, and holding its pty, after the run.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
