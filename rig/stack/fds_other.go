//go:build !unix

package stack

func ensureDescriptors(uint64) error { return nil }
