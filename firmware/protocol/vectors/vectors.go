// Package vectors reads the shared wire-protocol test vectors (firmware/protocol/testdata/
// vectors.txt) for the tests of every implementation of protocol v1: the Go codec, the emulator,
// the gateway and the C firmware (which parses the same file in C).
package vectors

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Vector is one line of vectors.txt.
type Vector struct {
	Line   int
	Name   string
	Expect []string // decoder outcomes in order: "ok" or "err:<reason>"; empty for "none"
	Wire   []byte
	Fields map[string]string // key=value fields describing the last "ok" frame
}

// Errors returns the reasons of the vector's bad-frame outcomes, in order.
func (v Vector) Errors() []string {
	var out []string
	for _, e := range v.Expect {
		if r, ok := strings.CutPrefix(e, "err:"); ok {
			out = append(out, r)
		}
	}
	return out
}

// OnlyErrors reports whether every outcome of the vector is a bad frame (and there is at least
// one): such wire bytes can be injected into a live link without adding frames of their own.
func (v Vector) OnlyErrors() bool { return len(v.Expect) > 0 && len(v.Errors()) == len(v.Expect) }

// Path is the location of vectors.txt in the source tree.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "vectors.txt")
}

// Load reads the vectors at path.
func Load(path string) ([]Vector, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vectors: %w", err)
	}
	defer f.Close()
	var vs []Vector
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), 4096)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, " ")
		if len(parts) < 3 {
			return nil, fmt.Errorf("vectors: %s:%d: want <name> <expect> <wire-hex> [k=v...], got %q", path, n, line)
		}
		v := Vector{Line: n, Name: parts[0], Fields: map[string]string{}}
		if parts[1] != "none" {
			v.Expect = strings.Split(parts[1], ",")
		}
		if v.Wire, err = hex.DecodeString(parts[2]); err != nil {
			return nil, fmt.Errorf("vectors: %s:%d: wire-hex: %w", path, n, err)
		}
		for _, kv := range parts[3:] {
			k, val, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("vectors: %s:%d: field %q is not key=value", path, n, kv)
			}
			v.Fields[k] = val
		}
		vs = append(vs, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("vectors: read %s: %w", path, err)
	}
	return vs, nil
}
