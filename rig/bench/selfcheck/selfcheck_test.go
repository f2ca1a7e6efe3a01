package selfcheck

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/pathrig/rig/rig/bench"
	"github.com/pathrig/rig/rig/bench/pi5"
	"github.com/pathrig/rig/rig/dut"
	"github.com/pathrig/rig/rig/lines"
	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/trace"
)

var update = flag.Bool("update", false, "re-record testdata/bench-check.trace against the emulator")

const checkTrace = "testdata/bench-check.trace"

// host is a healthy Pi 5 bench host: the udev rule applied, the unit enabled, the clock
// synchronised, plenty of disk. Rows of TestDiagnoses change one fact each.
type host struct {
	symlinkTarget string          // "" : /dev/rig-stm32 missing
	ruleFiles     map[string]bool // installed rule files
	udevProps     string
	commands      map[string]string // "name args" → stdout; missing → not installed
	failing       map[string]bool   // commands that exit non-zero (with their stdout)
	adjState      int
	adjStatus     int32
	free          uint64
}

func healthyHost() *host {
	return &host{
		symlinkTarget: "/dev/ttyAMA0",
		ruleFiles:     map[string]bool{RuleFiles[0]: true},
		udevProps:     "DEVPATH=/devices/platform/axi/1f00030000.serial/tty/ttyAMA0\nDEVNAME=/dev/ttyAMA0\nDEVLINKS=/dev/rig-stm32 /dev/serial0\nTAGS=:systemd:\nCURRENT_TAGS=:systemd:\nSYSTEMD_WANTS=gateway.service\n",
		commands: map[string]string{
			"udevadm info --query=property --name=/dev/ttyAMA0": "",
			"systemctl is-enabled gateway.service":              "enabled\n",
			"systemctl is-active gateway.service":               "inactive\n",
			"timedatectl show -p NTPSynchronized --value":       "yes\n",
		},
		failing: map[string]bool{"systemctl is-active gateway.service": true},
		free:    20 << 30,
	}
}

// apply installs the host facts into e, leaving the device side (port, lines) alone.
func (h *host) apply(e *Env) {
	port := e.Bench.Serial.Port
	e.Stat = func(p string) (fs.FileInfo, error) {
		if h.ruleFiles[p] {
			return fakeInfo{mode: 0o644}, nil
		}
		for _, r := range RuleFiles {
			if p == r {
				return nil, fs.ErrNotExist
			}
		}
		return os.Stat(p) // the pty, or a path a row made up
	}
	e.EvalSymlinks = func(p string) (string, error) {
		if p == DefaultLink {
			if h.symlinkTarget == "" {
				return "", &fs.PathError{Op: "lstat", Path: p, Err: fs.ErrNotExist}
			}
			return h.symlinkTarget, nil
		}
		return filepath.EvalSymlinks(p)
	}
	_ = port
	e.Run = func(ctx context.Context, name string, args ...string) (string, error) {
		key := name + " " + strings.Join(args, " ")
		if strings.HasPrefix(key, "udevadm info") {
			if _, ok := h.commands["udevadm info --query=property --name=/dev/ttyAMA0"]; !ok {
				return "", fmt.Errorf("%s: %w", name, ErrNotFound)
			}
			return h.udevProps, nil
		}
		out, ok := h.commands[key]
		if !ok {
			return "", fmt.Errorf("%s: %w", name, ErrNotFound)
		}
		if h.failing[key] {
			return out, fmt.Errorf("%s: exit status 1", key)
		}
		return out, nil
	}
	e.Adjtimex = func() (int, int32, error) { return h.adjState, h.adjStatus, nil }
	e.Statfs = func(p string) (uint64, uint64, error) {
		if p == DefaultStateDir {
			return 0, 0, &fs.PathError{Op: "statfs", Path: p, Err: fs.ErrNotExist}
		}
		return h.free, 64 << 30, nil
	}
}

type fakeInfo struct{ mode fs.FileMode }

func (f fakeInfo) Name() string       { return "x" }
func (f fakeInfo) Size() int64        { return 0 }
func (f fakeInfo) Mode() fs.FileMode  { return f.mode }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return false }
func (f fakeInfo) Sys() any           { return nil }

// deadPin is a line wired to nothing: it drives without error and changes nothing.
type deadPin struct{ gpio.PinOut }

func (deadPin) String() string         { return "unwired" }
func (deadPin) Out(l gpio.Level) error { return nil }

// emulatedBench starts the emulated bench with host facts h and fast timeouts.
func emulatedBench(t *testing.T, h *host) (*Emulation, Env) {
	t.Helper()
	m, err := Emulated(nil, time.Hour) // no telemetry: the frames are the check's own
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	e := m.Env
	e.Command = 300 * time.Millisecond
	h.apply(&e)
	return m, e
}

func statuses(r Report) map[string]Status {
	out := map[string]Status{}
	for _, it := range r.Items {
		out[it.ID] = it.Status
	}
	return out
}

func item(r Report, id string) Result {
	for _, it := range r.Items {
		if it.ID == id {
			return it
		}
	}
	return Result{}
}

func runCheck(t *testing.T, e Env) Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return Run(ctx, e)
}

// TestHealthyEmulatedBench: the emulated board on a pty, through the real serial driver, with a
// healthy host: every item passes, each says what it saw.
func TestHealthyEmulatedBench(t *testing.T) {
	_, e := emulatedBench(t, healthyHost())
	rep := runCheck(t, e)
	for _, it := range rep.Items {
		if it.Status != Pass {
			t.Errorf("%s: %s %s (remedy: %s)", it.ID, it.Status, it.Detail, it.Remedy)
		}
	}
	if !rep.Summary.OK || rep.Summary.Pass != len(Items) {
		t.Errorf("summary %+v", rep.Summary)
	}
	for id, want := range map[string]string{
		"device-answers": EmulatedUID + " · firmware 1.0.0 · boot 0 · 5 PINGs",
		"reset-line":     "boot 0 → 1 · reset cause pin",
		"boot0-line":     "the firmware booted again (boot 2)",
		"power-line":     "restored: HELLO boot 3, reset cause power_on",
		"udev-rule":      "/dev/rig-stm32 → /dev/ttyAMA0, tagged for systemd, SYSTEMD_WANTS=gateway.service",
		"spool-disk":     "/var/lib/rig-gateway not created yet",
	} {
		if d := item(rep, id).Detail; !strings.Contains(d, want) {
			t.Errorf("%s detail %q lacks %q", id, d, want)
		}
	}
}

// TestDiagnoses: one row per failure the check diagnoses. Each row breaks one thing; the item
// that owns it fails with its remedy, the items that need it are skipped, nothing else fails.
func TestDiagnoses(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(t *testing.T, m *Emulation, e *Env, h *host)
		failed string            // the one item that fails
		detail string            // in its detail
		remedy string            // in its remedy
		also   map[string]Status // other items whose status changes
	}{
		{
			name:   "port missing",
			break_: func(t *testing.T, m *Emulation, e *Env, h *host) { e.Bench.Serial.Port = "/dev/ttyAMA9" },
			failed: "serial-port", detail: "/dev/ttyAMA9 does not exist", remedy: "dtparam=uart0=on",
			also: map[string]Status{"device-answers": Skip, "reset-line": Skip, "power-line": Skip},
		},
		{
			name: "port is not a tty",
			break_: func(t *testing.T, m *Emulation, e *Env, h *host) {
				p := filepath.Join(t.TempDir(), "ttyAMA0")
				os.WriteFile(p, nil, 0o644)
				e.Bench.Serial.Port = p
			},
			failed: "serial-port", detail: "is not a character device", remedy: "tty device",
			also: map[string]Status{"device-answers": Skip, "reset-line": Skip, "power-line": Skip},
		},
		{
			name: "port busy (the gateway service holds it)",
			break_: func(t *testing.T, m *Emulation, e *Env, h *host) {
				// Ports open exclusively (TIOCEXCL), but root passes that lock, so the second
				// opener is a fake that fails as link does when another process holds the port.
				e.OpenPort = func(ctx context.Context, cfg link.SerialConfig) (link.Port, error) {
					return nil, fmt.Errorf("link: open %s: port busy (another process holds it; see fuser -v %s): %w", cfg.Path, cfg.Path, syscall.EBUSY)
				}
			},
			failed: "serial-port", detail: "port busy", remedy: "systemctl stop gateway",
			also: map[string]Status{"device-answers": Skip, "reset-line": Skip, "power-line": Skip},
		},
		{
			name: "crossed TX/RX: nothing comes back",
			break_: func(t *testing.T, m *Emulation, e *Env, h *host) {
				m.Close() // the pty stays open, the device side is read by no one
				m2, err := link.NewPtyPair()
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { m2.Close() })
				e.Bench.Serial.Port = m2.Path()
				e.Command = 100 * time.Millisecond
			},
			failed: "device-answers", detail: "nothing came back", remedy: "TX crosses to RX",
			also: map[string]Status{"reset-line": Skip, "power-line": Skip},
		},
		{
			name: "wrong baud: bytes but no frame",
			break_: func(t *testing.T, m *Emulation, e *Env, h *host) {
				pp, err := link.NewPtyPair()
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { pp.Close() })
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				go func() { // what a UART at the wrong rate reads: bytes, never a valid frame
					for ctx.Err() == nil {
						pp.Device().Write([]byte{0x11, 0xf0, 0x33, 0x00, 0x7e, 0x81, 0x00})
						time.Sleep(5 * time.Millisecond)
					}
				}()
				e.Bench.Serial.Port = pp.Path()
				e.Command = 100 * time.Millisecond
			},
			failed: "device-answers", detail: "no frame decoded", remedy: "serial.baud",
			also: map[string]Status{"reset-line": Skip, "power-line": Skip},
		},
		{
			name: "NRST not wired: the device does not reset",
			break_: func(t *testing.T, m *Emulation, e *Env, h *host) {
				open := e.OpenLines
				e.OpenLines = func(ctx context.Context, g bench.GPIO, rec *lines.Recorder) (*dut.BenchLines, func(), error) {
					l, c, err := open(ctx, g, rec)
					l.Reset.Pin = deadPin{}
					return l, c, err
				}
			},
			failed: "reset-line", detail: "no HELLO within 1s", remedy: "NRST wire",
			// BOOT0 can only be driven then, without the board showing that it obeys it.
		},
		{
			name: "BOOT0 not wired: the firmware boots whatever BOOT0 says",
			break_: func(t *testing.T, m *Emulation, e *Env, h *host) {
				open := e.OpenLines
				e.OpenLines = func(ctx context.Context, g bench.GPIO, rec *lines.Recorder) (*dut.BenchLines, func(), error) {
					l, c, err := open(ctx, g, rec)
					l.Boot0.Pin = deadPin{}
					return l, c, err
				}
			},
			failed: "boot0-line", detail: "with BOOT0 driven high the board still booted its firmware", remedy: "GPIO24",
		},
		{
			name: "power line switches nothing",
			break_: func(t *testing.T, m *Emulation, e *Env, h *host) {
				open := e.OpenLines
				e.OpenLines = func(ctx context.Context, g bench.GPIO, rec *lines.Recorder) (*dut.BenchLines, func(), error) {
					l, c, err := open(ctx, g, rec)
					l.Power.Pin = deadPin{}
					return l, c, err
				}
			},
			failed: "power-line", detail: "still answered a PING", remedy: "relay or load switch",
		},
		{
			name: "wrong chip: bcm283x loaded on a Pi 5",
			break_: func(t *testing.T, m *Emulation, e *Env, h *host) {
				e.GPIOFacts = func() (pi5.Facts, error) {
					return pi5.Facts{Compatible: []string{pi5.CompatiblePi5, pi5.CompatibleBCM2712}, Drivers: []string{pi5.DriverBCM283x, pi5.DriverGPIOIoctl},
						Chips: []pi5.Chip{{Name: "gpiochip0", Label: "pinctrl-bcm2712"}, {Name: "gpiochip4", Label: "pinctrl-rp1", Lines: []string{"GPIO0"}}}}, nil
				}
				e.Bench.GPIO.Chip = "pinctrl-rp1"
			},
			failed: "gpio-chip", detail: "bcm283x driver is loaded on a Raspberry Pi 5", remedy: "gpioioctl only",
			also: map[string]Status{"reset-line": Skip, "power-line": Skip, "boot0-line": Skip},
		},
		{
			name: "wrong chip: a Pi 5 kernel without the RP1 chip",
			break_: func(t *testing.T, m *Emulation, e *Env, h *host) {
				e.GPIOFacts = func() (pi5.Facts, error) {
					return pi5.Facts{Compatible: []string{pi5.CompatiblePi5}, Drivers: []string{pi5.DriverGPIOIoctl}, Chips: []pi5.Chip{{Name: "gpiochip0", Label: "pinctrl-bcm2712"}}}, nil
				}
				e.Bench.GPIO.Chip = "pinctrl-rp1"
			},
			failed: "gpio-chip", detail: `no GPIO chip with the wanted label "pinctrl-rp1"`, remedy: "gpio.chip",
			also: map[string]Status{"reset-line": Skip, "power-line": Skip, "boot0-line": Skip},
		},
		{
			name: "udev rule missing",
			break_: func(t *testing.T, m *Emulation, e *Env, h *host) {
				h.symlinkTarget, h.ruleFiles = "", nil
			},
			failed: "udev-rule", detail: "/dev/rig-stm32 does not exist and no udev rule names it", remedy: "install the rig package",
		},
		{
			name: "udev rule installed, matching no tty",
			break_: func(t *testing.T, m *Emulation, e *Env, h *host) {
				h.symlinkTarget = ""
			},
			failed: "udev-rule", detail: "does not exist although /usr/lib/udev/rules.d/99-rig-stm32.rules is installed", remedy: "rule B",
		},
		{
			name: "an old udev rule: not tagged for systemd",
			break_: func(t *testing.T, m *Emulation, e *Env, h *host) {
				h.udevProps = "DEVNAME=/dev/ttyAMA0\nDEVLINKS=/dev/rig-stm32\n"
			},
			failed: "udev-rule", detail: "not tagged for systemd", remedy: `ENV{SYSTEMD_WANTS}+="gateway.service"`,
		},
		{
			name: "unit not enabled",
			break_: func(t *testing.T, m *Emulation, e *Env, h *host) {
				h.commands["systemctl is-enabled gateway.service"] = "disabled\n"
				h.failing["systemctl is-enabled gateway.service"] = true
			},
			failed: "gateway-unit", detail: "gateway.service is disabled", remedy: "systemctl enable gateway",
		},
		{
			name: "unit not installed",
			break_: func(t *testing.T, m *Emulation, e *Env, h *host) {
				h.commands["systemctl is-enabled gateway.service"] = ""
				h.failing["systemctl is-enabled gateway.service"] = true
			},
			failed: "gateway-unit", detail: "gateway.service is not installed", remedy: "install the rig package",
		},
		{
			name: "no systemd: unit not installed",
			break_: func(t *testing.T, m *Emulation, e *Env, h *host) {
				delete(h.commands, "systemctl is-enabled gateway.service")
			},
			failed: "gateway-unit", detail: "not installed: this host has no systemctl", remedy: "install the rig package",
		},
		{
			name: "clock unsynchronised (timedatectl)",
			break_: func(t *testing.T, m *Emulation, e *Env, h *host) {
				h.commands["timedatectl show -p NTPSynchronized --value"] = "no\n"
			},
			failed: "clock", detail: "NTPSynchronized=no", remedy: "timedatectl set-ntp true",
		},
		{
			name: "clock unsynchronised (adjtimex, no timedatectl)",
			break_: func(t *testing.T, m *Emulation, e *Env, h *host) {
				delete(h.commands, "timedatectl show -p NTPSynchronized --value")
				h.adjState, h.adjStatus = timeError, staUnsync
			},
			failed: "clock", detail: "the kernel clock is not synchronised", remedy: "NTP",
		},
		{
			name:   "disk full",
			break_: func(t *testing.T, m *Emulation, e *Env, h *host) { h.free = 10 << 20 },
			failed: "spool-disk", detail: "10 MiB free", remedy: "free space",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := healthyHost()
			m, e := emulatedBench(t, h)
			b := *e.Bench
			g := b.GPIO
			b.GPIO = g
			e.Bench = &b
			tc.break_(t, m, &e, h)
			rep := runCheck(t, e)
			got := item(rep, tc.failed)
			if got.Status != Fail || !strings.Contains(got.Detail, tc.detail) || !strings.Contains(got.Remedy, tc.remedy) {
				t.Errorf("%s = %s %q (remedy %q); want fail with %q, remedy with %q", tc.failed, got.Status, got.Detail, got.Remedy, tc.detail, tc.remedy)
			}
			for _, it := range rep.Items {
				want := Pass
				if s, ok := tc.also[it.ID]; ok {
					want = s
				}
				if it.ID == tc.failed {
					continue
				}
				if it.Status != want {
					t.Errorf("%s = %s (%s), want %s", it.ID, it.Status, it.Detail, want)
				}
			}
			if rep.Summary.OK || rep.Summary.Fail != 1 {
				t.Errorf("summary %+v: want exactly one failure", rep.Summary)
			}
		})
	}
}

// TestNoLinesNamed: a bench file with a UART only: the line items do not apply, and that is fine.
func TestNoLinesNamed(t *testing.T) {
	_, e := emulatedBench(t, healthyHost())
	b := *e.Bench
	b.GPIO = bench.GPIO{Chip: b.GPIO.Chip, BootTimeout: b.GPIO.BootTimeout}
	e.Bench = &b
	rep := runCheck(t, e)
	for id, want := range map[string]Status{"serial-port": Pass, "device-answers": Pass, "gpio-chip": Skip, "reset-line": Skip, "boot0-line": Skip, "power-line": Skip} {
		if got := item(rep, id).Status; got != want {
			t.Errorf("%s = %s (%s), want %s", id, got, item(rep, id).Detail, want)
		}
	}
	if !rep.Summary.OK {
		t.Errorf("a UART-only bench is not OK: %+v", rep.Summary)
	}
}

// TestCheckErrorsNeverPass: an item that cannot look is an error, never a pass.
func TestCheckErrorsNeverPass(t *testing.T) {
	_, e := emulatedBench(t, healthyHost())
	e.GPIOFacts = func() (pi5.Facts, error) { return pi5.Facts{}, errors.New("periph driver init: boom") }
	e.Statfs = func(string) (uint64, uint64, error) { return 0, 0, errors.New("statfs: I/O error") }
	e.Run = func(ctx context.Context, name string, args ...string) (string, error) {
		if name == "udevadm" {
			return "", fmt.Errorf("udevadm: %w", ErrNotFound)
		}
		return healthyHost().commands[name+" "+strings.Join(args, " ")], nil
	}
	e.Adjtimex = func() (int, int32, error) { return 0, 0, errors.New("EPERM") }
	rep := runCheck(t, e)
	for id, want := range map[string]Status{"gpio-chip": Error, "spool-disk": Error, "udev-rule": Error} {
		if got := item(rep, id); got.Status != want {
			t.Errorf("%s = %s (%s), want %s", id, got.Status, got.Detail, want)
		}
	}
	if rep.Summary.OK {
		t.Error("errors counted as OK")
	}
}

// TestPlayback replays a recorded check of the emulated bench (testdata/bench-check.trace) in
// place of the UART and the pins: the same bytes in the same order, the same line levels, the
// same verdicts. A check on a real bench is recorded the same way (rig bench check --record) and
// can be added here. With -update the trace is recorded again against the emulator.
func TestPlayback(t *testing.T) {
	if *update {
		_, e := emulatedBench(t, healthyHost())
		rec := trace.NewRecorder()
		e.Record = rec
		rep := runCheck(t, e)
		if !rep.Summary.OK {
			t.Fatalf("recording a failing check: %+v", rep.Items)
		}
		os.MkdirAll("testdata", 0o755)
		if err := rec.WriteFile(checkTrace, "rig bench check of the emulated bench: go test ./rig/bench/selfcheck -run TestPlayback -update"); err != nil {
			t.Fatal(err)
		}
	}
	pb, err := trace.Load(checkTrace)
	if err != nil {
		t.Fatal(err)
	}
	m, e := emulatedBench(t, healthyHost())
	m.Close() // nothing real answers: only the trace
	e.Command = time.Second
	e.Stat = func(p string) (fs.FileInfo, error) {
		if p == e.Bench.Serial.Port {
			return fakeInfo{mode: fs.ModeDevice | fs.ModeCharDevice | 0o660}, nil
		}
		return fakeInfo{mode: 0o644}, nil
	}
	e.OpenPort = func(ctx context.Context, cfg link.SerialConfig) (link.Port, error) { return pb.Port(), nil }
	e.OpenLines = func(ctx context.Context, g bench.GPIO, rec *lines.Recorder) (*dut.BenchLines, func(), error) {
		return &dut.BenchLines{
			Reset: &lines.ResetLine{Name: "reset", Pin: pb.Pin("reset"), Hold: g.Reset.Hold.D()},
			Boot0: &lines.Line{Name: "boot0", Pin: pb.Pin("boot0")},
			Power: &lines.Line{Name: "power", Pin: pb.Pin("power")},
		}, nil, nil
	}
	rep := runCheck(t, e)
	for _, it := range rep.Items {
		if it.Status != Pass {
			t.Errorf("%s: %s %s", it.ID, it.Status, it.Detail)
		}
	}
	if err := pb.Done(); err != nil {
		t.Errorf("playback: %v", err)
	}
	if d := item(rep, "reset-line").Detail; !strings.Contains(d, "boot 0 → 1") {
		t.Errorf("reset-line from the trace: %s", d)
	}
}

// TestTextReport: the plain-text rendering names each item, its status and, for a failure, the remedy.
func TestTextReport(t *testing.T) {
	rep := Report{Schema: Schema, Bench: "pi5-stm32", File: "/etc/rig/bench.yaml", Port: "/dev/rig-stm32", Items: []Result{
		{ID: "serial-port", Status: Pass, Detail: "/dev/rig-stm32 → /dev/ttyAMA0 opens at 115200 8N1"},
		{ID: "device-answers", Status: Fail, Detail: "nothing came back", Remedy: "cross TX and RX"},
		{ID: "reset-line", Status: Skip, Detail: "not checked: needs device-answers, which did not pass"},
	}, Summary: Summary{Pass: 1, Fail: 1, Skip: 1}}
	var b strings.Builder
	WriteText(&b, rep)
	want := `bench pi5-stm32 (/etc/rig/bench.yaml) · port /dev/rig-stm32
pass   serial-port     /dev/rig-stm32 → /dev/ttyAMA0 opens at 115200 8N1
FAIL   device-answers  nothing came back
                       remedy: cross TX and RX
skip   reset-line      not checked: needs device-answers, which did not pass
1 passed · 1 failed · 0 could not be evaluated · 1 skipped: fix what failed before an audit
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
