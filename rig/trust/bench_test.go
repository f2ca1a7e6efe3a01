package trust

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"math"
	"net"
	"runtime"
	"strings"
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
	benchWindow     = 5 * time.Second // measurement window of the steady state
	// benchOffered is the search's first offered rate, in frames/s over all devices: 16 devices at
	// 1 ms, the finest period SET_INTERVAL carries. The search goes up from there by √2 a step to
	// the devices' wire speed (benchLinePeriod): past it no real device could offer more.
	benchOffered  = 16000
	benchKeepPace = 2 * time.Second // RFC 2544 counts frames arriving up to 2 s after a trial
	benchKeepUp   = 0.97            // the store's growth over the window against what was sent
	// benchDrain is how long a trial's balance waits for the store to hold every frame of the
	// window: a trial that needs more did not keep pace anyway, and what is still missing then
	// counts as lost.
	benchDrain   = 15 * time.Second
	benchPayload = `{"device":"%s","boot":1,"seq":%d,"device_time_ms":%d,"gateway_time":"2026-01-01T00:00:00Z","temp_centi_c":2150,"supply_mv":3300}`
)

// BenchmarkTrustPath prints, side by side in one line, what the telemetry-trust work costs:
//
//   - e2e_fps: the throughput of the hardened path — emulated devices over in-memory UART links,
//     the gateway (TLS with client certificates, QoS 1), the broker with per-device auth and ACL,
//     the bridge and the bbolt ingest (idempotent, fsync per batch) — as RFC 2544 defines
//     throughput: the offered rate at which the path delivers every frame the devices sent, in
//     pace, found by a search over offered rates (benchSearch); e2e_lost is the loss at that rate
//     (0 unless even the lowest rate lost frames, which fails the benchmark and makes the ratio 0). spool_fps and spool_lost: the same with the
//     gateway's crash-safe on-disk spool (profile hardened-durable). The search is needed because
//     a UART has no flow control: a device sends at its period whatever the host does, so a path
//     offered more than it carries loses at its bounded buffers, by design;
//   - bare_fps: frames/s reaching the subscriber of bare mochi + paho over TLS, QoS 1, the same number of
//     publishers to one subscriber, no store; the publishers pace themselves on the broker's
//     acknowledgements, so their rate is already the most the bare path carries. It is the best
//     of three measurements taken before, between and after the searches. ratio_pct = e2e / bare and
//     durable_ratio_pct = spool / bare. The yardstick loses nothing (bare_lost: publishes the
//     broker acknowledged that never reached the subscriber, must be 0): the subscriber's queues
//     (MaximumInflight, MaximumClientWritesPending) are sized past the most the publishers may
//     have in flight, benchWindowBare, for on defaults mochi drops QoS 1 past 8,192 pending;
//   - decode_MB/s/core: the frame decoder on one goroutine;
//   - fleet_B/device: heap per emulated device (emulator, link, gateway, MQTT session, broker
//     client) in the 1,000-device fleet scenario.
//
// One iteration takes a few minutes, so the benchmark runs once.
func BenchmarkTrustPath(b *testing.B) {
	var e2e, durable benchSearchResult
	var bare, decode, perDevice float64
	var bareLost uint64
	var bares []float64
	for b.Loop() {
		// The yardstick is measured three times, before, between and after the searches, and
		// its best kept: a busy moment on a shared machine only ever lowers a rate, and a
		// yardstick lowered by one would flatter the ratios.
		bares, bare, bareLost = nil, 0, 0
		measureBare := func() {
			fps, lost := benchBare(b)
			bares, bare, bareLost = append(bares, fps), max(bare, fps), bareLost+lost
		}
		measureBare()
		e2e = benchSearch(b, "hardened")
		measureBare()
		durable = benchSearch(b, "hardened-durable")
		measureBare()
		decode = benchDecode()
		perDevice = benchFleetMemory(b)
	}
	// A search whose every trial failed has no throughput: its ratio is 0, and the benchmark fails.
	ratio := func(r benchSearchResult) float64 {
		if !r.best.carried() {
			return 0
		}
		return 100 * r.best.stored / bare
	}
	for _, r := range []struct {
		name string
		res  benchSearchResult
	}{{"hardened", e2e}, {"hardened-durable", durable}} {
		if !r.res.best.carried() {
			b.Errorf("%s: not even the first rate (%s) was carried: %s", r.name, r.res.best.period, r.res.best.why())
		}
	}
	b.ReportMetric(e2e.best.stored, "e2e_fps")
	b.ReportMetric(float64(e2e.best.lost), "e2e_lost")
	b.ReportMetric(e2e.best.sent, "e2e_sent_fps")
	b.ReportMetric(durable.best.sent, "spool_sent_fps")
	b.ReportMetric(e2e.best.allocs, "e2e_allocs/frame")
	b.ReportMetric(durable.best.allocs, "spool_allocs/frame")
	b.ReportMetric(durable.best.stored, "spool_fps")
	b.ReportMetric(float64(durable.best.lost), "spool_lost")
	b.ReportMetric(bare, "bare_fps")
	b.ReportMetric(float64(bareLost), "bare_lost")
	b.ReportMetric(ratio(e2e), "ratio_pct")
	b.ReportMetric(ratio(durable), "durable_ratio_pct")
	b.ReportMetric(decode, "decode_MB/s/core")
	b.ReportMetric(perDevice, "fleet_B/device")
	// One Logf of at most 10 lines: go test keeps no more of a benchmark's log without -v.
	b.Logf("\n%d devices; throughput: the offered rate carried whole and in pace (RFC 2544) that stored the most; trials: period stored/sent/due k frames/s\n"+
		"trials, hardened:         %s\n"+
		"trials, hardened-durable: %s\n"+
		"hardened (TLS, QoS 1, bbolt)    %7.0f frames/s, lost %d, devices every %s\n"+
		"  with the on-disk spool        %7.0f frames/s, lost %d, devices every %s\n"+
		"bare mochi + paho TLS QoS 1     %7.0f frames/s, lost %d (best of %.0f)\n"+
		"hardened / bare %.1f %% (target ≥ 60 %%); hardened-durable / bare %.1f %% (target ≥ 50 %%)\n"+
		"frame decoding %.1f MB/s per core; heap %.0f B per emulated device (1,000 fleet); wire speed %.0f frames/s a device (921,600 baud)",
		*benchDevices,
		e2e.trials, durable.trials,
		e2e.best.stored, e2e.best.lost, e2e.best.period,
		durable.best.stored, durable.best.lost, durable.best.period,
		bare, bareLost, bares,
		ratio(e2e), ratio(durable),
		decode, perDevice, 92160/float64(benchFrameBytes()))
}

// benchTrial is one offered rate through the path: each device sending every period.
type benchTrial struct {
	period time.Duration
	stored float64       // frames/s reaching the store during the window
	sent   float64       // frames/s the devices put on their UARTs meanwhile (the relays' count)
	lost   uint64        // frames of the balance never stored
	drain  time.Duration // what the balance took to find every frame in the store
	allocs float64       // the whole process's heap allocations per frame stored
}

// carried is RFC 2544's pass: every frame the devices sent delivered, and in pace — the store grew
// by at least benchKeepUp of what was sent over the window (the rest is the path's latency at the
// window's edges, not a backlog) and held the last frame within benchKeepPace of the devices'
// counters being read. A backlog that grows through the window and drains afterwards is not
// carried, however much the path's buffers hold.
func (t benchTrial) carried() bool { return t.why() == "" }

// why says why a trial was not carried ("" when it was).
func (t benchTrial) why() string {
	switch {
	case t.lost > 0:
		return fmt.Sprintf("lost %d", t.lost)
	case t.stored < benchKeepUp*t.sent:
		return fmt.Sprintf("behind %.0f%%", 100*(1-t.stored/t.sent))
	case t.drain > benchKeepPace:
		return fmt.Sprintf("late %s", t.drain.Round(10*time.Millisecond))
	}
	return ""
}

// due is what the devices' period asks for, frames/s in all.
func (t benchTrial) due() float64 {
	return float64(*benchDevices) * float64(time.Second) / float64(t.period)
}

// String is the trial in a few words: the period, thousands of frames a second stored, sent and
// due (the devices share the machine's cores with the path and may send less than their period
// asks), and why it was not carried.
func (t benchTrial) String() string {
	out := fmt.Sprintf("%s %.1fk/%.1fk/%.1fk", t.period, t.stored/1000, t.sent/1000, t.due()/1000)
	if w := t.why(); w != "" {
		out += " " + w
	}
	return out
}

// benchSearch finds the path's throughput for profile: trials at offered rates rising by √2 from
// benchOffered frames/s in all (16 devices at 1 ms, the protocol's finest SET_INTERVAL) to the
// first rate the path does not carry, then one trial halfway (geometrically) between the last
// rate carried and that one. It stops early at the devices' wire speed, or when the devices sent
// no more than in the trial before (the machine offers no more: the path shares its cores). It
// returns the carried trial that stored the most, or the first trial when even that one was not
// carried.
func benchSearch(b *testing.B, profile string) (res benchSearchResult) {
	var trials []string
	defer func() { res.trials = strings.Join(trials, " · ") }()
	run := func(p time.Duration) benchTrial {
		t := benchHardened(b, profile, p)
		trials = append(trials, t.String())
		return t
	}
	line := benchLinePeriod()
	start := max(time.Duration(float64(*benchDevices)*float64(time.Second)/benchOffered), line)
	var best, last *benchTrial
	var fail time.Duration
	keep := func(t benchTrial) {
		if best == nil || t.stored > best.stored {
			best = &t
		}
	}
	for p := start; ; p = max(time.Duration(float64(p)/math.Sqrt2).Round(time.Microsecond), line) {
		t := run(p)
		if !t.carried() {
			if best == nil {
				res.best = t // even the slowest rate was not carried: report that
				return res
			}
			fail = p
			break
		}
		keep(t)
		if p == line || (last != nil && t.sent <= last.sent) {
			break // wire speed, or the devices offer no more on this machine
		}
		last = &t
	}
	if fail > 0 {
		if t := run(time.Duration(math.Sqrt(float64(last.period) * float64(fail))).Round(time.Microsecond)); t.carried() {
			keep(t)
		}
	}
	res.best = *best
	return res
}

// benchSearchResult is a search's carried trial that stored the most and a line of all its trials.
type benchSearchResult struct {
	best   benchTrial
	trials string
}

func benchPlan(b *testing.B, scenarioName, profile string, edit func(*scenario.Scenario)) *scenario.Plan {
	plan, err := scenario.Library{Embedded: scenarios.FS}.Load(scenarioName, profile, []string{"telemetry-trust"})
	if err != nil {
		b.Fatal(err)
	}
	edit(&plan.Scenario)
	return plan
}

// benchHardened runs one trial: benchDevices devices each sending every period (set on the
// emulators directly, as it may be finer than SET_INTERVAL's whole milliseconds), the store's
// growth measured over benchWindow, then every frame accounted for.
func benchHardened(b *testing.B, profile string, period time.Duration) benchTrial {
	plan := benchPlan(b, "fleet-1000", profile, func(s *scenario.Scenario) {
		s.Fleet.Devices = *benchDevices
		// Each device with a broker session of its own, as the bare publishers have: the
		// fleet scenario's grouped sessions would flatter the hardened path (and a spooling
		// gateway publishes through its own session anyway).
		s.Fleet.DevicesPerGateway = 1
	})
	ctx := context.Background()
	st, err := stack.Start(ctx, stack.Config{Plan: plan, WorkDir: b.TempDir(), Log: testLog(), Seed: 1, Faults: true, DevicePeriod: period})
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
	t := benchTrial{period: period,
		stored: float64(n1-n0) / benchWindow.Seconds(), sent: float64(s1-s0) / benchWindow.Seconds()}
	if n1 > n0 {
		t.allocs = float64(m1.Mallocs-m0.Mallocs) / float64(n1-n0)
	}
	drainStart := time.Now()
	acc, err := st.Balance(ctx, benchDrain, nil)
	if err != nil {
		b.Fatal(err)
	}
	t.drain, t.lost = time.Since(drainStart), acc.Totals.Lost
	if t.lost > 0 {
		benchWhere(st, profile, t)
	}
	return t
}

// benchSent counts the frames the relays read off the devices' UARTs so far.
func benchSent(st *stack.Stack) (n uint64) {
	for _, u := range st.Units() {
		n += u.Dev.Relay().Stats().FromDevice
	}
	return n
}

// benchWhere logs, on the test log (RIG_TEST_LOG=1), where a trial's frames went missing: the
// UART receive buffer of the gateway's link (a tty's 4 KiB, overrun while the gateway was not
// reading), the gateway's queue and the relay's writes toward the gateway.
func benchWhere(st *stack.Stack, profile string, t benchTrial) {
	var overrun, relayDropped, queueDropped uint64
	for _, u := range st.Units() {
		if o, ok := u.Dev.Relay().Host().(interface{ Overrun() uint64 }); ok {
			overrun += o.Overrun()
		}
		relayDropped += u.Dev.Relay().Stats().DroppedGateway
		if g := u.Gateway(); g != nil {
			queueDropped += g.Stats().QueueDropped
		}
	}
	testLog().Info("bench trial lost frames", "profile", profile, "trial", t.String(),
		"gateway_link_overrun_bytes", overrun, "relay_drops", relayDropped, "gateway_queue_drops", queueDropped)
}

// benchLinePeriod is a TELEMETRY frame's time on a 921,600-baud 8N1 UART (10 bits a byte): the
// shortest period a device sending back to back at wire speed has.
func benchLinePeriod() time.Duration {
	return time.Duration(benchFrameBytes()*10) * time.Second / 921600
}

// benchFrameBytes is a TELEMETRY frame's size on the UART, delimiter included.
func benchFrameBytes() int {
	w, _ := protocol.Encode(protocol.NewFrame(protocol.TypeTelemetry, 1, 1<<20, 1<<20, protocol.Telemetry{TempCentiC: 2150, SupplyMv: 3300}.Marshal()))
	return len(w)
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
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetTLSConfig(clientTLS).SetClientID("bench-sub").SetOrderMatters(true))
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
