//go:build !linux

package main

import "os"

// isTerminal is false off Linux: the rig logs plain lines there.
func isTerminal(*os.File) bool { return false }
