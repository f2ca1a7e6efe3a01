package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/pathrig/rig/rig/bench"
	"github.com/pathrig/rig/rig/bench/selfcheck"
)

// TestBenchCheckEmulated: `rig bench check --emulate --json` checks the emulator through the real
// serial driver; its device and line items pass, and the exit code is 1 exactly when the report
// is not OK (the host items look at this machine, which may have no udev rule or unit).
func TestBenchCheckEmulated(t *testing.T) {
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"bench", "check", "--emulate", "--json", "--log-level", "error"})
	err := root.ExecuteContext(context.Background())
	var rep selfcheck.Report
	if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
		t.Fatalf("not JSON: %v\n%s", jerr, out.String())
	}
	if rep.Schema != selfcheck.Schema || len(rep.Items) != len(selfcheck.Items) {
		t.Errorf("report: schema %q, %d items", rep.Schema, len(rep.Items))
	}
	for _, it := range rep.Items {
		switch it.ID {
		case "serial-port", "device-answers", "gpio-chip", "reset-line", "boot0-line", "power-line":
			if it.Status != selfcheck.Pass {
				t.Errorf("%s: %s %s", it.ID, it.Status, it.Detail)
			}
		}
	}
	code := exitOK
	if ee, ok := err.(*exitError); ok {
		code = ee.code
	}
	if want := map[bool]int{true: exitOK, false: exitFindings}[rep.Summary.OK]; code != want {
		t.Errorf("exit %d with summary %+v, want %d", code, rep.Summary, want)
	}
}

// TestBenchCheckUsage: a bad bench file or contradictory flags are usage errors (exit 2), and the
// bench file the package ships as /etc/rig/bench.yaml is valid.
func TestBenchCheckUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bench.yaml")
	os.WriteFile(bad, []byte("name: b\nserial: {port: /dev/ttyAMA0, baud: 300}\n"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"bench file missing", []string{"bench", "check", "--bench", filepath.Join(dir, "none.yaml")}},
		{"bench file invalid", []string{"bench", "check", "--bench", bad}},
		{"emulate and a bench file", []string{"bench", "check", "--emulate", "--bench", bad}},
		{"pings out of range", []string{"bench", "check", "--emulate", "--pings", "0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := execute(context.Background(), tc.args); got != exitUsage {
				t.Errorf("rig %v exited %d, want %d", tc.args, got, exitUsage)
			}
		})
	}
	b, err := bench.Load("../../../deploy/bench.yaml")
	if err != nil {
		t.Fatalf("the packaged bench file: %v", err)
	}
	if b.Serial.Port != selfcheck.DefaultLink || b.GPIO.Chip != bench.DefaultChip || b.GPIO.Reset == nil || b.GPIO.Boot0 == nil {
		t.Errorf("the packaged bench file is not docs/bench.md wiring table: %+v", b)
	}
}
