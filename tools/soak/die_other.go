//go:build !linux

package main

import (
	"os/exec"
	"syscall"
)

// onParentDeath: outside Linux there is no parent-death signal; soak stops its children itself
// (on return, SIGINT and SIGTERM), not when it is killed.
func onParentDeath(*exec.Cmd, syscall.Signal) {}
