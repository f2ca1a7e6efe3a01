package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: bad\nprofile: exposed\nbundles: [audit-baseline]\nlimits:\n  probe_timeot: 3s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(dir, "creds.yaml")
	if err := os.WriteFile(creds, []byte("name: creds\nchecks: [ingest-auth]\ntargets:\n  ingest:\n    url: https://user:s3cret@127.0.0.1:1/v1/telemetry\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Files that must be refused as configuration errors (exit 2) before they cost memory.
	files := map[string]string{
		"bomb.yaml":      "name: bomb\nprofile: exposed\nbundles: [audit-baseline]\ndescription:\n  - &a0 [x, x, x, x, x, x, x, x, x]\n",
		"empty.yaml":     "",
		"quoted.yaml":    "name: q\nprofile: exposed\nbundles: [audit-baseline]\nlimits:\n  oversize_bytes: \"4096\"\n",
		"token.yaml":     "name: t\nbundles: [audit-baseline]\ntargets:\n  ingest:\n    url: http://127.0.0.1:9/v1/telemetry\n    token: {file: /dev/zero}\n",
		"sample.yaml":    "name: t\nbundles: [audit-baseline]\ntargets:\n  ingest:\n    url: http://127.0.0.1:9/v1/telemetry\n    sample: /dev/zero\n",
		"unknown-b.yaml": "name: unknown-b\nchecks: [transport, tls-deep]\n",
	}
	for i := 1; i < 9; i++ { // 9^9 strings once expanded
		files["bomb.yaml"] += fmt.Sprintf("  - &a%d [%s]\n", i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 9), ", "))
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in := func(name string) string { return filepath.Join(dir, name) }
	base, hard, del := filepath.Join(dir, "base"), filepath.Join(dir, "hard"), filepath.Join(dir, "delta")
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"version", []string{"version"}, exitOK},
		{"checks json", []string{"checks", "--json"}, exitOK},
		{"unknown flag", []string{"run", "--nope", "audit-baseline"}, exitUsage},
		{"missing argument", []string{"run"}, exitUsage},
		{"unknown scenario", []string{"run", "no-such", "--out", filepath.Join(dir, "x")}, exitUsage},
		{"bad scenario file", []string{"run", bad, "--out", filepath.Join(dir, "never")}, exitUsage},
		{"credentials in the ingest url", []string{"run", creds, "--out", filepath.Join(dir, "never")}, exitUsage},
		{"alias bomb", []string{"run", in("bomb.yaml"), "--out", filepath.Join(dir, "never")}, exitUsage},
		{"empty scenario file", []string{"run", in("empty.yaml"), "--out", filepath.Join(dir, "never")}, exitUsage},
		{"integer in quotes", []string{"run", in("quoted.yaml"), "--out", filepath.Join(dir, "never")}, exitUsage},
		{"token file is a device", []string{"run", in("token.yaml"), "--out", filepath.Join(dir, "never")}, exitUsage},
		{"sample is a device", []string{"run", in("sample.yaml"), "--out", filepath.Join(dir, "never")}, exitUsage},
		{"baseline is a device", []string{"run", "audit-baseline", "--baseline", "/dev/zero", "--out", filepath.Join(dir, "never")}, exitUsage},
		{"bundle names an unknown check", []string{"run", "audit-baseline", "--bundle", in("unknown-b.yaml"), "--out", filepath.Join(dir, "never")}, exitUsage},
		{"delta of a device", []string{"delta", "/dev/zero", "/dev/zero", "--out", filepath.Join(dir, "never")}, exitUsage},
		{"bad fail-on", []string{"run", "audit-baseline", "--fail-on", "loud"}, exitUsage},
		{"bad device kind", []string{"run", "audit-baseline", "--device", "jtag", "--out", filepath.Join(dir, "dev")}, exitUsage},
		{"serial device without a port", []string{"run", "audit-baseline", "--device", "serial", "--out", filepath.Join(dir, "dev")}, exitUsage},
		{"qemu device without a firmware image", []string{"run", "audit-baseline", "-q", "--device", "qemu", "--out", filepath.Join(dir, "noimage")}, exitRunError},
		{"baseline", []string{"run", "audit-baseline", "-q", "--log-level", "error", "--out", base}, exitOK},
		{"baseline gated", []string{"run", "audit-baseline", "-q", "--log-level", "error", "--fail-on", "high", "--out", filepath.Join(dir, "gated")}, exitFindings},
		{"hardened gated", []string{"run", "audit-baseline", "-q", "--log-level", "error", "--profile", "hardened", "--fail-on", "low", "--out", hard}, exitOK},
		{"delta improves", []string{"delta", base, hard, "-q", "--out", del}, exitOK},
		{"delta regresses", []string{"delta", hard, base, "-q", "--out", filepath.Join(dir, "back")}, exitRegression},
		{"delta of a non-run", []string{"delta", dir, hard, "--out", filepath.Join(dir, "nope")}, exitUsage},
		{"non-empty out", []string{"run", "audit-baseline", "-q", "--out", base}, exitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := execute(context.Background(), tc.args); got != tc.want {
				t.Errorf("rig %v exited %d, want %d", tc.args, got, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "never")); !os.IsNotExist(err) {
		t.Errorf("a bad scenario file still created its run folder (stat: %v)", err)
	}
	for _, f := range []string{"base/run.json", "base/summary.md", "hard/run.json", "delta/delta.json", "delta/delta.md"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing output: %v", err)
		}
	}
}
