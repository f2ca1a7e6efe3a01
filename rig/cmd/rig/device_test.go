package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/device"
	"github.com/pathrig/rig/rig/lines"
	"github.com/pathrig/rig/rig/trace"
)

// runRig runs the CLI like execute does, capturing stdout.
func runRig(t *testing.T, args ...string) (string, int) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	if err == nil {
		return out.String(), exitOK
	}
	t.Logf("rig %v: %v", args, err)
	var ee *exitError
	if errors.As(err, &ee) {
		return out.String(), ee.code
	}
	return out.String(), exitUsage
}

func TestDeviceProbeEmulated(t *testing.T) {
	rec := filepath.Join(t.TempDir(), "probe.trace")
	out, code := runRig(t, "device", "probe", "--emulate", "--pings", "4", "--json", "--record", rec, "--log-level", "error")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	var res device.ProbeResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if res.UID != device.EmulatedUID || res.Firmware != "1.0.0" || res.Latency.Count != 4 || res.Device.RxOK != 6 || res.Link == nil || res.Link.Framing != "8N1" {
		t.Errorf("probe result: %+v", res)
	}
	pb, err := trace.Load(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pb.Header.Note, "rig device probe --pings 4") {
		t.Errorf("trace note %q", pb.Header.Note)
	}
	if _, total := pb.Events(); total < 12 { // IDENTIFY, 4 PINGs, STATS: a write and at least one read each
		t.Errorf("trace holds %d events", total)
	}

	out, code = runRig(t, "device", "probe", "--emulate", "--log-level", "error")
	for _, want := range []string{"device    " + device.EmulatedUID + " · firmware 1.0.0", "latency   10 PINGs · min", "STATS this boot: rx_ok 12 · rx_bad 0", "bad frames 0", "link      disconnects 0"} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
}

func TestDeviceResetEmulated(t *testing.T) {
	rec := filepath.Join(t.TempDir(), "reset.trace")
	out, code := runRig(t, "device", "reset", "--emulate", "--record", rec, "--log-level", "error")
	if code != exitOK || !strings.Contains(out, "boot 0 → 1 · reset cause pin") || !strings.Contains(out, "NRST held 10ms") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	// The recorded reset replays through the same code: STATS, the pulse on "reset", the HELLO.
	pb, err := trace.Load(rec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var res device.ResetResult
	err = device.WithClient(ctx, pb.Port(), nil, func(ctx context.Context, c *device.Client) error {
		var err error
		res, err = device.Reset(ctx, c, &lines.ResetLine{Name: "reset", Pin: pb.Pin("reset")}, nil, 2*time.Second)
		return err
	})
	if err != nil || pb.Done() != nil || res.BootAfter != 1 || res.ResetCause != "pin" {
		t.Fatalf("playback of the recorded reset: %+v, %v, %v", res, err, pb.Done())
	}
	out, code = runRig(t, "device", "reset", "--emulate", "--hold", "30ms", "--json", "--log-level", "error")
	res = device.ResetResult{}
	if code != exitOK || json.Unmarshal([]byte(out), &res) != nil || res.BootAfter != res.BootBefore+1 || res.Hold.Milliseconds() != 30 {
		t.Fatalf("exit %d: %+v\n%s", code, res, out)
	}
}

func TestDeviceUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bench.yaml")
	os.WriteFile(bad, []byte("name: b\nserial:\n  port: /dev/ttyAMA0\n  bauds: 9600\n"), 0o644)
	noReset := filepath.Join(dir, "noreset.yaml")
	os.WriteFile(noReset, []byte("name: b\nserial:\n  port: "+filepath.Join(dir, "ttyNOPE")+"\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"device", "probe"}, exitUsage},
		{[]string{"device", "probe", "--emulate", "--port", "/dev/ttyAMA0"}, exitUsage},
		{[]string{"device", "probe", "--emulate", "--pings", "0"}, exitUsage},
		{[]string{"device", "probe", "--port", "/dev/ttyAMA0", "--framing", "9N1"}, exitUsage},
		{[]string{"device", "probe", "--bench", bad}, exitUsage},
		{[]string{"device", "probe", "--bench", filepath.Join(dir, "missing.yaml")}, exitUsage},
		{[]string{"device", "probe", "--port", filepath.Join(dir, "ttyNOPE")}, exitRunError},
		{[]string{"device", "reset", "--port", "/dev/ttyAMA0"}, exitUsage},
		{[]string{"device", "reset", "--bench", noReset}, exitUsage}, // refused before the port is opened
		{[]string{"device", "reset", "--emulate", "--hold", "1m"}, exitUsage},
	} {
		if _, got := runRig(t, tc.args...); got != tc.want {
			t.Errorf("rig %v exited %d, want %d", tc.args, got, tc.want)
		}
	}
}

func TestDeviceHelp(t *testing.T) {
	out, code := runRig(t, "device", "probe", "--help")
	for _, want := range []string{"--port", "--bench", "--emulate", "--record", "--pings", "min, median, max", "Exit codes"} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("probe --help lacks %q", want)
		}
	}
	out, _ = runRig(t, "--help")
	if !strings.Contains(out, "device") {
		t.Errorf("rig --help does not list device:\n%s", out)
	}
}
