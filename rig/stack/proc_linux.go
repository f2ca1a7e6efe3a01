//go:build linux

package stack

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill a gateway process if the rig dies without stopping it
// (SIGKILL, a crash), so no gateway keeps running on the work folder the next run sweeps.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
