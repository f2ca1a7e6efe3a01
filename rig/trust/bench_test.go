package trust

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/rig/stack"
	"github.com/pathrig/rig/rig/telemetry"
	"github.com/pathrig/rig/scenarios"
)

const (
	benchDevices = 16               // devices (or bare publishers) feeding the path at once
	benchWindow  = 3 * time.Second  // measurement window of the steady state
	benchRate    = time.Millisecond // telemetry interval of each bench device
	benchPayload = `{"device":"%s","boot":1,"seq":%d,"device_time_ms":%d,"gateway_time":"2026-01-01T00:00:00Z","temp_centi_c":2150,"supply_mv":3300}`
)

// BenchmarkTrustPath prints, side by side in one line, what the telemetry-trust work costs:
//
//   - e2e_fps: frames/s reaching the durable store through the hardened path — emulated devices
//     over in-memory UART links, the gateway (TLS with client certificates, QoS 1), the broker with
//     per-device auth and ACL, the bridge and the bbolt ingest (idempotent, fsync per batch) —
//     with the loss of that run (e2e_lost, which must be 0); spool_fps and spool_lost: the same
//     with the gateway's crash-safe on-disk spool (profile hardened-durable);
//   - bare_fps: frames/s reaching the subscriber of bare mochi (its defaults) + paho, QoS 1, the
//     same number of publishers to one subscriber, plaintext, no store; ratio_pct = e2e / bare.
//     The bare broker loses QoS 1 messages once the subscriber's pending writes fill (logged);
//   - decode_MB/s/core: the frame decoder on one goroutine;
//   - fleet_B/device: heap per emulated device (emulator, link, gateway, MQTT session, broker
//     client) in the 1,000-device fleet scenario.
//
// One iteration takes tens of seconds, so the benchmark runs once.
func BenchmarkTrustPath(b *testing.B) {
	var e2e, durable, bare, decode, perDevice float64
	var lost, durableLost uint64
	for b.Loop() {
		bare = benchBare(b)
		e2e, lost = benchHardened(b, "hardened")
		durable, durableLost = benchHardened(b, "hardened-durable")
		decode = benchDecode()
		perDevice = benchFleetMemory(b)
	}
	b.ReportMetric(e2e, "e2e_fps")
	b.ReportMetric(float64(lost), "e2e_lost")
	b.ReportMetric(durable, "spool_fps")
	b.ReportMetric(float64(durableLost), "spool_lost")
	b.ReportMetric(bare, "bare_fps")
	b.ReportMetric(100*e2e/bare, "ratio_pct")
	b.ReportMetric(decode, "decode_MB/s/core")
	b.ReportMetric(perDevice, "fleet_B/device")
	b.Logf("\n%-46s %9s\n%-46s %9.0f\n%-46s %9d\n%-46s %9.0f\n%-46s %9d\n%-46s %9.0f\n%-46s %8.1f%%\n%-46s %9.1f\n%-46s %9.0f",
		"measure", "value",
		"e2e frames/s, hardened (TLS, QoS 1, bbolt)", e2e,
		"frames lost on that path", lost,
		"  with the gateway's on-disk spool", durable,
		"  frames lost with the spool", durableLost,
		"bare mochi + paho QoS 1 frames/s", bare,
		"hardened / bare (target ≥ 50 %)", 100*e2e/bare,
		"frame decoding MB/s per core", decode,
		"heap B per emulated device (1,000 fleet)", perDevice)
}

func benchPlan(b *testing.B, scenarioName, profile string, edit func(*scenario.Scenario)) *scenario.Plan {
	plan, err := scenario.Library{Embedded: scenarios.FS}.Load(scenarioName, profile, []string{"telemetry-trust"})
	if err != nil {
		b.Fatal(err)
	}
	edit(&plan.Scenario)
	return plan
}

// benchHardened measures the store's growth rate while benchDevices devices send every
// benchRate, then accounts for every frame.
func benchHardened(b *testing.B, profile string) (fps float64, lost uint64) {
	plan := benchPlan(b, "fleet-1000", profile, func(s *scenario.Scenario) {
		s.Fleet.Devices = benchDevices
		s.Device.TelemetryInterval = scenario.Duration(benchRate)
	})
	ctx := context.Background()
	st, err := stack.Start(ctx, stack.Config{Plan: plan, WorkDir: b.TempDir(), Log: testLog(), Seed: 1, Faults: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.WaitReady(ctx, 0); err != nil {
		b.Fatal(err)
	}
	time.Sleep(time.Second) // past the start-up burst
	n0, _ := st.Store().Count()
	time.Sleep(benchWindow)
	n1, _ := st.Store().Count()
	fps = float64(n1-n0) / benchWindow.Seconds()
	acc, err := st.Balance(ctx, 60*time.Second, nil)
	if err != nil {
		b.Fatal(err)
	}
	return fps, acc.Totals.Lost
}

// benchBare measures bare mochi with paho: benchDevices publishers at QoS 1 (pipelined like the
// gateway's spool, 256 in flight each), one QoS 1 subscriber.
func benchBare(b *testing.B) float64 {
	// Bare: mochi with its defaults, one TCP listener, every client allowed.
	srv := mochi.New(&mochi.Options{Logger: testLog()})
	if err := srv.AddHook(new(allowAll), nil); err != nil {
		b.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "bare", Address: "127.0.0.1:0"})
	if err := srv.AddListener(l); err != nil {
		b.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	url := "tcp://" + l.Address()
	var got atomic.Int64
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("bench-sub").SetOrderMatters(false))
	if t := sub.Connect(); !t.WaitTimeout(5*time.Second) || t.Error() != nil {
		b.Fatal(t.Error())
	}
	defer sub.Disconnect(100)
	if t := sub.Subscribe(telemetry.TopicPrefix+"/+/telemetry", 1, func(mqtt.Client, mqtt.Message) { got.Add(1) }); !t.WaitTimeout(5*time.Second) || t.Error() != nil {
		b.Fatal(t.Error())
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var published atomic.Int64
	for i := range benchDevices {
		id := fmt.Sprintf("bench-%02d", i)
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(id))
		if t := c.Connect(); !t.WaitTimeout(5*time.Second) || t.Error() != nil {
			b.Fatal(t.Error())
		}
		defer c.Disconnect(100)
		wg.Go(func() {
			topic := telemetry.Topic(telemetry.TopicPrefix, id)
			for seq := 0; ; {
				select {
				case <-stop:
					return
				default:
				}
				toks := make([]mqtt.Token, 64)
				for j := range toks {
					toks[j] = c.Publish(topic, 1, false, fmt.Sprintf(benchPayload, id, seq, seq))
					seq++
				}
				for _, t := range toks {
					t.WaitTimeout(10 * time.Second)
				}
				published.Add(int64(len(toks)))
			}
		})
	}
	time.Sleep(time.Second)
	g0 := got.Load()
	time.Sleep(benchWindow)
	g1 := got.Load()
	close(stop)
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() < published.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if l := published.Load() - got.Load(); l > 0 {
		b.Logf("bare mochi: %d acknowledged publishes never reached the subscriber", l)
	}
	return float64(g1-g0) / benchWindow.Seconds()
}

// allowAll lets every client connect, publish and subscribe on the bare broker.
type allowAll struct{ mochi.HookBase }

func (h *allowAll) ID() string { return "allow-all" }
func (h *allowAll) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}
func (h *allowAll) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool { return true }
func (h *allowAll) OnACLCheck(*mochi.Client, string, bool) bool              { return true }

func benchDecode() float64 {
	var stream []byte
	for i := range uint32(1000) {
		w, _ := protocol.Encode(protocol.NewFrame(protocol.TypeTelemetry, 1, i, i, protocol.Telemetry{TempCentiC: 2150, SupplyMv: 3300}.Marshal()))
		stream = append(stream, w...)
	}
	var d protocol.Decoder
	start := time.Now()
	var bytes int
	for time.Since(start) < time.Second {
		d.Feed(stream, func(protocol.Frame, error) {})
		bytes += len(stream)
	}
	return float64(bytes) / time.Since(start).Seconds() / 1e6
}

// benchFleetMemory starts the 1,000-device fleet scenario and returns the heap it added per device.
func benchFleetMemory(b *testing.B) float64 {
	plan := benchPlan(b, "fleet-1000", "", func(*scenario.Scenario) {})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ctx := context.Background()
	st, err := stack.Start(ctx, stack.Config{Plan: plan, WorkDir: b.TempDir(), Log: testLog(), Seed: 1, Faults: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.WaitReady(ctx, 0); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	return float64(after.HeapInuse-before.HeapInuse) / float64(len(st.Units()))
}
