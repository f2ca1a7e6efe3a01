// Command soak runs the telemetry-trust scenario again and again beside CPU burners and fails on
// any lost frame or stored duplicate: the hardened durable path must lose nothing under load.
// `make soak` runs it (SOAK_RUNS runs, default 10, after `make build`):
//
//	go run ./tools/soak -runs 10 -rig bin/rig -out out/soak
//
// Per run it prints the TRUST-LOSS and TRUST-DUPLICATES figures read from the run's run.json,
// then a total line. It exits 0 when every run completed with 0 lost and 0 stored duplicates,
// 1 otherwise (a run that did not complete or could not account for its frames counts as a
// failure: it proves nothing), 2 on a usage error. The burners are child processes it starts
// and always stops, also on SIGINT or SIGTERM (and, on Linux, when soak itself is killed: the
// busy loops then get SIGKILL and the rig SIGTERM).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pathrig/rig/rig/record"
)

const (
	ctlLoss       = "TRUST-LOSS"
	ctlDuplicates = "TRUST-DUPLICATES"
)

func main() { os.Exit(run()) }

func run() int {
	runs := flag.Int("runs", envInt("SOAK_RUNS", 10), "how many runs (default $SOAK_RUNS, else 10)")
	nBurners := flag.Int("burners", 2, "busy loops to run beside the rig (child processes: sh -c 'while :; do :; done')")
	rig := flag.String("rig", "bin/rig", "the rig binary (make build puts gateway beside it, which telemetry-trust runs)")
	sc := flag.String("scenario", "telemetry-trust", "scenario to run")
	out := flag.String("out", "out/soak", "folder for the run folders (run-01, run-02, ...); must not exist or be empty")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: soak [flags]\n\nRuns a telemetry-trust scenario repeatedly beside CPU burners; fails on any lost frame or stored duplicate.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *runs < 1 || *nBurners < 0 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "soak: want -runs of 1 or more, -burners of 0 or more and no arguments")
		return 2
	}
	if _, err := os.Stat(*rig); err != nil {
		fmt.Fprintf(os.Stderr, "soak: rig binary %s: %v (run make build first, or pass -rig)\n", *rig, err)
		return 2
	}
	if entries, err := os.ReadDir(*out); err == nil && len(entries) > 0 {
		fmt.Fprintf(os.Stderr, "soak: %s is not empty (remove it or pass another -out)\n", *out)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	loops, err := startBurners(*nBurners)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 1
	}
	defer loops.stop()
	fmt.Printf("soak: %d runs of %s beside %d busy loops, run folders in %s\n", *runs, *sc, *nBurners, *out)
	s := soak{Runs: *runs, Out: *out, W: os.Stdout, Run: rigRunner(*rig, *sc)}
	if !s.run(ctx) {
		return 1
	}
	return 0
}

// figures are what one run says about the path's telemetry accounting.
type figures struct {
	Sent, Lost, StoredDuplicates int
	LossStatus, DupStatus        record.Status
	LostDuring                   any
}

// readFigures reads TRUST-LOSS (observed sent, lost, lost_during) and TRUST-DUPLICATES
// (observed stored_duplicates) from the run.json of dir.
func readFigures(dir string) (figures, error) {
	var f figures
	r, err := record.ReadRun(dir)
	if err != nil {
		return f, err
	}
	found := 0
	for _, res := range r.Results {
		switch res.Control {
		case ctlLoss:
			f.LossStatus, f.LostDuring = res.Status, res.Observed["lost_during"]
			if f.Sent, err = observedInt(res, "sent"); err == nil {
				f.Lost, err = observedInt(res, "lost")
			}
		case ctlDuplicates:
			f.DupStatus = res.Status
			f.StoredDuplicates, err = observedInt(res, "stored_duplicates")
		default:
			continue
		}
		if err != nil {
			return f, err
		}
		found++
	}
	if found != 2 {
		return f, fmt.Errorf("%s has no %s and %s results: is it a telemetry-trust run?", filepath.Join(dir, record.RunFile), ctlLoss, ctlDuplicates)
	}
	return f, nil
}

func observedInt(res record.Result, key string) (int, error) {
	v, ok := res.Observed[key].(float64) // JSON numbers
	if !ok || v != float64(int(v)) || v < 0 {
		return 0, fmt.Errorf("%s: observed %s is %v (%s: %s), want a count", res.Control, key, res.Observed[key], res.Status, res.Reason)
	}
	return int(v), nil
}

// soak runs Run Runs times into Out/run-NN and prints figures to W.
type soak struct {
	Runs int
	Out  string
	W    io.Writer
	Run  func(ctx context.Context, dir string) error // one rig run writing the run folder dir
}

// run reports whether every run completed with nothing lost and nothing stored twice.
func (s soak) run(ctx context.Context) bool {
	var total figures
	failed, done := 0, 0
	for i := 1; i <= s.Runs && ctx.Err() == nil; i++ {
		dir := filepath.Join(s.Out, fmt.Sprintf("run-%02d", i))
		start := time.Now()
		err := s.Run(ctx, dir)
		took := time.Since(start).Round(100 * time.Millisecond)
		done++
		if err != nil {
			failed++
			fmt.Fprintf(s.W, "run %2d/%d  FAILED: %v  %s  %s\n", i, s.Runs, err, took, dir)
			continue
		}
		f, err := readFigures(dir)
		if err != nil {
			failed++
			fmt.Fprintf(s.W, "run %2d/%d  FAILED: %v  %s  %s\n", i, s.Runs, err, took, dir)
			continue
		}
		total.Sent += f.Sent
		total.Lost += f.Lost
		total.StoredDuplicates += f.StoredDuplicates
		where := ""
		if f.Lost > 0 && f.LostDuring != nil {
			where = " (" + during(f.LostDuring) + ")"
		}
		fmt.Fprintf(s.W, "run %2d/%d  lost %d of %d%s  stored duplicates %d  (%s %s, %s %s)  %s  %s\n",
			i, s.Runs, f.Lost, f.Sent, where, f.StoredDuplicates, ctlLoss, f.LossStatus, ctlDuplicates, f.DupStatus, took, dir)
	}
	ok := failed == 0 && total.Lost == 0 && total.StoredDuplicates == 0 && done == s.Runs
	verdict := "PASS"
	if !ok {
		verdict = "FAIL"
	}
	interrupted := ""
	if done < s.Runs {
		interrupted = fmt.Sprintf(" (interrupted after %d of %d)", done, s.Runs)
	}
	fmt.Fprintf(s.W, "total  %d runs%s  lost %d of %d  stored duplicates %d  runs failed %d  %s\n",
		done, interrupted, total.Lost, total.Sent, total.StoredDuplicates, failed, verdict)
	return ok
}

// during renders TRUST-LOSS's observed lost_during ({"fault@at": count, ...}) as
// "gateway-crash@4.5s: 1, ..." in key order.
func during(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Sprintf("during %v", v)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %v", k, m[k])
	}
	return "lost during " + strings.Join(parts, ", ")
}

// rigRunner runs `rig run SCENARIO --out DIR` quietly; on cancellation the rig gets SIGINT (so it
// removes its work folder) and 30 s to stop.
func rigRunner(rig, sc string) func(ctx context.Context, dir string) error {
	return func(ctx context.Context, dir string) error {
		cmd := exec.CommandContext(ctx, rig, "run", sc, "--out", dir, "--quiet", "--log-level", "error")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		onParentDeath(cmd, syscall.SIGTERM)
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		cmd.WaitDelay = 30 * time.Second
		if err := cmd.Run(); err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return fmt.Errorf("%s exited %d", rig, ee.ExitCode())
			}
			return err
		}
		return nil
	}
}

// burners are busy loops running beside the rig.
type burners struct{ cmds []*exec.Cmd }

// startBurners starts n busy loops; stop ends them all.
func startBurners(n int) (*burners, error) {
	b := &burners{}
	for i := 0; i < n; i++ {
		c := exec.Command("sh", "-c", "while :; do :; done")
		onParentDeath(c, syscall.SIGKILL)
		if err := c.Start(); err != nil {
			b.stop()
			return nil, fmt.Errorf("start busy loop %d: %w", i+1, err)
		}
		b.cmds = append(b.cmds, c)
	}
	return b, nil
}

// stop kills and reaps every busy loop.
func (b *burners) stop() {
	for _, c := range b.cmds {
		_ = c.Process.Kill()
		_ = c.Wait()
	}
	b.cmds = nil
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}
