package trust

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
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
	"github.com/pathrig/rig/rig/pki"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/rig/stack"
	"github.com/pathrig/rig/rig/telemetry"
	"github.com/pathrig/rig/scenarios"
)

// benchDevices is how many devices (or bare publishers) feed the path at once: 16 by default,
// -trust.devices 64 for the fleet-growth figure.
var benchDevices = flag.Int("trust.devices", 16, "devices (and bare publishers) of BenchmarkTrustPath")

const (
	benchWindowBare = 1 << 15         // bare publishes acknowledged by the broker, not yet delivered: far below the subscriber's queues
	benchWindow     = 3 * time.Second // measurement window of the steady state
	// benchOffered is the telemetry the bench devices send in all, spread over them: 16 devices
	// at 1 ms, 64 at 4 ms. A device's UART is not the limit (a 24-byte frame every ms is 24 KB/s,
	// a quarter of 921,600 baud); the machine is: the same devices at 1 ms each would offer
	// 64,000 frames/s, several times what bare mochi delivers here, and a path offered more than
	// it can carry loses at its bounded buffers — it measures overload, not speed. With the
	// offered load fixed, more devices ask whether the path keeps its speed as devices are added.
	benchOffered = 16000           // frames/s
	benchDrain   = 2 * time.Minute // the balance waits this long for the store to hold every frame of the window
	benchPayload = `{"device":"%s","boot":1,"seq":%d,"device_time_ms":%d,"gateway_time":"2026-01-01T00:00:00Z","temp_centi_c":2150,"supply_mv":3300}`
)

// BenchmarkTrustPath prints, side by side in one line, what the telemetry-trust work costs:
//
//   - e2e_fps: frames/s reaching the durable store through the hardened path — emulated devices
//     over in-memory UART links, the gateway (TLS with client certificates, QoS 1), the broker with
//     per-device auth and ACL, the bridge and the bbolt ingest (idempotent, fsync per batch) —
//     with the loss of that run (e2e_lost, which must be 0); spool_fps and spool_lost: the same
//     with the gateway's crash-safe on-disk spool (profile hardened-durable);
//   - bare_fps: frames/s reaching the subscriber of bare mochi + paho over TLS, QoS 1, the same number of
//     publishers to one subscriber, no store; ratio_pct = e2e / bare and
//     durable_ratio_pct = spool / bare. The yardstick loses nothing (bare_lost: publishes the
//     broker acknowledged that never reached the subscriber, must be 0): the subscriber's queues
//     (MaximumInflight, MaximumClientWritesPending) are sized past the most the publishers may
//     have in flight, benchWindowBare, for on defaults mochi drops QoS 1 past 8,192 pending;
//   - decode_MB/s/core: the frame decoder on one goroutine;
//   - fleet_B/device: heap per emulated device (emulator, link, gateway, MQTT session, broker
//     client) in the 1,000-device fleet scenario.
//
// One iteration takes tens of seconds, so the benchmark runs once.
func BenchmarkTrustPath(b *testing.B) {
	var e2e, durable, bare, decode, perDevice, e2eAllocs, durableAllocs, e2eSent, durableSent float64
	var lost, durableLost, bareLost uint64
	for b.Loop() {
		bare, bareLost = benchBare(b)
		e2e, e2eSent, lost, e2eAllocs = benchHardened(b, "hardened")
		durable, durableSent, durableLost, durableAllocs = benchHardened(b, "hardened-durable")
		decode = benchDecode()
		perDevice = benchFleetMemory(b)
	}
	b.ReportMetric(e2e, "e2e_fps")
	b.ReportMetric(float64(lost), "e2e_lost")
	b.ReportMetric(e2eSent, "e2e_sent_fps")
	b.ReportMetric(durableSent, "spool_sent_fps")
	b.ReportMetric(e2eAllocs, "e2e_allocs/frame")
	b.ReportMetric(durableAllocs, "spool_allocs/frame")
	b.ReportMetric(durable, "spool_fps")
	b.ReportMetric(float64(durableLost), "spool_lost")
	b.ReportMetric(bare, "bare_fps")
	b.ReportMetric(float64(bareLost), "bare_lost")
	b.ReportMetric(100*e2e/bare, "ratio_pct")
	b.ReportMetric(100*durable/bare, "durable_ratio_pct")
	b.ReportMetric(decode, "decode_MB/s/core")
	b.ReportMetric(perDevice, "fleet_B/device")
	b.ReportMetric(benchOfferedFPS(), "offered_fps")
	b.Logf("\n%d devices, each sending every %s: %.0f frames/s offered in all (%.0f B/s per device; a 921,600-baud UART carries 92,160)\n%-46s %9s\n%-46s %9.0f\n%-46s %9.0f\n%-46s %9d\n%-46s %9.0f\n%-46s %9.0f\n%-46s %9d\n%-46s %9.0f\n%-46s %9d\n%-46s %8.1f%%\n%-46s %8.1f%%\n%-46s %9.1f\n%-46s %9.0f",
		*benchDevices, benchInterval(), benchOfferedFPS(), float64(benchFrameBytes())*benchOfferedFPS()/float64(*benchDevices), "measure", "value",
		"e2e frames/s, hardened (TLS, QoS 1, bbolt)", e2e,
		"  sent by the devices meanwhile", e2eSent,
		"frames lost on that path", lost,
		"  with the gateway's on-disk spool", durable,
		"  sent by the devices meanwhile", durableSent,
		"  frames lost with the spool", durableLost,
		"bare mochi + paho TLS QoS 1 frames/s", bare,
		"  acknowledged, never delivered (must be 0)", bareLost,
		"hardened / bare (target ≥ 60 %)", 100*e2e/bare,
		"hardened-durable / bare (target ≥ 50 %)", 100*durable/bare,
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
//
// allocs is the whole process's heap allocations per frame stored during the window: devices,
// links, relays, gateways, broker, bridge and ingest together.
//
// sent is what the devices put on their UARTs during the window (the relays' count): when the
// store keeps pace with it, the devices — the machine running them — were the limit, not the path.
func benchHardened(b *testing.B, profile string) (fps, sent float64, lost uint64, allocs float64) {
	plan := benchPlan(b, "fleet-1000", profile, func(s *scenario.Scenario) {
		s.Fleet.Devices = *benchDevices
		// Each device with a broker session of its own, as the bare publishers have: the
		// fleet scenario's grouped sessions would flatter the hardened path (and a spooling
		// gateway publishes through its own session anyway).
		s.Fleet.DevicesPerGateway = 1
		s.Device.TelemetryInterval = scenario.Duration(benchInterval())
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
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	n0, _ := st.Store().Count()
	s0 := benchSent(st)
	time.Sleep(benchWindow)
	n1, _ := st.Store().Count()
	s1 := benchSent(st)
	runtime.ReadMemStats(&m1)
	fps = float64(n1-n0) / benchWindow.Seconds()
	sent = float64(s1-s0) / benchWindow.Seconds()
	if n1 > n0 {
		allocs = float64(m1.Mallocs-m0.Mallocs) / float64(n1-n0)
	}
	drainStart := time.Now()
	acc, err := st.Balance(ctx, benchDrain, nil)
	if err != nil {
		b.Fatal(err)
	}
	benchWhere(b, profile, st, acc.Totals.Lost, time.Since(drainStart))
	return fps, sent, acc.Totals.Lost, allocs
}

// benchSent counts the frames the relays read off the devices' UARTs so far.
func benchSent(st *stack.Stack) (n uint64) {
	for _, u := range st.Units() {
		n += u.Dev.Relay().Stats().FromDevice
	}
	return n
}

// benchWhere logs where the path's frames went missing, if any did: the UART receive buffer of
// the gateway's link (a tty's 4 KiB, overrun while the gateway was not reading), the gateway's
// queue, the relay's writes toward the gateway, and what the balance took to drain.
func benchWhere(b *testing.B, profile string, st *stack.Stack, lost uint64, drain time.Duration) {
	var overrun, relayDropped, queueDropped, unpublished uint64
	for _, u := range st.Units() {
		if o, ok := u.Dev.Relay().Host().(interface{ Overrun() uint64 }); ok {
			overrun += o.Overrun()
		}
		relayDropped += u.Dev.Relay().Stats().DroppedGateway
		if g := u.Gateway(); g != nil {
			s := g.Stats()
			queueDropped += s.QueueDropped
			unpublished += s.Unpublished
		}
	}
	b.Logf("%s: lost %d; gateway link overrun %d B, relay drops %d, gateway queue drops %d; balance took %s",
		profile, lost, overrun, relayDropped, queueDropped, drain.Round(time.Millisecond))
}

// benchInterval is each bench device's telemetry interval: benchOffered frames/s over all of
// them, in whole milliseconds as the protocol's SET_INTERVAL carries it.
func benchInterval() time.Duration {
	return time.Duration(max(1, (*benchDevices*1000+benchOffered/2)/benchOffered)) * time.Millisecond
}

// benchFrameBytes is a TELEMETRY frame's size on the UART, delimiter included.
func benchFrameBytes() int {
	w, _ := protocol.Encode(protocol.NewFrame(protocol.TypeTelemetry, 1, 1<<20, 1<<20, protocol.Telemetry{TempCentiC: 2150, SupplyMv: 3300}.Marshal()))
	return len(w)
}

// benchOfferedFPS is what the bench devices offer in all at benchInterval.
func benchOfferedFPS() float64 {
	return float64(*benchDevices) * float64(time.Second) / float64(benchInterval())
}

// benchBare measures bare mochi with paho over TLS (the hardened path's transport, without its
// client certificates, ACL, gateway, bridge or store): benchDevices publishers at QoS 1
// (pipelined like the gateway's spool, 64 in flight each), one QoS 1 subscriber. The publishers hold back while
// benchWindowBare publishes are acknowledged and not yet delivered, and the subscriber's queues
// hold more than that, so the broker never drops: lost counts what was acknowledged to a
// publisher and never reached the subscriber.
func benchBare(b *testing.B) (fps float64, lost uint64) {
	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumInflight = 65535                          // its limit; above benchWindowBare
	caps.MaximumClientWritesPending = 4 * benchWindowBare // the subscriber's outbound queue
	srv := mochi.New(&mochi.Options{Logger: testLog(), Capabilities: caps})
	if err := srv.AddHook(new(allowAll), nil); err != nil {
		b.Fatal(err)
	}
	ca, err := pki.New(pki.Options{})
	if err != nil {
		b.Fatal(err)
	}
	cert, err := ca.IssueServer(pki.ServerOpts{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		b.Fatal(err)
	}
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert.Cert}, MinVersion: tls.VersionTLS12}
	clientTLS := &tls.Config{RootCAs: ca.CAPool(), MinVersion: tls.VersionTLS12}
	l := listeners.NewTCP(listeners.Config{ID: "bare", Address: "127.0.0.1:0", TLSConfig: serverTLS})
	if err := srv.AddListener(l); err != nil {
		b.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	url := "ssl://" + l.Address()
	var got atomic.Int64
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetTLSConfig(clientTLS).SetClientID("bench-sub").SetOrderMatters(false))
	if t := sub.Connect(); !t.WaitTimeout(5*time.Second) || t.Error() != nil {
		b.Fatal(t.Error())
	}
	defer sub.Disconnect(100)
	if t := sub.Subscribe(telemetry.TopicPrefix+"/+/telemetry", 1, func(mqtt.Client, mqtt.Message) { got.Add(1) }); !t.WaitTimeout(5*time.Second) || t.Error() != nil {
		b.Fatal(t.Error())
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var acked, failed atomic.Int64
	for i := range *benchDevices {
		id := fmt.Sprintf("bench-%02d", i)
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetTLSConfig(clientTLS).SetClientID(id))
		if t := c.Connect(); !t.WaitTimeout(5*time.Second) || t.Error() != nil {
			b.Fatal(t.Error())
		}
		defer c.Disconnect(100)
		wg.Go(func() {
			topic := telemetry.Topic(telemetry.TopicPrefix, id)
			toks := make([]mqtt.Token, 64)
			for seq := 0; ; {
				select {
				case <-stop:
					return
				default:
				}
				if acked.Load()-got.Load() > benchWindowBare {
					time.Sleep(100 * time.Microsecond) // the subscriber is behind: let it catch up
					continue
				}
				for j := range toks {
					toks[j] = c.Publish(topic, 1, false, fmt.Sprintf(benchPayload, id, seq, seq))
					seq++
				}
				for _, t := range toks {
					if t.WaitTimeout(10*time.Second) && t.Error() == nil {
						acked.Add(1)
					} else {
						failed.Add(1)
					}
				}
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
	for got.Load() < acked.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if f := failed.Load(); f > 0 {
		b.Errorf("bare mochi: %d publishes not acknowledged within 10s", f)
	}
	if d := acked.Load() - got.Load(); d > 0 {
		lost = uint64(d)
		b.Errorf("bare mochi: %d of %d acknowledged publishes never reached the subscriber (its queues are too small for the window)", d, acked.Load())
	} else if d < 0 {
		b.Errorf("bare mochi: the subscriber got %d more messages than were acknowledged (duplicates?)", -d)
	}
	return float64(g1-g0) / benchWindow.Seconds(), lost
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
