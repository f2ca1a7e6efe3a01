package engine

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/pathrig/rig/firmware/emulator"
	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/bench"
	"github.com/pathrig/rig/rig/dut"
	"github.com/pathrig/rig/rig/dut/serial"
	"github.com/pathrig/rig/rig/lines"
	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/scenario"
)

// TestBenchFileFaults is the bench board's fault done-when without a Pi: a board on a UART (the
// emulator on a pty the rig did not make) wired through a bench file with NRST and a power line,
// the lines being fakes (the emulator's own periph pins, as a Pi's GPIO would drive the board's).
// The device-reset and power-cut of the timeline pulse NRST and switch the power line at the
// timeline's times, the lines' transitions are in the run's evidence, and nothing is lost.
func TestBenchFileFaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pty, err := link.NewPtyPair()
	if err != nil {
		t.Fatal(err)
	}
	defer pty.Close()
	const uidHex = "303030313233343536373839"
	uid, _ := protocol.ParseUID(uidHex)
	board := emulator.New(emulator.Config{UID: uid, FW: protocol.FWVersion{Major: 1}, Boot: 41})
	bctx, bcancel := context.WithCancel(ctx)
	bdone := make(chan error, 1)
	go func() { bdone <- board.Run(bctx, pty.Device()) }()
	defer func() { bcancel(); <-bdone }()
	time.Sleep(300 * time.Millisecond) // the board has been up before the rig comes

	benchFile := filepath.Join(t.TempDir(), "bench.yaml")
	if err := os.WriteFile(benchFile, []byte("name: test-bench\nserial:\n  port: "+pty.Path()+"\ngpio:\n  reset: {line: GPIO23}\n  power: {line: GPIO25}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var opened []string
	old := serial.GPIO
	serial.GPIO = func(ctx context.Context, g bench.GPIO, rec *lines.Recorder) (*dut.BenchLines, func(), error) {
		opened = append(opened, g.Reset.Line, g.Power.Line)
		return &dut.BenchLines{
			Reset: &lines.ResetLine{Name: "reset", Pin: board.ResetPin(), Rec: rec},
			Power: &lines.Line{Name: "power", Pin: board.PowerPin(), Rec: rec},
		}, func() {}, nil
	}
	defer func() { serial.GPIO = old }()

	p := plan(t, "telemetry-trust", "hardened")
	if err := p.Scenario.Device.UseSerial("", benchFile); err != nil {
		t.Fatal(err)
	}
	p.Scenario.Trust.Gateway = "in-process"
	p.Scenario.Trust.Phase = scenario.Duration(3 * time.Second)
	p.Scenario.Faults = []scenario.Fault{
		{Kind: scenario.FaultDeviceReset, At: scenario.Duration(500 * time.Millisecond), Duration: scenario.Duration(200 * time.Millisecond)},
		{Kind: scenario.FaultPowerCut, At: scenario.Duration(1500 * time.Millisecond), Duration: scenario.Duration(300 * time.Millisecond)},
	}
	out := filepath.Join(t.TempDir(), "run")
	run, err := Run(ctx, p, Options{Out: out, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(opened, ",") != "GPIO23,GPIO25" {
		t.Errorf("bench lines opened %v, want the bench file's GPIO23 and GPIO25", opened)
	}
	byID := resultsByID(run)
	for _, id := range []string{"TRUST-LOSS", "TRUST-DUPLICATES", "TRUST-VALUES", "TRUST-RECOVERY"} {
		if byID[id].Status != record.StatusPass {
			t.Errorf("%s = %s: %s", id, byID[id].Status, byID[id].Reason)
		}
	}

	b, err := os.ReadFile(filepath.Join(out, "evidence", "device", "lifecycle.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Lines []lines.Transition    `json:"lines"`
		Steps map[string][]dut.Step `json:"steps"`
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	var faults []struct {
		Kind    string    `json:"kind"`
		Started time.Time `json:"started"`
		Ended   time.Time `json:"ended"`
	}
	fb, err := os.ReadFile(filepath.Join(out, "evidence", "TRUST-LOSS", "fault-timeline.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(fb, &faults); err != nil {
		t.Fatal(err)
	}
	// The supply is switched on when the rig powers the device (PowerOn), then cut and restored by
	// the fault; NRST is only pulsed by the fault.
	want := map[string][]gpio.Level{"reset": {gpio.Low, gpio.High}, "power": {gpio.High, gpio.Low, gpio.High}}
	got := map[string][]lines.Transition{}
	for _, tr := range ev.Lines {
		got[tr.Line] = append(got[tr.Line], tr)
	}
	for name, levels := range want {
		trs := got[name]
		if len(trs) != len(levels) {
			t.Fatalf("line %s: transitions %+v, want %v", name, trs, levels)
		}
		for i, l := range levels {
			if trs[i].Level != l {
				t.Errorf("line %s transition %d: %v, want %v", name, i, trs[i].Level, l)
			}
		}
		trs = trs[len(trs)-2:]
		kind := map[string]string{"reset": scenario.FaultDeviceReset, "power": scenario.FaultPowerCut}[name]
		for _, f := range faults {
			if f.Kind != kind {
				continue
			}
			// Each line goes active when its fault starts and back when it ends (within the time
			// one driver call takes).
			if d := trs[0].At.Sub(f.Started); d < 0 || d > 100*time.Millisecond {
				t.Errorf("line %s went active %s after its fault started", name, d)
			}
			if d := trs[1].At.Sub(f.Ended); d > 0 || d < -time.Second {
				t.Errorf("line %s released %s before its fault ended", name, -d)
			}
		}
	}
	steps := ev.Steps[uidHex]
	var causes []string
	for _, s := range steps {
		causes = append(causes, s.Cause)
	}
	if wantC := "power on,identify,NRST low,NRST released,identify,power cut,power restored,identify"; strings.Join(causes, ",") != wantC {
		t.Errorf("lifecycle steps %q, want %q", strings.Join(causes, ","), wantC)
	}
	// The board was up before the run: the window starts at its counters, not at 0.
	if run.Device == nil || run.Device.Boot != 41 {
		t.Errorf("device %+v: want the board's boot 41 as found", run.Device)
	}
}

// TestFaultRefusedForDeviceKind: a fault the device kind cannot perform is refused before anything
// runs, naming the fault and the kind (never skipped silently).
func TestFaultRefusedForDeviceKind(t *testing.T) {
	noLines := filepath.Join(t.TempDir(), "bench.yaml")
	if err := os.WriteFile(noLines, []byte("name: bare\nserial:\n  port: /dev/null\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		port, file string
		fault      string
		want       string
	}{
		{"serial without a bench: reset", "/dev/ttyUSB9", "", scenario.FaultDeviceReset, "device kind serial cannot perform fault device-reset"},
		{"serial without a bench: power", "/dev/ttyUSB9", "", scenario.FaultPowerCut, "device kind serial cannot perform fault power-cut"},
		{"bench without a power line", "", noLines, scenario.FaultPowerCut, "gpio.power"},
		{"UART faults work on every kind", "/dev/ttyUSB9", "", scenario.FaultUARTCut, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := plan(t, "telemetry-trust", "")
			if err := p.Scenario.Device.UseSerial(tc.port, tc.file); err != nil {
				t.Fatal(err)
			}
			p.Scenario.Faults = []scenario.Fault{{Kind: tc.fault, At: scenario.Duration(time.Second), Duration: scenario.Duration(time.Second)}}
			out := filepath.Join(t.TempDir(), "run")
			err := CheckDeviceFaults(p)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "faults[0]") {
				t.Fatalf("err = %v, want one naming faults[0] and %q", err, tc.want)
			}
			if _, err := Run(context.Background(), p, Options{Out: out}); err == nil || !errors.Is(err, ErrUsage) {
				t.Fatalf("Run: %v, want a usage error", err)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a refused scenario left %s behind", out)
			}
		})
	}
}
