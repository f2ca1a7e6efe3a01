// Package stm32 holds the STM32 reference firmware in C (src/, built by the Makefile here with
// Debian's arm-none-eabi-gcc) and the Go glue the rig's tests use to build it: Build compiles the
// firmware into a folder of the caller's choosing, so parallel test packages never share a build
// tree. The rig itself runs a prebuilt image (`make firmware`); see README.md here.
package stm32

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
)

// ErrNoToolchain is returned by Build when make or arm-none-eabi-gcc is not installed; tests skip
// on it (CI installs the toolchain in .ci/run).
var ErrNoToolchain = errors.New("stm32: firmware toolchain missing (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi make)")

// SourceDir returns the folder of the firmware sources and Makefile, found from this file's
// location: only meaningful in a checkout of the repository (tests, tools), not in an installed binary.
func SourceDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// Build compiles the firmware into outDir and returns the path of fw.elf and make's output (the
// size report).
func Build(ctx context.Context, outDir string) (elf string, report string, err error) {
	for _, tool := range []string{"make", "arm-none-eabi-gcc", "arm-none-eabi-size"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", "", fmt.Errorf("%w: %s not found", ErrNoToolchain, tool)
		}
	}
	abs, err := filepath.Abs(outDir)
	if err != nil {
		return "", "", fmt.Errorf("stm32: build folder %s: %w", outDir, err)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "make", "-s", "-C", SourceDir(), "BUILD="+abs)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", out.String(), fmt.Errorf("stm32: make firmware in %s: %w\n%s", SourceDir(), err, out.String())
	}
	return filepath.Join(abs, "fw.elf"), out.String(), nil
}
