//go:build !linux

package main

import "os/exec"

// dieWithParent: outside Linux the burners are stopped by soak only (no parent-death signal).
func dieWithParent(*exec.Cmd) {}
