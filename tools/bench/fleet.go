package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pathrig/rig/scenarios"
)

// fleetBase is the embedded scenario every fleet size is derived from (only fleet.devices
// changes), so the sizes compare per device: same telemetry interval, phase and bounds.
const fleetBase = "fleet-10000.yaml"

type fleetRow struct {
	devices               int
	wall                  time.Duration
	maxRSS                int64 // bytes, the child rig's peak resident set (rusage)
	sent, delivered, lost int64
	verdict               string // TRUST-LOSS status
	err                   error
}

// parseSizes reads -fleet: comma-separated device counts, "" for none.
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 2 || n > 10000 {
			return nil, fmt.Errorf("-fleet %q: want device counts in 2..10000, comma-separated", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// benchFleet runs `rig run` on the fleet scenario at each size as a child process and prints
// its wall time, its peak RSS and the RSS per device, with the frames the devices sent, the store
// holds and the run lost. It errs when a run fails or loses a frame.
func benchFleet(rigBin string, sizes []int) error {
	if len(sizes) == 0 {
		return nil
	}
	base, err := scenarios.FS.ReadFile(fleetBase)
	if err != nil {
		return fmt.Errorf("fleet: embedded %s: %w", fleetBase, err)
	}
	if !bytes.Contains(base, []byte("\n  devices: 10000\n")) {
		return fmt.Errorf("fleet: %s has no `devices: 10000` line to vary", fleetBase)
	}
	dir, err := os.MkdirTemp("", "rig-bench-fleet-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	per := "1"
	if m := perGateway.FindSubmatch(base); m != nil {
		per = string(m[1])
	}
	fmt.Printf("\nfleet: %s (hardened path, up to %s devices per gateway session, every frame tapped at the device and found in the store), rig %s\n", fleetBase, per, rigBin)
	fmt.Printf("%8s %10s %12s %14s %9s %9s %6s  %s\n", "devices", "wall", "peak RSS", "RSS/device", "sent", "stored", "lost", "TRUST-LOSS")
	failed := false
	for _, n := range sizes {
		r := runFleet(rigBin, dir, base, n)
		if r.err != nil {
			fmt.Printf("%8d %10s  error: %v\n", n, r.wall.Round(time.Second), r.err)
			failed = true
			continue
		}
		fmt.Printf("%8d %10s %9.0f MB %11.0f KB %9d %9d %6d  %s\n", n, r.wall.Round(100*time.Millisecond),
			float64(r.maxRSS)/1e6, float64(r.maxRSS)/float64(n)/1e3, r.sent, r.delivered, r.lost, r.verdict)
		failed = failed || r.lost != 0 || r.verdict != "pass"
	}
	if failed {
		return fmt.Errorf("fleet: a run failed or lost frames (see above)")
	}
	return nil
}

var perGateway = regexp.MustCompile(`\n  devices_per_gateway: (\d+)\n`)

func runFleet(rigBin, dir string, base []byte, n int) fleetRow {
	row := fleetRow{devices: n}
	sc := bytes.Replace(base, []byte("\n  devices: 10000\n"), fmt.Appendf(nil, "\n  devices: %d\n", n), 1)
	// A gateway group cannot be larger than the fleet: below its size, one gateway serves all.
	sc = perGateway.ReplaceAllFunc(sc, func(m []byte) []byte {
		per, _ := strconv.Atoi(string(perGateway.FindSubmatch(m)[1]))
		return fmt.Appendf(nil, "\n  devices_per_gateway: %d\n", min(per, n))
	})
	file := filepath.Join(dir, fmt.Sprintf("fleet-%d.yaml", n))
	if err := os.WriteFile(file, sc, 0o644); err != nil {
		row.err = err
		return row
	}
	out := filepath.Join(dir, fmt.Sprintf("run-%d", n))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, rigBin, "run", file, "--out", out, "--log-level", "error", "--format", "summary")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	err := cmd.Run()
	row.wall = time.Since(t0)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && cmd.ProcessState != nil {
		row.maxRSS = ru.Maxrss * 1024 // kilobytes on Linux
	}
	if err != nil {
		row.err = fmt.Errorf("rig run %s: %v: %s", file, err, lastLine(stderr.String()))
		return row
	}
	b, err := os.ReadFile(filepath.Join(out, "run.json"))
	if err != nil {
		row.err = err
		return row
	}
	var run struct {
		Results []struct {
			Control  string          `json:"control"`
			Status   string          `json:"status"`
			Observed json.RawMessage `json:"observed"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &run); err != nil {
		row.err = fmt.Errorf("%s/run.json: %w", out, err)
		return row
	}
	for _, r := range run.Results {
		if r.Control != "TRUST-LOSS" {
			continue
		}
		row.verdict = r.Status
		var o struct{ Sent, Delivered, Lost int64 }
		if err := json.Unmarshal(r.Observed, &o); err != nil {
			row.err = fmt.Errorf("%s/run.json: TRUST-LOSS observed: %w", out, err)
			return row
		}
		row.sent, row.delivered, row.lost = o.Sent, o.Delivered, o.Lost
		return row
	}
	row.err = fmt.Errorf("%s/run.json has no TRUST-LOSS result", out)
	return row
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
