package qemu

import (
	"encoding/json"
	"testing"
)

// FuzzParseQMP: a line from QEMU's monitor socket either decodes into a message or is refused
// with an error; only valid JSON is accepted, and never a crash.
func FuzzParseQMP(f *testing.F) {
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := parseQMP(line)
		if err != nil {
			return
		}
		if !json.Valid(line) {
			t.Fatalf("accepted invalid JSON %q", line)
		}
		if m.Return != nil && !json.Valid(m.Return) {
			t.Fatalf("return %q is not JSON", m.Return)
		}
		if m.Error != nil {
			_ = m.Error.Class + m.Error.Desc // what command reports
		}
	})
}
