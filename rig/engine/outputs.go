package engine

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/delta"
	"github.com/pathrig/rig/rig/manifest"
	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/report"
)

// DeltaDir is the folder of a run that holds the delta against its baseline.
const DeltaDir = "delta"

// Outputs say which renderings a run folder gets.
type Outputs struct {
	Formats []string // writer names (report.FormatNames); empty or "all" means every writer
	// Baseline is a run folder to compare with: the delta goes into <run>/delta/ and the SARIF
	// results carry baselineState.
	Baseline string
	SignKey  ed25519.PrivateKey // signs the manifest when set
}

// WriteOutputs renders run (already in dir/run.json) into dir with the selected writers, writes
// the delta against the baseline, and writes the manifest last. Every rendering passes through
// redact (nil: none) before it reaches a file: renderings quote probe errors, which may echo a
// credential. It returns the delta, nil without a baseline.
func WriteOutputs(dir string, run *record.Run, o Outputs, redact func([]byte) []byte) (*delta.Delta, error) {
	writers, err := report.Select(o.Formats)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	cat, err := checks.Catalog()
	if err != nil {
		return nil, err
	}
	bopts := report.BuildOptions{RunDir: dir}
	var d *delta.Delta
	if o.Baseline != "" {
		base, err := record.ReadRun(o.Baseline)
		if err != nil {
			return nil, fmt.Errorf("%w: --baseline: %v", ErrUsage, err)
		}
		bopts.Baseline, bopts.BaselinePath = base, o.Baseline
		d = delta.Compare(base, run, o.Baseline, dir)
		if err := WriteDelta(filepath.Join(dir, DeltaDir), d, o.Baseline, dir, redact); err != nil {
			return nil, err
		}
	}
	in, err := report.Build(run, cat, bopts)
	if err != nil {
		return nil, err
	}
	for _, w := range writers {
		if err := writeRendered(filepath.Join(dir, w.File), redact, func(f io.Writer) error { return w.Render(f, in) }); err != nil {
			return nil, err
		}
	}
	if err := removeEmptyDirs(dir); err != nil {
		return nil, err
	}
	if err := manifest.Write(dir, o.SignKey); err != nil {
		return nil, err
	}
	return d, nil
}

// removeEmptyDirs removes every directory below dir that holds no file (evidence/ of a run
// whose checks wrote nothing): a manifest lists files only, and verify reports a directory
// without a listed file as added.
func removeEmptyDirs(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && p != dir {
			dirs = append(dirs, p)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("engine: list %s: %w", dir, err)
	}
	for i := len(dirs) - 1; i >= 0; i-- { // deepest first, so a parent empties before its turn
		if entries, err := os.ReadDir(dirs[i]); err == nil && len(entries) == 0 {
			if err := os.Remove(dirs[i]); err != nil {
				return fmt.Errorf("engine: remove the empty folder %s: %w", dirs[i], err)
			}
		}
	}
	return nil
}

// WriteDelta writes delta.json, delta.md and delta.html into out, linking each side's evidence
// relative to out; redact (nil: none) filters every file.
func WriteDelta(out string, d *delta.Delta, baselineDir, rerunDir string, redact func([]byte) []byte) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("engine: create delta folder %s: %w", out, err)
	}
	in := report.NewDeltaInput(d, out, baselineDir, rerunDir)
	for _, w := range report.DeltaWriters() {
		if err := writeRendered(filepath.Join(out, w.File), redact, func(f io.Writer) error { return w.Render(f, in) }); err != nil {
			return err
		}
	}
	return nil
}

// writeRendered renders into memory, redacts, and writes path atomically.
func writeRendered(path string, redact func([]byte) []byte, render func(io.Writer) error) error {
	var b bytes.Buffer
	if err := render(&b); err != nil {
		return fmt.Errorf("engine: render %s: %w", path, err)
	}
	out := b.Bytes()
	if redact != nil {
		out = redact(out)
	}
	return writeFile(path, out)
}
