package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"testing"
)

// TestVersionJSON: `rig version --json` prints exactly {"version","commit","date","go"}; the
// Debian package's version (tools/dist) is made from it.
func TestVersionJSON(t *testing.T) {
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"version", "--json"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("not a JSON object of strings: %v\n%s", err, out.String())
	}
	if len(got) != 4 {
		t.Errorf("keys = %v, want version, commit, date, go", got)
	}
	for _, k := range []string{"version", "commit", "date"} {
		if got[k] == "" {
			t.Errorf("%s is empty in %s", k, out.String())
		}
	}
	if got["go"] != runtime.Version() {
		t.Errorf("go = %q, want %q", got["go"], runtime.Version())
	}
}
