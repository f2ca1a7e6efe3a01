package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill c when soak dies, even by SIGKILL.
func dieWithParent(c *exec.Cmd) {
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
