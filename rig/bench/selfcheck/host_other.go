//go:build !linux

package selfcheck

import "errors"

var errNotLinux = errors.New("only on Linux")

func adjtimex() (int, int32, error) { return 0, 0, errNotLinux }

func statfs(string) (uint64, uint64, error) { return 0, 0, errNotLinux }
