package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"
)

// profiling holds the hidden --cpuprofile and --memprofile flags of `rig run`: they find where a
// fleet's memory and time go (go tool pprof FILE).
type profiling struct {
	cpu, mem string
}

func (p *profiling) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&p.cpu, "cpuprofile", "", "write a CPU profile of the run to this file")
	cmd.Flags().StringVar(&p.mem, "memprofile", "", "write a heap profile taken when the run's live heap peaked to this file, and the goroutines then to FILE.goroutines")
	_ = cmd.Flags().MarkHidden("cpuprofile")
	_ = cmd.Flags().MarkHidden("memprofile")
}

// start begins profiling; the returned func ends it and writes the files.
func (p *profiling) start(ctx context.Context, log *slog.Logger) (stop func() error, err error) {
	var cpu *os.File
	if p.cpu != "" {
		if cpu, err = os.Create(p.cpu); err != nil {
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, fmt.Errorf("--cpuprofile %s: %w", p.cpu, err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	if p.mem != "" {
		runtime.MemProfileRate = 64 << 10 // coarser than the default: a fleet allocates a lot
		go func() { done <- peakHeap(ctx, p.mem, time.Second, log) }()
	} else {
		done <- nil
	}
	return func() error {
		cancel()
		err := <-done
		if cpu != nil {
			pprof.StopCPUProfile()
			if cerr := cpu.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("--cpuprofile: %w", cerr)
			}
		}
		return err
	}, nil
}

// peakHeap samples the live heap every interval and rewrites the heap profile at file each time
// it grew by a tenth or more over the largest seen: the file ends up describing (nearly) the peak,
// which a profile written at exit would not (a run ends after its stack is torn down).
func peakHeap(ctx context.Context, file string, interval time.Duration, log *slog.Logger) error {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/sched/goroutines:goroutines"},
		{Name: "/memory/classes/heap/stacks:bytes"}, {Name: "/memory/classes/total:bytes"}}
	var peak uint64
	var at []metrics.Sample // the samples at the peak
	tick := time.NewTicker(interval)
	defer tick.Stop()
	write := func() error {
		f, err := os.Create(file)
		if err != nil {
			return fmt.Errorf("--memprofile: %w", err)
		}
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			f.Close()
			return fmt.Errorf("--memprofile %s: %w", file, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("--memprofile: %w", err)
		}
		// The goroutines beside it: in a fleet their stacks are much of the memory the heap
		// profile does not show.
		g, err := os.Create(file + ".goroutines")
		if err != nil {
			return fmt.Errorf("--memprofile: %w", err)
		}
		if err := pprof.Lookup("goroutine").WriteTo(g, 0); err != nil {
			g.Close()
			return fmt.Errorf("--memprofile %s.goroutines: %w", file, err)
		}
		return g.Close()
	}
	for {
		select {
		case <-ctx.Done():
			if peak == 0 {
				return write() // a run shorter than one interval
			}
			log.Info("heap profile written at the live heap's peak", "file", file, "heap_objects_bytes", peak,
				"goroutines", at[1].Value.Uint64(), "stacks_bytes", at[2].Value.Uint64(), "runtime_total_bytes", at[3].Value.Uint64())
			return nil
		case <-tick.C:
		}
		metrics.Read(sample)
		if v := sample[0].Value.Uint64(); v > peak+peak/10 {
			peak = v
			at = append(at[:0], sample...)
			if err := write(); err != nil {
				return err
			}
		}
	}
}
