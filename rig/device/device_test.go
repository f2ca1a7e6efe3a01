package device

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/lines"
	"github.com/pathrig/rig/rig/trace"
)

var update = flag.Bool("update", false, "re-record testdata/probe-reset.trace against the emulator")

const sessionTrace = "testdata/probe-reset.trace"

func checkSession(t *testing.T, res SessionResult) {
	t.Helper()
	checkSessionOf(t, res, EmulatedUID, "1.0.0", 5)
}

// checkSessionOf checks a probe (pings PINGs), reset, probe (1 PING) session of any device.
func checkSessionOf(t *testing.T, res SessionResult, uid, fw string, pings int) {
	t.Helper()
	p, r, a := res.Probe, res.Reset, res.After
	if p.UID != uid || p.Firmware != fw {
		t.Errorf("identity: uid %s firmware %s", p.UID, p.Firmware)
	}
	if p.Latency.Count != pings || p.Latency.Min <= 0 || p.Latency.Min > p.Latency.Median || p.Latency.Median > p.Latency.Max {
		t.Errorf("latency: %+v", p.Latency)
	}
	// IDENTIFY, the PINGs, STATS: the device counts the STATS command itself.
	if n := uint32(pings + 2); p.Device.RxOK != n || p.Device.RxBad != 0 || len(p.Host.BadFrames) != 0 || p.Host.Responses != uint64(n) {
		t.Errorf("counters: device %+v host %+v", p.Device, p.Host)
	}
	if r.BootAfter != r.BootBefore+1 || r.ResetCause != "pin" || r.UID != uid {
		t.Errorf("reset: %+v", r)
	}
	if a.Boot != r.BootAfter || a.Device.RxOK != 3 {
		t.Errorf("after reset: boot %d, device %+v", a.Boot, a.Device)
	}
}

// TestSessionEmulated: probe, reset and probe again against the emulator over a real pty and the
// serial driver. With -update it records the session into testdata/probe-reset.trace.
func TestSessionEmulated(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e := startEmulated(t, ctx, 50*time.Millisecond)
	rec := trace.NewRecorder()
	reset := &lines.ResetLine{Name: "reset", Pin: rec.Pin("reset", e.Reset.Pin)}
	res, err := Session(ctx, rec.Port(e.Port), reset, nil, 5, 2*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkSession(t, res)
	if st := e.Port.Stats(); st.Disconnects != 0 || st.BytesOut == 0 || st.BytesIn == 0 {
		t.Errorf("link stats: %+v", st)
	}
	if *update {
		os.MkdirAll(filepath.Dir(sessionTrace), 0o755)
		if err := rec.WriteFile(sessionTrace, "probe (5 PINGs), reset, probe (1 PING) against the Go emulator on a pty: go test ./rig/device -run TestSessionEmulated -update"); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %d events into %s", len(rec.Events()), sessionTrace)
	}
}

func playback(t *testing.T) *trace.Playback {
	t.Helper()
	return load(t, sessionTrace)
}

func load(t *testing.T, path string) *trace.Playback {
	t.Helper()
	pb, err := trace.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return pb
}

// TestSessionPlayback replays recorded probe-and-reset sessions: the same code, no device. Every
// byte the code writes and every level it drives must match the recording. A session recorded on
// the real bench (go test ./rig/bench/smoketest -rig.bench FILE -rig.record FILE) joins this table
// once its trace is copied into testdata/.
func TestSessionPlayback(t *testing.T) {
	for _, tt := range []struct {
		file, uid, fw string
		pings         int
		boot0         bool
	}{
		{sessionTrace, EmulatedUID, "1.0.0", 5, false},
	} {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			pb := load(t, tt.file)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			reset := &lines.ResetLine{Name: "reset", Pin: pb.Pin("reset")}
			var boot0 *lines.Line
			if tt.boot0 {
				boot0 = &lines.Line{Name: "boot0", Pin: pb.Pin("boot0")}
			}
			res, err := Session(ctx, pb.Port(), reset, boot0, tt.pings, 2*time.Second, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkSessionOf(t, res, tt.uid, tt.fw, tt.pings)
			if err := pb.Done(); err != nil {
				t.Fatal(err)
			}
			n, total := pb.Events()
			t.Logf("replayed %d of %d events", n, total)
		})
	}
}

// TestSessionPlaybackDiverges: code that does something else than the recorded session fails.
func TestSessionPlaybackDiverges(t *testing.T) {
	tests := []struct {
		name string
		run  func(ctx context.Context, pb *trace.Playback) error
		want string
	}{
		{"fewer pings", func(ctx context.Context, pb *trace.Playback) error {
			_, err := Session(ctx, pb.Port(), &lines.ResetLine{Name: "reset", Pin: pb.Pin("reset")}, nil, 3, time.Second, nil)
			return err
		}, "the code wrote"},
		{"no reset pulse", func(ctx context.Context, pb *trace.Playback) error {
			return WithClient(ctx, pb.Port(), nil, func(ctx context.Context, c *Client) error {
				_, err := Probe(ctx, c, 5)
				return err
			})
		}, "events replayed"},
		{"other line", func(ctx context.Context, pb *trace.Playback) error {
			_, err := Session(ctx, pb.Port(), &lines.ResetLine{Name: "reset", Pin: pb.Pin("boot0")}, nil, 5, time.Second, nil)
			return err
		}, "the code drove out boot0 Low, the trace has out reset Low"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pb := playback(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := tt.run(ctx, pb)
			if err == nil {
				err = pb.Done()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a divergence containing %q", err, tt.want)
			}
			if d := pb.Done(); !errors.Is(d, trace.ErrDiverged) {
				t.Fatalf("Done = %v, want ErrDiverged", d)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	ms := time.Millisecond
	for _, tt := range []struct {
		in   []time.Duration
		want Latency
	}{
		{nil, Latency{}},
		{[]time.Duration{3 * ms}, Latency{1, 3 * ms, 3 * ms, 3 * ms}},
		{[]time.Duration{5 * ms, 1 * ms, 3 * ms}, Latency{3, ms, 3 * ms, 5 * ms}},
		{[]time.Duration{4 * ms, 1 * ms, 2 * ms, 9 * ms}, Latency{4, ms, 3 * ms, 9 * ms}},
	} {
		if got := Summarize(tt.in); got != tt.want {
			t.Errorf("Summarize(%v) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// TestResetWithoutLine: a bench without a reset line is refused with the remedy.
func TestResetWithoutLine(t *testing.T) {
	_, err := Reset(context.Background(), nil, nil, nil, time.Second)
	if err == nil || !strings.Contains(err.Error(), "gpio.reset") {
		t.Fatalf("err = %v", err)
	}
}
