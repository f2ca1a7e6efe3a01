package main

import (
	"os/exec"
	"syscall"
)

// onParentDeath has the kernel send sig to c when soak dies, even by SIGKILL: the busy loops get
// SIGKILL, the rig SIGTERM (it then stops its run and removes its work folder).
func onParentDeath(c *exec.Cmd, sig syscall.Signal) {
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: sig}
}
