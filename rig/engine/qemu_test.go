package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/pathrig/rig/firmware/stm32"
	"github.com/pathrig/rig/rig/qemu"
	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/scenario"
)

// TestQEMUSameVerdicts runs audit-baseline on both profiles twice — the Go emulator, then the C
// firmware in QEMU (`rig run ... --device qemu`) — and wants the same verdict for every control,
// and the device identity read from the firmware over the UART.
func TestQEMUSameVerdicts(t *testing.T) {
	skip := func(format string, args ...any) {
		if os.Getenv("RIG_REQUIRE_QEMU") != "" {
			t.Fatalf("RIG_REQUIRE_QEMU is set but: "+format, args...)
		}
		t.Skipf(format, args...)
	}
	if _, err := exec.LookPath(qemu.DefaultBinary); err != nil {
		skip("%v", qemu.ErrNotInstalled)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	image, _, err := stm32.Build(ctx, t.TempDir())
	if errors.Is(err, stm32.ErrNoToolchain) {
		skip("%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, profile := range []string{"exposed", "hardened"} {
		t.Run(profile, func(t *testing.T) {
			emu, _ := runPlan(t, plan(t, "audit-baseline", profile))
			p := plan(t, "audit-baseline", profile)
			if err := p.Scenario.Device.SetKind(scenario.DeviceQEMU); err != nil {
				t.Fatal(err)
			}
			p.Scenario.Device.Image = image
			fw, _ := runPlan(t, p)

			if len(fw.Results) != len(emu.Results) || len(fw.Results) == 0 {
				t.Fatalf("%d results with qemu, %d with the emulator", len(fw.Results), len(emu.Results))
			}
			for i, r := range emu.Results {
				q := fw.Results[i]
				if q.Control != r.Control || q.Status != r.Status {
					t.Errorf("%s: emulator %s, qemu %s %s (%s)", r.Control, r.Status, q.Control, q.Status, q.Reason)
				}
			}
			if fw.Summary.Findings != emu.Summary.Findings || fw.Summary.Headline != emu.Summary.Headline {
				t.Errorf("summary with qemu %+v, with the emulator %+v", fw.Summary, emu.Summary)
			}
			if fw.Device == nil || fw.Device.UID != p.Scenario.Device.UID || fw.Device.Firmware != "1.0.0" {
				t.Errorf("device identity from the firmware %+v, want uid %s fw 1.0.0", fw.Device, p.Scenario.Device.UID)
			}
			t.Logf("%s: %d controls, %q on both devices", profile, len(fw.Results), fw.Summary.Headline)
		})
	}
}

// requireQEMU builds the firmware and returns its image, skipping (failing under
// RIG_REQUIRE_QEMU) when QEMU or the toolchain is missing.
func requireQEMU(t *testing.T, ctx context.Context) string {
	t.Helper()
	skip := func(format string, args ...any) {
		if os.Getenv("RIG_REQUIRE_QEMU") != "" {
			t.Fatalf("RIG_REQUIRE_QEMU is set but: "+format, args...)
		}
		t.Skipf(format, args...)
	}
	if _, err := exec.LookPath(qemu.DefaultBinary); err != nil {
		skip("%v", qemu.ErrNotInstalled)
	}
	image, _, err := stm32.Build(ctx, t.TempDir())
	if errors.Is(err, stm32.ErrNoToolchain) {
		skip("%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return image
}

// outsideQEMU starts the firmware in QEMU the way a person would, outside the rig, with USART1 on
// a pty, and returns the pty's path. QEMU is killed when the test ends.
func outsideQEMU(t *testing.T, image string) string {
	t.Helper()
	cmd := exec.Command(qemu.DefaultBinary, "-M", "netduinoplus2", "-display", "none", "-kernel", image, "-serial", "pty")
	stderr, pw := io.Pipe() // QEMU says it on stdout or stderr, depending on the version
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); pw.Close() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		defer io.Copy(io.Discard, stderr)
		for sc.Scan() {
			// "char device redirected to /dev/pts/5 (label serial0)"
			if m := ptyLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case p := <-found:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("QEMU did not say which pty holds its serial port")
	}
	return ""
}

var ptyLine = regexp.MustCompile(`redirected to (/dev/pts/\d+)`)

// TestSerialBoardAuditedTwice is the bench board's done-when: the C firmware in a QEMU started
// outside the rig, audited as `kind: serial` on its pty, twice in a row on the hardened profile.
// The board has been up before the rig comes (its counters cover more than the run); the first
// run must judge only its own window and leave the board as it found it, so the second passes
// too.
func TestSerialBoardAuditedTwice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	image := requireQEMU(t, ctx)
	pty := outsideQEMU(t, image)
	time.Sleep(500 * time.Millisecond) // the board runs (and sends) before anyone listens
	for i := range 2 {
		p := plan(t, "audit-baseline", "hardened")
		p.Scenario.Device.Port = pty
		if err := p.Scenario.Device.SetKind(scenario.DeviceSerial); err != nil {
			t.Fatal(err)
		}
		p.Scenario.Device.UID = "000000000000000000000000" // netduinoplus2 has no UID ROM
		run, dir := runPlan(t, p)
		if run.Summary.Findings != 0 {
			for _, r := range run.Results {
				if r.Status != record.StatusPass {
					t.Logf("%s %s: %s", r.Control, r.Status, r.Reason)
				}
			}
			t.Fatalf("run %d on the serial board: %d findings, want 0", i+1, run.Summary.Findings)
		}
		if run.Device == nil || run.Device.UID != p.Scenario.Device.UID {
			t.Fatalf("run %d: device %+v", i+1, run.Device)
		}
		if _, err := os.Stat(filepath.Join(dir, "evidence", "device", "lifecycle.json")); err != nil {
			t.Errorf("run %d: device lifecycle evidence: %v", i+1, err)
		}
		t.Logf("run %d: %s, device boot %d", i+1, run.Summary.Headline, run.Device.Boot)
	}
}

// buildGateway compiles the real gateway binary for the runs whose timeline crashes it.
func buildGateway(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gateway")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/pathrig/rig/gateway/cmd/gateway").CombinedOutput()
	if err != nil {
		t.Fatalf("go build gateway: %v\n%s", err, out)
	}
	return bin
}

// TestTrustOnQEMU is the firmware-in-the-loop fault done-when: the whole telemetry-trust timeline
// (UART faults on the relay, NRST through QMP, a power cut that stops the VM and starts a new one
// with RAM lost, clock skew through the protocol, broker, network, ingest and gateway faults)
// played on the C firmware in QEMU, with the verdicts the emulator gets; and the exposed variant
// reports its loss on QEMU as well.
func TestTrustOnQEMU(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	image := requireQEMU(t, ctx)
	bin := buildGateway(t)
	for _, name := range []string{"telemetry-trust", "telemetry-trust-exposed"} {
		t.Run(name, func(t *testing.T) {
			var runs [2]*record.Run
			for i, kind := range []string{scenario.DeviceEmulated, scenario.DeviceQEMU} {
				p := plan(t, name, "")
				if err := p.Scenario.Device.SetKind(kind); err != nil {
					t.Fatal(err)
				}
				if kind == scenario.DeviceQEMU {
					p.Scenario.Device.Image = image
				}
				out := filepath.Join(t.TempDir(), kind)
				run, err := Run(ctx, p, Options{Out: out, Version: "test", GatewayBin: bin})
				if err != nil {
					t.Fatalf("%s on %s: %v", name, kind, err)
				}
				runs[i] = run
				b, _ := os.ReadFile(filepath.Join(out, "evidence", "TRUST-LOSS", "accounting.json"))
				var acc struct {
					Totals struct {
						Sent             uint64 `json:"sent"`
						Delivered        uint64 `json:"delivered"`
						Lost             uint64 `json:"lost"`
						LineDamaged      uint64 `json:"line_damaged"`
						StoredDuplicates uint64 `json:"stored_duplicates"`
						Altered          uint64 `json:"altered"`
					} `json:"totals"`
					Accounts []json.RawMessage `json:"accounts"`
				}
				if err := json.Unmarshal(b, &acc); err != nil {
					t.Fatal(err)
				}
				t.Logf("%s on %s: %s; totals %+v over %d device boots", name, kind, run.Summary.Headline, acc.Totals, len(acc.Accounts))
				tot := acc.Totals
				switch name {
				case "telemetry-trust":
					if tot.Lost != 0 || tot.StoredDuplicates != 0 || tot.Altered != 0 || tot.Sent < 300 || tot.Delivered+tot.LineDamaged != tot.Sent {
						t.Errorf("%s: totals %+v: want every frame delivered once, unaltered", kind, tot)
					}
					if len(acc.Accounts) < 3 {
						t.Errorf("%s: %d device boots; device-reset and power-cut each start one", kind, len(acc.Accounts))
					}
					for _, r := range run.Results {
						bound := r.Control == "TRUST-LATENCY" || r.Control == "TRUST-RECOVERY"
						switch {
						case r.Status == record.StatusPass:
						case bound && r.Status == record.StatusFail:
							t.Logf("%s: %s %s: %s — a time bound under load", kind, r.Control, r.Status, r.Reason)
						default:
							t.Errorf("%s: %s %s: %s", kind, r.Control, r.Status, r.Reason)
						}
					}
					fb, err := os.ReadFile(filepath.Join(out, "evidence", "TRUST-LOSS", "fault-timeline.json"))
					if err != nil {
						t.Fatal(err)
					}
					var faults []struct {
						Kind       string   `json:"kind"`
						PlannedAt  string   `json:"planned_at"`
						Error      string   `json:"error"`
						RecoveryMs *float64 `json:"recovery_ms"`
					}
					if err := json.Unmarshal(fb, &faults); err != nil {
						t.Fatal(err)
					}
					for _, f := range faults {
						if f.Error != "" || f.RecoveryMs == nil {
							t.Errorf("%s: fault %s@%s did not recover (error %q)", kind, f.Kind, f.PlannedAt, f.Error)
						}
					}
				case "telemetry-trust-exposed":
					if tot.Lost == 0 {
						t.Errorf("%s: no loss across the broker outage on the exposed path: %+v", kind, tot)
					}
				}
			}
			// The accounting's verdicts must agree; latency and recovery are judged against time
			// bounds that a shared, loaded 2-core machine can stretch on either device: they are
			// logged, and every fault must have recovered at all (recovery_ms set, no error).
			emu, fw := runs[0], runs[1]
			for i, r := range emu.Results {
				q := fw.Results[i]
				switch {
				case q.Control != r.Control:
					t.Errorf("result %d: emulator %s, qemu %s", i, r.Control, q.Control)
				case q.Status != r.Status && (r.Control == "TRUST-LATENCY" || r.Control == "TRUST-RECOVERY"):
					t.Logf("%s: emulator %s, qemu %s (%s) — a time bound under load", r.Control, r.Status, q.Status, q.Reason)
				case q.Status != r.Status:
					t.Errorf("%s: emulator %s, qemu %s (%s)", r.Control, r.Status, q.Status, q.Reason)
				}
			}
		})
	}
}
