package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pathrig/rig/rig/record"
)

// writeTrustRun writes a run.json with the two telemetry-trust controls soak reads.
func writeTrustRun(t *testing.T, dir string, sent, lost, dups int) {
	t.Helper()
	status := func(bad bool) record.Status {
		if bad {
			return record.StatusFail
		}
		return record.StatusPass
	}
	obs := map[string]any{"sent": sent, "lost": lost, "stored_duplicates": dups}
	if lost > 0 {
		obs["lost_during"] = map[string]int{"network-loss@3s": lost}
	}
	r := &record.Run{Schema: record.SchemaRun, Scenario: "telemetry-trust", Profile: "hardened-durable", Results: []record.Result{
		{Control: ctlLoss, Status: status(lost > 0), Observed: obs},
		{Control: ctlDuplicates, Status: status(dups > 0), Observed: obs},
	}}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := record.WriteJSON(filepath.Join(dir, record.RunFile), r); err != nil {
		t.Fatal(err)
	}
}

func TestReadFigures(t *testing.T) {
	dir := t.TempDir()
	writeTrustRun(t, filepath.Join(dir, "lossy"), 570, 1, 2)
	other := &record.Run{Schema: record.SchemaRun, Results: []record.Result{{Control: "TRANSPORT-PLAINTEXT", Status: record.StatusPass}}}
	os.MkdirAll(filepath.Join(dir, "other"), 0o755)
	record.WriteJSON(filepath.Join(dir, "other", record.RunFile), other)
	noCounts := &record.Run{Schema: record.SchemaRun, Results: []record.Result{
		{Control: ctlLoss, Status: record.StatusError, Reason: "no telemetry"}, {Control: ctlDuplicates, Status: record.StatusError}}}
	os.MkdirAll(filepath.Join(dir, "error"), 0o755)
	record.WriteJSON(filepath.Join(dir, "error", record.RunFile), noCounts)
	for _, tc := range []struct {
		name, dir string
		want      figures
		err       string
	}{
		{"lossy run", "lossy", figures{Sent: 570, Lost: 1, StoredDuplicates: 2, LossStatus: record.StatusFail, DupStatus: record.StatusFail}, ""},
		{"not a telemetry-trust run", "other", figures{}, "no TRUST-LOSS and TRUST-DUPLICATES results"},
		{"controls without counts", "error", figures{}, "observed sent"},
		{"no run folder", "absent", figures{}, "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readFigures(filepath.Join(dir, tc.dir))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.LostDuring = nil
			if got != tc.want {
				t.Errorf("figures = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSoakVerdict(t *testing.T) {
	type fake struct {
		sent, lost, dups int
		err              error
	}
	for _, tc := range []struct {
		name  string
		runs  []fake
		ok    bool
		lines []string
	}{
		{"clean", []fake{{570, 0, 0, nil}, {571, 0, 0, nil}}, true, []string{
			"run  1/2  lost 0 of 570  stored duplicates 0  (TRUST-LOSS pass, TRUST-DUPLICATES pass)",
			"total  2 runs  lost 0 of 1141  stored duplicates 0  runs failed 0  PASS"}},
		{"one frame lost", []fake{{570, 0, 0, nil}, {570, 1, 0, nil}}, false, []string{
			"run  2/2  lost 1 of 570 (lost during network-loss@3s: 1)  stored duplicates 0  (TRUST-LOSS fail, TRUST-DUPLICATES pass)",
			"total  2 runs  lost 1 of 1140  stored duplicates 0  runs failed 0  FAIL"}},
		{"stored duplicate", []fake{{570, 0, 3, nil}}, false, []string{"total  1 runs  lost 0 of 570  stored duplicates 3  runs failed 0  FAIL"}},
		{"rig failed", []fake{{0, 0, 0, errors.New("bin/rig exited 4")}, {570, 0, 0, nil}}, false, []string{
			"run  1/2  FAILED: bin/rig exited 4", "total  2 runs  lost 0 of 570  stored duplicates 0  runs failed 1  FAIL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			i := 0
			s := soak{Runs: len(tc.runs), Out: t.TempDir(), W: &out, Run: func(_ context.Context, dir string) error {
				f := tc.runs[i]
				i++
				if f.err != nil {
					return f.err
				}
				writeTrustRun(t, dir, f.sent, f.lost, f.dups)
				return nil
			}}
			if got := s.run(context.Background()); got != tc.ok {
				t.Errorf("run() = %v, want %v", got, tc.ok)
			}
			for _, l := range tc.lines {
				if !strings.Contains(out.String(), l) {
					t.Errorf("output lacks %q:\n%s", l, out.String())
				}
			}
		})
	}
}

// TestBurnersStop: the busy loops run until stopped, and stop kills and reaps every one.
func TestBurnersStop(t *testing.T) {
	b, err := startBurners(2)
	if err != nil {
		t.Fatal(err)
	}
	cmds := append([]*exec.Cmd(nil), b.cmds...)
	defer b.stop()
	if len(cmds) != 2 {
		t.Fatalf("%d busy loops, want 2", len(cmds))
	}
	for _, c := range cmds {
		if err := c.Process.Signal(syscall.Signal(0)); err != nil {
			t.Errorf("busy loop %d is not running: %v", c.Process.Pid, err)
		}
	}
	b.stop()
	for _, c := range cmds {
		if c.ProcessState == nil {
			t.Errorf("busy loop %d was not reaped", c.Process.Pid)
		}
	}
}
