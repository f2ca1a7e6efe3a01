package engine

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/delta"
	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/scenarios"
)

func plan(t *testing.T, name, profile string) *scenario.Plan {
	t.Helper()
	var ids []string
	for _, c := range checks.All() {
		ids = append(ids, c.ID)
	}
	p, err := scenario.Library{Embedded: scenarios.FS}.Load(name, profile, ids)
	if err != nil {
		t.Fatalf("load %s/%s: %v", name, profile, err)
	}
	return p
}

func runPlan(t *testing.T, p *scenario.Plan) (*record.Run, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), p.Profile.Name)
	run, err := Run(context.Background(), p, Options{Out: out, Version: "test"})
	if err != nil {
		t.Fatalf("run %s/%s: %v", p.Scenario.Name, p.Profile.Name, err)
	}
	onDisk, err := record.ReadRun(out)
	if err != nil {
		t.Fatalf("read back run.json: %v", err)
	}
	if onDisk.Summary != run.Summary || len(onDisk.Results) != len(run.Results) {
		t.Errorf("run.json differs from the returned record")
	}
	return run, out
}

// TestAuditStory runs the audit-baseline scenario against the live reference stack in both
// hardening states: every control fails on the exposed path except runtime health, every control
// passes on the hardened one, and the delta improves exactly the baseline's findings.
func TestAuditStory(t *testing.T) {
	exposed, exposedDir := runPlan(t, plan(t, "audit-baseline", ""))
	hardened, hardenedDir := runPlan(t, plan(t, "audit-baseline", "hardened"))

	cat, err := checks.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, c := range cat {
		for _, id := range exposed.Checks {
			if c.Check == id {
				want[c.ID] = true
			}
		}
	}
	for name, run := range map[string]*record.Run{"exposed": exposed, "hardened": hardened} {
		if len(run.Results) != len(want) {
			t.Errorf("%s: %d results, want one per control of the bundle (%d)", name, len(run.Results), len(want))
		}
		for _, r := range run.Results {
			wantStatus := record.StatusPass
			if name == "exposed" && r.Control != "GUARD-HEALTH" {
				wantStatus = record.StatusFail
			}
			if r.Status != wantStatus {
				t.Errorf("%s: %s = %s (%s), want %s", name, r.Control, r.Status, r.Reason, wantStatus)
			}
			if len(r.Evidence) == 0 {
				t.Errorf("%s: %s has no evidence", name, r.Control)
			}
			for _, e := range r.Evidence {
				dir := exposedDir
				if name == "hardened" {
					dir = hardenedDir
				}
				if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(e))); err != nil {
					t.Errorf("%s: %s evidence %s: %v", name, r.Control, e, err)
				}
			}
		}
	}
	if exposed.Summary.Findings != len(want)-1 || !strings.HasPrefix(exposed.Summary.Headline, "Exposed posture") {
		t.Errorf("exposed summary = %+v", exposed.Summary)
	}
	if hardened.Summary.Findings != 0 || hardened.Summary.Headline != "Hardened path · 0 findings" {
		t.Errorf("hardened summary = %+v", hardened.Summary)
	}
	if exposed.Device == nil || exposed.Device.UID != "303030313233343536373839" {
		t.Errorf("device identity read over the UART = %+v", exposed.Device)
	}
	d := delta.Compare(exposed, hardened, exposedDir, hardenedDir)
	if d.Summary.Improved != exposed.Summary.Findings || d.Summary.Regressed != 0 {
		t.Errorf("delta = %+v, want improved %d and regressed 0", d.Summary, exposed.Summary.Findings)
	}
	back := delta.Compare(hardened, exposed, hardenedDir, exposedDir)
	if back.Summary.Regressed != exposed.Summary.Findings {
		t.Errorf("reverse delta regressed = %d, want %d", back.Summary.Regressed, exposed.Summary.Findings)
	}

	// No private key and no bearer token may reach any output file.
	leak := regexp.MustCompile(`PRIVATE KEY|(?i)bearer [0-9a-f]{8}`)
	for _, dir := range []string{exposedDir, hardenedDir} {
		filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Error(err)
			}
			if m := leak.Find(b); m != nil {
				t.Errorf("%s holds a secret-looking %q", p, m)
			}
			return nil
		})
	}
}

func TestRunRefusesNonEmptyFolder(t *testing.T) {
	out := t.TempDir()
	if err := os.WriteFile(filepath.Join(out, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), plan(t, "audit-baseline", ""), Options{Out: out})
	if !errors.Is(err, ErrUsage) {
		t.Fatalf("err = %v, want ErrUsage", err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "keep")); string(b) != "x" {
		t.Error("the existing file was touched")
	}
}
