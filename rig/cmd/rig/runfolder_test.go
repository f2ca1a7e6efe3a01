package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestDefaultRunFolderName(t *testing.T) {
	for _, tc := range []struct{ name, scenario, profile, want string }{
		{"plain", "audit-baseline", "hardened", "audit-baseline-hardened"},
		{"dot-dot climbs", "../../../../outside", "external", "outside-external"},
		{"absolute path", "/etc/cron.d/x", "p", "etc-cron.d-x-p"},
		{"backslashes", `..\..\win`, "p", "win-p"},
		{"spaces and unicode", "Acme bench · A", "exposed", "Acme-bench-A-exposed"},
		{"only dots", "..", "..", "run"},
		{"hidden", ".rig", "p", "rig-p"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runFolderName(tc.scenario, tc.profile)
			if got != tc.want {
				t.Errorf("runFolderName(%q, %q) = %q, want %q", tc.scenario, tc.profile, got, tc.want)
			}
			if !filepath.IsLocal(got) || filepath.Base(got) != got {
				t.Errorf("%q is not one local path element", got)
			}
		})
	}
}

// TestRunFolderStaysUnderRoot: a scenario named "../../../../outside", run without --out, writes
// its run folder below out/runs of the working folder and nowhere else.
func TestRunFolderStaysUnderRoot(t *testing.T) {
	top := t.TempDir()
	work := filepath.Join(top, "a", "b", "c", "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	sc := filepath.Join(top, "outside.yaml")
	body := "name: \"../../../../outside\"\nchecks: [device-certs]\ntargets:\n  management: [\"http://127.0.0.1:1/\"]\n"
	if err := os.WriteFile(sc, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(work)
	if got := execute(context.Background(), []string{"run", sc, "-q", "--log-level", "error"}); got != exitOK {
		t.Fatalf("run exited %d", got)
	}
	var dirs []string
	filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "run.json" {
			dirs = append(dirs, filepath.Dir(p))
		}
		return err
	})
	want := filepath.Join(work, "out", "runs", "outside-external")
	if len(dirs) != 1 || dirs[0] != want {
		t.Errorf("run folders %v, want exactly %s", dirs, want)
	}
}
