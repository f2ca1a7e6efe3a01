package stm32

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// skip skips a test whose tools are missing, unless RIG_REQUIRE_QEMU is set (CI installs them:
// there a missing tool is a failure, not a skip).
func skip(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("RIG_REQUIRE_QEMU") != "" {
		t.Fatalf("RIG_REQUIRE_QEMU is set but: "+format, args...)
	}
	t.Skipf(format, args...)
}

// TestCProtocolVectors builds the C protocol module with the host compiler (through the Makefile's
// host-test target, with ASan and UBSan) and runs it on every line of the shared vectors.
func TestCProtocolVectors(t *testing.T) {
	for _, tool := range []string{"make", "gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			skip(t, "%s not installed: the C protocol test needs the host compiler", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	vectors, _ := filepath.Abs("../protocol/testdata/vectors.txt")
	cmd := exec.CommandContext(ctx, "make", "-s", "-C", SourceDir(), "BUILD="+t.TempDir(), "VECTORS="+vectors, "host-test")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("C protocol test failed: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(\d+) vectors passed, 0 failures`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("C protocol test output has no summary:\n%s", out)
	}
	t.Logf("C protocol module: %s vectors passed", m[1])
}

// TestFirmwareImage builds the firmware and checks what QEMU and the bench rely on: the vector
// table at the start of flash, the size report, and the noinit block (boot counter, boot history) outside every
// loaded segment — QEMU's loader rewrites every PT_LOAD segment, zero-filling .bss, on each
// system_reset, so a boot counter inside one would not survive a reset.
func TestFirmwareImage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	path, report, err := Build(ctx, t.TempDir())
	if err != nil {
		if errors.Is(err, ErrNoToolchain) {
			skip(t, "%v", err)
		}
		t.Fatal(err)
	}
	if !regexp.MustCompile(`text\s+data\s+bss`).MatchString(report) {
		t.Errorf("no size report in make's output:\n%s", report)
	}
	// The flash image starts at 0x08000000 and holds .data's load copy: a few KiB, never a span up
	// to SRAM (which an LMA mistake would give).
	if st, err := os.Stat(filepath.Join(filepath.Dir(path), "fw.bin")); err != nil {
		t.Errorf("no flash image: %v", err)
	} else if st.Size() == 0 || st.Size() > 1<<20 {
		t.Errorf("fw.bin is %d bytes, want a flash image under 1 MiB", st.Size())
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_ARM {
		t.Fatalf("machine %v, want ARM", f.Machine)
	}
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	addr := map[string]uint64{}
	for _, s := range syms {
		addr[s.Name] = s.Value
	}
	if got := addr["vector_table"]; got != 0x08000000 {
		t.Errorf("vector_table at 0x%x, want 0x08000000 (start of flash)", got)
	}
	noinit, ok := addr["board_noinit"]
	if !ok {
		t.Fatal("no board_noinit symbol")
	}
	// The block (board.h NOINIT_SIZE, stm32f405.ld) is the last 256 bytes of the 128 KiB SRAM:
	// boot counter, reset bookkeeping, the BOOT_STATS history and the clock skew. rig/qemu reads
	// its bounds from board_noinit and board_noinit_end: they must span board.h's NOINIT_SIZE.
	const noinitSize, mailbox = 256, 0x20020000
	if noinit+noinitSize != 0x20000000+128<<10 {
		t.Errorf("board_noinit at 0x%x: want the last %d bytes of SRAM (0x%x)", noinit, noinitSize, 0x20000000+128<<10-noinitSize)
	}
	hdr, err := os.ReadFile(filepath.Join(SourceDir(), "src", "board.h"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^#define NOINIT_SIZE\s+(\d+)u`).FindSubmatch(hdr)
	if m == nil {
		t.Fatal("board.h defines no NOINIT_SIZE")
	}
	if end, ok := addr["board_noinit_end"]; !ok || fmt.Sprint(end-noinit) != string(m[1]) {
		t.Errorf("board_noinit_end 0x%x (present %v): the ELF block spans %d bytes, board.h's NOINIT_SIZE is %s", end, ok, end-noinit, m[1])
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		for _, base := range []uint64{p.Vaddr, p.Paddr} {
			for _, a := range []uint64{noinit, noinit + noinitSize - 1, mailbox} {
				if a >= base && a < base+p.Memsz {
					t.Errorf("address 0x%x lies in a PT_LOAD segment at 0x%x (+0x%x): a reset would overwrite it", a, base, p.Memsz)
				}
			}
		}
	}
}
