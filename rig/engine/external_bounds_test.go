package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/scenarios"
)

// The files targets name are checked at load, and read bounded when the run starts: a file that
// became a device or grew past its limit in between is refused with the file and the limit, as
// a configuration error, and nothing is created.
func TestExternalFilesReadBounded(t *testing.T) {
	for _, tc := range []struct {
		name    string
		swap    func(t *testing.T, path string) // what happens to the file after Load
		file    string
		wantMsg string
	}{
		{"token grew", func(t *testing.T, p string) { writeTargetFile(t, p, strings.Repeat("x", 64<<10+1)) }, "token",
			"field targets.ingest.token.file: read %s: %s: larger than the 64 KiB limit of a secret file"},
		{"token became a device", func(t *testing.T, p string) { symlinkTargetFile(t, "/dev/zero", p) }, "token",
			"field targets.ingest.token.file: read %s: %s: is a character device, not a regular file"},
		{"sample became a device", func(t *testing.T, p string) { symlinkTargetFile(t, "/dev/zero", p) }, "sample.json",
			"field targets.ingest.sample: read %s: %s: is a character device"},
		{"sample grew", func(t *testing.T, p string) { writeTargetFile(t, p, strings.Repeat(" ", 1<<20+1)) }, "sample.json",
			"larger than the 1 MiB limit of a sample request body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTargetFile(t, filepath.Join(dir, "token"), "tok\n")
			writeTargetFile(t, filepath.Join(dir, "sample.json"), "{}")
			sc := filepath.Join(dir, "s.yaml")
			writeTargetFile(t, sc, "name: ext\nbundles: [audit-baseline]\ntargets:\n  ingest:\n    url: http://127.0.0.1:9/v1/telemetry\n    token: {file: token}\n    sample: sample.json\n")
			var ids []string
			for _, c := range checks.All() {
				ids = append(ids, c.ID)
			}
			plan, err := scenario.Library{Embedded: scenarios.FS}.Load(sc, "", ids)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, tc.file)
			tc.swap(t, p)
			out := filepath.Join(dir, "out")
			_, err = Run(context.Background(), plan, Options{Out: out})
			if !errors.Is(err, ErrUsage) {
				t.Fatalf("Run = %v, want a usage error", err)
			}
			want := tc.wantMsg
			if strings.Contains(want, "%s") {
				want = strings.ReplaceAll(want, "%s", p)
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("the run folder was created (stat: %v)", err)
			}
		})
	}
}

func writeTargetFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func symlinkTargetFile(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}
