//go:build !cgo

// Package cproto wraps the firmware's C protocol module with cgo; this build has no cgo, so
// Available is false and the tests skip.
package cproto

// Available reports whether the C module is built in (cgo with a C compiler).
const Available = false
