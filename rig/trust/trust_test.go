package trust

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathrig/rig/gateway"
	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/rig/stack"
	"github.com/pathrig/rig/scenarios"
)

func testLog() *slog.Logger {
	if os.Getenv("RIG_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// buildGateway compiles the real gateway binary for the tests that crash it.
func buildGateway(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gateway")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/pathrig/rig/gateway/cmd/gateway").CombinedOutput()
	if err != nil {
		t.Fatalf("go build gateway: %v\n%s", err, out)
	}
	return bin
}

func load(t *testing.T, name string) *scenario.Plan {
	t.Helper()
	plan, err := scenario.Library{Embedded: scenarios.FS}.Load(name, "", []string{"telemetry-trust"})
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

func run(t *testing.T, plan *scenario.Plan, bin string) *check.TrustReport {
	t.Helper()
	return runWith(t, plan, bin, nil)
}

// runWith runs a trust scenario on the one path the stack assembles for faults; hook adjusts the
// in-process gateways.
func runWith(t *testing.T, plan *scenario.Plan, bin string, hook func(*gateway.Config)) *check.TrustReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), plan.Scenario.Timing.Timeout.D())
	defer cancel()
	work := t.TempDir()
	st, err := stack.Start(ctx, stack.Config{Plan: plan, WorkDir: work, GatewayBin: bin, Log: testLog(), Seed: 42, Faults: true, GatewayHook: hook})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.WaitReady(ctx, plan.Scenario.Timing.Warmup.D()); err != nil {
		t.Fatal(err)
	}
	rep, err := New(st, plan, testLog()).RunTrust(ctx)
	if err != nil {
		if logs, _ := filepath.Glob(filepath.Join(work, "gateway-*.log")); len(logs) > 0 {
			b, _ := os.ReadFile(logs[0])
			t.Logf("gateway log:\n%s", b)
		}
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(struct {
		Totals  check.TrustAccount
		Latency check.LatencyStats
		Faults  []check.FaultRecord
	}{rep.Totals, rep.Latency, rep.Faults}, "", " ")
	t.Logf("report: %s", b)
	return rep
}

// TestHardenedEveryFault is the done-when of the telemetry-trust issue: on the hardened durable
// path, across every fault kind on one timeline, no frame is lost and none is stored twice,
// accounted against the device's own per-boot counters.
func TestHardenedEveryFault(t *testing.T) {
	t.Parallel()
	plan := load(t, "telemetry-trust")
	kinds := map[string]bool{}
	for _, f := range plan.Scenario.Faults {
		kinds[f.Kind] = true
	}
	for _, k := range scenario.FaultKinds() {
		if !kinds[k] {
			t.Fatalf("scenario telemetry-trust lacks fault kind %s", k)
		}
	}
	rep := run(t, plan, buildGateway(t))
	tot := rep.Totals
	if tot.Sent < 300 {
		t.Fatalf("devices sent %d frames in the phase; want a real flow", tot.Sent)
	}
	if tot.Lost != 0 || tot.StoredDuplicates != 0 {
		t.Fatalf("lost %d (during %v), stored duplicates %d; want 0 and 0", tot.Lost, tot.LostDuring, tot.StoredDuplicates)
	}
	if tot.Delivered+tot.LineDamaged != tot.Sent {
		t.Fatalf("delivered %d + line-damaged %d != sent %d", tot.Delivered, tot.LineDamaged, tot.Sent)
	}
	if tot.LineDamaged == 0 {
		t.Errorf("uart-corrupt damaged no frame: the fault did nothing")
	}
	if len(rep.Accounts) < 3 {
		t.Errorf("%d boots accounted; device-reset and power-cut should each start one", len(rep.Accounts))
	}
	for _, f := range rep.Faults {
		if f.Error != "" {
			t.Errorf("fault %s at %s: %s", f.Kind, f.PlannedAt, f.Error)
		}
		if f.RecoveryMs == nil {
			t.Errorf("fault %s at %s: telemetry never recovered", f.Kind, f.PlannedAt)
		}
	}
}

// TestExposedBrokerOutageLoses: QoS 0 without a buffer loses the telemetry of a broker outage,
// and the accounting attributes the loss to it.
func TestExposedBrokerOutageLoses(t *testing.T) {
	t.Parallel()
	rep := run(t, load(t, "telemetry-trust-exposed"), "")
	tot := rep.Totals
	if tot.Lost == 0 {
		t.Fatalf("no loss measured across a 2 s broker outage at QoS 0 without a buffer: %+v", tot)
	}
	if tot.LostDuring["broker-down@1s"] == 0 {
		t.Fatalf("loss %d not attributed to the broker outage: %v", tot.Lost, tot.LostDuring)
	}
	if tot.StoredDuplicates != 0 {
		t.Fatalf("stored duplicates %d", tot.StoredDuplicates)
	}
}

// TestFleet1000 is the fleet-growth done-when: 1,000 emulated devices over in-memory links, each
// with its own gateway session, through the hardened path (TLS with client certificates, per-device
// ACL, QoS 1, durable idempotent ingest); every frame the devices sent reaches the store.
func TestFleet1000(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000-device fleet: skipped with -short")
	}
	plan := load(t, "fleet-1000")
	rep := run(t, plan, "")
	tot := rep.Totals
	if rep.Devices != 1000 || len(rep.Accounts) != 1000 {
		t.Fatalf("%d devices, %d device boots accounted; want 1000", rep.Devices, len(rep.Accounts))
	}
	if tot.Lost != 0 {
		for _, a := range rep.Accounts {
			if a.Lost > 0 {
				t.Logf("lossy: %+v", a)
			}
		}
		b, _ := json.Marshal(rep.Components)
		t.Logf("components: %s", b)
	}
	if tot.Sent < 5000 || tot.Lost != 0 || tot.StoredDuplicates != 0 || tot.Delivered != tot.Sent {
		t.Fatalf("fleet totals %+v: want every frame delivered once", tot)
	}
}

// TestRigOwnFailureIsError: when the rig's own side fails (here its work folder is "full": the
// free space it wants is more than any disk has), the trust run is an error naming the rig's
// side — never a loss finding against the path.
func TestRigOwnFailureIsError(t *testing.T) {
	plan := load(t, "telemetry-trust-exposed")
	plan.Scenario.Faults = nil
	plan.Scenario.Trust.Phase = scenario.Duration(500 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Config{Plan: plan, WorkDir: t.TempDir(), Log: testLog(), Faults: true, MinFree: 1 << 62})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.WaitReady(ctx, 0); err != nil {
		t.Fatal(err)
	}
	_, err = New(st, plan, testLog()).RunTrust(ctx)
	if err == nil || !strings.Contains(err.Error(), "the rig's own side failed") || !strings.Contains(err.Error(), "bytes free") {
		t.Fatalf("RunTrust: %v; want the rig's own failure named", err)
	}
}
