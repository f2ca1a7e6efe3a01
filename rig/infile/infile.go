// Package infile reads the files the rig takes from its user — scenario, profile, bundle and
// bench files, the secrets, samples and PEM files a scenario's targets name, run records given
// as a baseline, device traces — whole, but only regular files and only up to a bound per kind.
// A wrong path (/dev/zero, a FIFO, a folder) or a file far larger than its kind ever is ends in
// an error naming the file and the limit, before the rig has allocated more than the limit.
package infile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Limits of each kind of file: far above what a real file of the kind holds, far below what
// would hurt a 2-core, few-GiB machine.
const (
	// MaxDefinition bounds a scenario, profile, bundle or bench file (a few KiB in practice). The
	// YAML library allocates up to a few hundred times the size of a hostile file while it
	// tokenizes it, so this one is kept well under the others.
	MaxDefinition = 256 << 10
	MaxSecret     = 64 << 10 // a token or password file
	MaxPEM        = 4 << 20  // trust anchors, client certificates and keys (a CA bundle is ~200 KiB)
	MaxSample     = 1 << 20  // a sample ingest request body
	MaxRunRecord  = 64 << 20 // run.json read as a baseline or by rig delta
	MaxTrace      = 64 << 20 // a recorded device session (rig.trace/v1)
	MaxSBOM       = 64 << 20 // an SBOM (a large CycloneDX or SPDX document is a few MiB)
	MaxSupport    = 1 << 20  // a support declaration (support end, supported release lines)
	MaxAdvisory   = 4 << 20  // one OSV entry of a vulnerability database snapshot
	MaxBinary     = 1 << 30  // a gateway binary whose build information the rig reads
)

// Sentinels of the refusals; Error wraps one of them.
var (
	ErrTooLarge   = errors.New("file larger than its limit")
	ErrNotRegular = errors.New("not a regular file")
)

// Error is a file refused for what it is rather than for what it holds.
type Error struct {
	Path   string
	Reason string // what is wrong and the remedy, without the path
	Err    error  // ErrTooLarge or ErrNotRegular
}

func (e *Error) Error() string { return e.Path + ": " + e.Reason }
func (e *Error) Unwrap() error { return e.Err }

// Read returns the content of the regular file at path, refusing anything else and a file of
// more than limit bytes. what names the kind of file in the message ("scenario file", "secret
// file"). Errors from the file system (no such file, permission) are returned as they are: they
// name the path.
func Read(path, what string, limit int64) ([]byte, error) {
	// Stat before opening: opening a FIFO blocks until a writer appears.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := regular(path, what, fi); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil { // the file opened, not the name stat'ed
		return nil, err
	}
	if err := regular(path, what, fi); err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, tooLarge(path, what, limit, fi.Size())
	}
	// The size may change while we read (a growing file, a lying file system): read one byte more
	// than the limit and refuse rather than trust the stat.
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, tooLarge(path, what, limit, -1)
	}
	return b, nil
}

// Open opens the regular file at path to be read in place, at offsets (a binary whose build
// information sits in one of its sections), refusing what Read refuses. size is the size of the
// file opened: read within it (io.NewSectionReader). The caller closes the file.
func Open(path, what string, limit int64) (f *os.File, size int64, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, 0, err
	}
	if err := regular(path, what, fi); err != nil {
		return nil, 0, err
	}
	if f, err = os.Open(path); err != nil {
		return nil, 0, err
	}
	if fi, err = f.Stat(); err == nil {
		err = regular(path, what, fi)
	}
	if err == nil && fi.Size() > limit {
		err = tooLarge(path, what, limit, fi.Size())
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// ReadFS is Read for a file of fsys (an embedded tree, or a folder through os.DirFS): only a
// regular file, and only up to limit bytes. name is slash-separated, as fs.FS wants it; path
// labels it in errors.
func ReadFS(fsys fs.FS, name, path, what string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := regular(path, what, fi); err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, tooLarge(path, what, limit, fi.Size())
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, tooLarge(path, what, limit, -1)
	}
	return b, nil
}

// Check reports, without reading it, whether Read would refuse the file for what it is: a
// missing file, not a regular file, or one over limit. Definitions call it at load, so a wrong
// path is reported on its line before anything runs; Read checks again when it reads.
func Check(path, what string, limit int64) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if err := regular(path, what, fi); err != nil {
		return err
	}
	if fi.Size() > limit {
		return tooLarge(path, what, limit, fi.Size())
	}
	return nil
}

func regular(path, what string, fi fs.FileInfo) error {
	if fi.Mode().IsRegular() {
		return nil
	}
	return &Error{Path: path, Err: ErrNotRegular,
		Reason: fmt.Sprintf("is %s, not a regular file: name the %s itself", describeMode(fi.Mode()), what)}
}

func tooLarge(path, what string, limit, size int64) error {
	held := "more than that"
	if size >= 0 {
		held = fmt.Sprintf("%d bytes", size)
	}
	return &Error{Path: path, Err: ErrTooLarge,
		Reason: fmt.Sprintf("larger than the %s limit of a %s (it holds %s): is it the right file?", Size(limit), what, held)}
}

func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "a special file"
}

// Size formats a byte count as people write limits: 64 KiB, 1 MiB, 1500 bytes.
func Size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
