package trust

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/gateway"
	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/ingest"
	"github.com/pathrig/rig/rig/link"
)

// RunTrust implements checks.TrustRunner: start the path, wait for telemetry, play the fault
// timeline for the phase, stop telemetry at the devices, read their counters over the UART, let
// the path drain, and account.
func (r *Runner) RunTrust(ctx context.Context) (*checks.TrustReport, error) {
	sc := r.cfg.Plan.Scenario
	if sc.Device.Kind != "emulated" {
		// The faults act on the emulator's UART line, NRST and supply; a real board would need
		// them wired on the bench, which this runner does not drive.
		return nil, fmt.Errorf("trust: telemetry-trust drives emulated devices only; scenario %s names device kind %q", sc.Name, sc.Device.Kind)
	}
	p, err := startPath(ctx, r.cfg)
	if err != nil {
		return nil, fmt.Errorf("trust: start the path: %w", err)
	}
	defer p.close()
	if err := p.waitFlowing(ctx, 30*time.Second+time.Duration(len(p.devices))*20*time.Millisecond); err != nil {
		return nil, err
	}
	t0 := time.Now()
	p.log.Info("fault phase", "phase", sc.Trust.Phase, "faults", len(sc.Faults), "devices", len(p.devices))
	faults := p.play(ctx, sc.Faults, t0)
	if !sleepUntil(ctx, t0.Add(sc.Trust.Phase.D())) {
		return nil, ctx.Err()
	}
	sent, err := p.stopAndCount(ctx)
	if err != nil {
		return nil, err
	}
	p.drain(ctx, sent, sc.Limits.DrainTimeout.D())
	rep, err := p.account(sent, faults)
	if err != nil {
		return nil, err
	}
	for _, d := range p.devices {
		p.stopChild(d) // a gateway process that died by itself is recorded now
	}
	p.mu.Lock()
	if len(p.gatewayExits) > 0 {
		rep.Components["gateway_exits"] = p.gatewayExits
	}
	exits := len(p.gatewayExits)
	p.mu.Unlock()
	if exits > 0 {
		return rep, fmt.Errorf("trust: %d gateway process(es) exited by themselves during the run: %v", exits, rep.Components["gateway_exits"])
	}
	return rep, nil
}

// bootKey names one device boot.
type bootKey struct {
	dev  string
	boot uint32
}

// waitFlowing waits until every device has telemetry in the store.
func (p *path) waitFlowing(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		st, err := p.store().Stats()
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, row := range st {
			seen[row.Device] = true
		}
		if len(seen) >= len(p.devices) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("trust: telemetry of %d of %d devices reached the store within %s (check the gateway logs in the work folder)", len(seen), len(p.devices), within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (p *path) store() *ingest.Store {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ingest.Store()
}

// stopAndCount stops telemetry at every device over the UART and reads, per boot, what each
// device says it sent (BOOT_STATS for every boot since the first).
func (p *path) stopAndCount(ctx context.Context) (map[bootKey]protocol.BootStats, error) {
	out := map[bootKey]protocol.BootStats{}
	for _, d := range p.devices {
		if err := p.countDevice(ctx, d, out); err != nil {
			return nil, err
		}
	}
	// Restart the stopped gateway processes: they publish what their spools still hold.
	for _, d := range p.devices {
		if d.pty != nil {
			if err := p.spawn(d); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// countDevice stops one device's telemetry and reads its per-boot counters into out.
func (p *path) countDevice(ctx context.Context, d *device, out map[bootKey]protocol.BootStats) error {
	{
		var ask func(context.Context, protocol.Command) (protocol.Response, error)
		if d.gw != nil {
			ask = func(ctx context.Context, c protocol.Command) (protocol.Response, error) {
				return retry(ctx, func(ctx context.Context) (protocol.Response, error) { return d.gw.Command(ctx, c.Op, c.Args) })
			}
		} else {
			// The gateway process owns the tty: send SET_INTERVAL 0 through the rig's end, wait
			// for the line to go quiet and for the gateway to spool what it read, stop the
			// gateway gracefully (its spool keeps what is unacknowledged), then talk to the device
			// on the serial port directly.
			stop := protocol.SetIntervalCommand(0)
			wire, _ := protocol.Encode(protocol.NewFrame(protocol.TypeCommand, 0, 1<<31, 0, stop.Marshal()))
			if _, err := d.pty.HostWrite(wire); err != nil {
				return err
			}
			quietFor(ctx, d.noisy, 300*time.Millisecond, 5*time.Second)
			sleepUntil(ctx, time.Now().Add(300*time.Millisecond))
			p.stopChild(d)
			port, err := link.OpenSerial(ctx, d.pty.Path(), p.cfg.Plan.Scenario.Device.Baud)
			if err != nil {
				return err
			}
			defer port.Close() // before the gateway is started again: ports open exclusively
			var req uint32 = 1 << 30
			ask = func(ctx context.Context, c protocol.Command) (protocol.Response, error) {
				return retry(ctx, func(ctx context.Context) (protocol.Response, error) {
					req++
					return command(ctx, port, req, c)
				})
			}
		}
		if _, err := ask(ctx, protocol.SetIntervalCommand(0)); err != nil {
			return fmt.Errorf("trust: stop telemetry of device %s over the UART: %w", d.uid, err)
		}
		rsp, err := ask(ctx, protocol.Command{Op: protocol.OpStats})
		if err != nil {
			return fmt.Errorf("trust: read STATS of device %s over the UART: %w", d.uid, err)
		}
		cur, err := protocol.ParseDeviceStats(rsp.Data)
		if err != nil {
			return err
		}
		for b := d.firstBoot; b <= cur.Boot; b++ {
			rsp, err := ask(ctx, protocol.BootStatsCommand(b))
			if err != nil {
				return fmt.Errorf("trust: read BOOT_STATS %d of device %s over the UART: %w", b, d.uid, err)
			}
			bs, err := protocol.ParseBootStats(rsp.Data)
			if err != nil {
				return err
			}
			out[bootKey{d.uid, b}] = bs
		}
	}
	return nil
}

// retry runs a UART command up to three times: a response can be lost like any frame.
func retry(ctx context.Context, f func(context.Context) (protocol.Response, error)) (protocol.Response, error) {
	var err error
	for range 3 {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		var r protocol.Response
		r, err = f(c)
		cancel()
		var ce *gateway.CommandError
		if err == nil || errors.As(err, &ce) || ctx.Err() != nil {
			return r, err
		}
	}
	return protocol.Response{}, err
}

// quietFor waits until the device has written nothing for d (at most max).
func quietFor(ctx context.Context, n *link.Noisy, d, max time.Duration) {
	end := time.Now().Add(max)
	for time.Now().Before(end) && ctx.Err() == nil {
		if time.Since(n.LastWrite()) >= d {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// command sends one COMMAND on port and reads frames until its RESPONSE. Telemetry read here
// would be lost to the store: it is counted by the caller's accounting as missing, never hidden.
func command(ctx context.Context, port link.Port, req uint32, c protocol.Command) (protocol.Response, error) {
	wire, err := protocol.Encode(protocol.NewFrame(protocol.TypeCommand, 0, req, 0, c.Marshal()))
	if err != nil {
		return protocol.Response{}, err
	}
	if _, err := port.Write(wire); err != nil {
		return protocol.Response{}, err
	}
	var dec protocol.Decoder
	buf := make([]byte, 512)
	var got *protocol.Response
	for got == nil {
		if err := ctx.Err(); err != nil {
			return protocol.Response{}, fmt.Errorf("%s on %s: no response: %w", c.Op, port.Name(), err)
		}
		n, err := port.Read(buf)
		if err != nil {
			return protocol.Response{}, err
		}
		dec.Feed(buf[:n], func(f protocol.Frame, err error) {
			if err != nil || f.Type != protocol.TypeResponse {
				return
			}
			r, err := protocol.ParseResponse(f.Body)
			if err == nil && r.ReqSeq == req {
				got = &r
			}
		})
	}
	if got.Status != protocol.StatusOK {
		return *got, &gateway.CommandError{Op: c.Op, Status: got.Status}
	}
	return *got, nil
}

// drain waits until the store holds every frame the devices sent (less those the line damaged),
// or until timeout.
func (p *path) drain(ctx context.Context, sent map[bootKey]protocol.BootStats, timeout time.Duration) {
	damaged := p.damaged()
	var want uint64
	for k, bs := range sent {
		want += uint64(bs.TelemetrySent) - uint64(len(damaged[k]))
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		n, err := p.store().Count()
		if err == nil && uint64(n) >= want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.log.Warn("store did not catch up with the devices within the drain timeout", "timeout", timeout)
}

// damaged returns, per device boot, the telemetry seqs a corrupted byte landed in.
func (p *path) damaged() map[bootKey]map[uint32]bool {
	out := map[bootKey]map[uint32]bool{}
	for _, d := range p.devices {
		for _, dm := range d.noisy.Stats().Damaged {
			if dm.Type != protocol.TypeTelemetry {
				continue
			}
			k := bootKey{d.uid, dm.Boot}
			if out[k] == nil {
				out[k] = map[uint32]bool{}
			}
			out[k][dm.Seq] = true
		}
	}
	return out
}

// account compares what each device sent with what the store holds.
func (p *path) account(sent map[bootKey]protocol.BootStats, faults []checks.FaultRecord) (*checks.TrustReport, error) {
	sc := p.cfg.Plan.Scenario
	st := p.store()
	stats, err := st.Stats()
	if err != nil {
		return nil, err
	}
	dups := map[bootKey]uint64{}
	for _, row := range stats {
		dups[bootKey{row.Device, row.Boot}] = row.Duplicates
	}
	damaged := p.damaged()
	keys := make([]bootKey, 0, len(sent))
	for k := range sent {
		keys = append(keys, k)
	}
	// Boots the store has that the devices did not report are phantom rows.
	for _, row := range stats {
		k := bootKey{row.Device, row.Boot}
		if _, ok := sent[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].dev != keys[j].dev {
			return keys[i].dev < keys[j].dev
		}
		return keys[i].boot < keys[j].boot
	})
	rep := &checks.TrustReport{
		Profile: p.prof.Name, QoS: p.prof.Gateway.QoS, Spool: p.prof.Gateway.Spool, Devices: len(p.devices),
		Phase: sc.Trust.Phase.String(), MaxLatency: sc.Trust.MaxLatency.D(), MaxRecovery: sc.Trust.MaxRecovery.D(),
		Bounds: map[string]any{"max_latency": sc.Trust.MaxLatency.String(), "max_recovery": sc.Trust.MaxRecovery.String()},
		Faults: faults,
	}
	var lat []time.Duration
	type arrival struct {
		read, stored time.Time
	}
	var all []arrival
	tot := &rep.Totals
	tot.LostDuring = map[string]uint64{}
	for _, k := range keys {
		bs := sent[k]
		recs, err := st.Records(k.dev, k.boot)
		if err != nil {
			return nil, err
		}
		a := checks.TrustAccount{Device: k.dev, Boot: k.boot, Sent: uint64(bs.TelemetrySent), Duplicates: dups[k]}
		if bs.Boot != 0 {
			a.ResetCause = bs.ResetCause.String()
		}
		have := map[uint32]bool{}
		byArrival := slices.Clone(recs)
		sort.Slice(byArrival, func(i, j int) bool { return byArrival[i].Arrival < byArrival[j].Arrival })
		var maxSeq uint32
		for i, r := range byArrival {
			s := r.Record.Seq
			if have[s] || s >= bs.TelemetrySent {
				a.StoredDuplicates++
			}
			have[s] = true
			if i > 0 && s < maxSeq {
				a.Reordered++
			}
			maxSeq = max(maxSeq, s)
			lat = append(lat, r.ReceivedAt.Sub(r.Record.GatewayTime))
			all = append(all, arrival{r.Record.GatewayTime, r.ReceivedAt})
		}
		a.Delivered = uint64(len(have))
		flow := checks.TrustFlow{Device: k.dev, Boot: k.boot, Stored: make([]time.Time, 0, len(recs)), Sent: make([]time.Time, 0, bs.TelemetrySent)}
		for _, r := range recs {
			flow.Stored = append(flow.Stored, r.ReceivedAt)
		}
		bySeq := recs // Records returns sequence order
		for s := uint32(0); s < bs.TelemetrySent; s++ {
			at := estimate(bySeq, s) // a stored frame's own read time
			if !at.IsZero() {
				flow.Sent = append(flow.Sent, at)
			}
			if have[s] {
				continue
			}
			if damaged[k][s] {
				a.LineDamaged++
				continue
			}
			a.Lost++
			if len(a.Missing) < 50 {
				a.Missing = append(a.Missing, s)
			}
			if !at.IsZero() {
				flow.Lost = append(flow.Lost, at)
			}
			w := window(at, faults)
			if a.LostDuring == nil {
				a.LostDuring = map[string]uint64{}
			}
			a.LostDuring[w]++
			tot.LostDuring[w]++
		}
		rep.Accounts = append(rep.Accounts, a)
		rep.Flow = append(rep.Flow, flow)
		tot.Sent += a.Sent
		tot.LineDamaged += a.LineDamaged
		tot.Delivered += a.Delivered
		tot.Lost += a.Lost
		tot.Duplicates += a.Duplicates
		tot.StoredDuplicates += a.StoredDuplicates
		tot.Reordered += a.Reordered
	}
	if len(tot.LostDuring) == 0 {
		tot.LostDuring = nil
	}
	rep.Latency = percentiles(lat)
	for i := range rep.Faults {
		f := &rep.Faults[i]
		if f.Ended.IsZero() {
			continue
		}
		var first time.Time
		for _, a := range all {
			if !a.read.Before(f.Ended) && (first.IsZero() || a.stored.Before(first)) {
				first = a.stored
			}
		}
		if !first.IsZero() {
			ms := float64(first.Sub(f.Ended).Microseconds()) / 1000
			f.RecoveryMs = &ms
		}
	}
	rep.Components = p.components()
	return rep, nil
}

// estimate places a missing frame in time between its stored neighbours (gateway read times).
func estimate(bySeq []ingest.Stored, seq uint32) time.Time {
	i := sort.Search(len(bySeq), func(i int) bool { return bySeq[i].Record.Seq > seq })
	switch {
	case len(bySeq) == 0:
		return time.Time{}
	case i == 0:
		return bySeq[0].Record.GatewayTime
	case i == len(bySeq):
		return bySeq[i-1].Record.GatewayTime
	}
	lo, hi := bySeq[i-1], bySeq[i]
	frac := float64(seq-lo.Record.Seq) / float64(hi.Record.Seq-lo.Record.Seq)
	return lo.Record.GatewayTime.Add(time.Duration(frac * float64(hi.Record.GatewayTime.Sub(lo.Record.GatewayTime))))
}

// window names the fault whose window (start to end plus a second) contains t, "none" if none.
func window(t time.Time, faults []checks.FaultRecord) string {
	if t.IsZero() {
		return "unknown"
	}
	for _, f := range faults {
		if !f.Started.IsZero() && !t.Before(f.Started) && !t.After(f.Ended.Add(time.Second)) {
			return f.Kind + "@" + f.PlannedAt
		}
	}
	return "none"
}

func percentiles(d []time.Duration) checks.LatencyStats {
	if len(d) == 0 {
		return checks.LatencyStats{}
	}
	slices.Sort(d)
	at := func(q float64) float64 {
		i := int(q * float64(len(d)-1))
		return float64(d[i].Microseconds()) / 1000
	}
	return checks.LatencyStats{Samples: len(d), P50Ms: at(0.50), P95Ms: at(0.95), P99Ms: at(0.99), MaxMs: at(1)}
}

// components gathers the counters of the path's parts.
func (p *path) components() map[string]any {
	out := map[string]any{}
	p.mu.Lock()
	bridges := append(slices.Clone(p.retired), p.bridge.Stats())
	out["broker"] = p.broker.Stats()
	p.mu.Unlock()
	out["bridge"] = bridges
	out["network"] = p.proxy.Stats()
	out["lines"] = p.lineRec.Transitions()
	var gw gateway.Stats
	gw.BadFrames = map[string]uint64{}
	var noise []link.NoiseStats
	var txErrors, overrun uint64
	for _, d := range p.devices {
		txErrors += d.emu.Stats().TxErrors
		if d.fifo != nil {
			overrun += d.fifo.Overrun()
		}
		ns := d.noisy.Stats()
		if len(p.devices) > 1 {
			ns.Damaged = nil // per-frame detail only for a single device
		}
		noise = append(noise, ns)
		if d.gw == nil {
			continue
		}
		s := d.gw.Stats()
		gw.FramesOK += s.FramesOK
		gw.Telemetry += s.Telemetry
		gw.Published += s.Published
		gw.PublishErrors += s.PublishErrors
		gw.PublishTimeouts += s.PublishTimeouts
		gw.QueueDropped += s.QueueDropped
		gw.SeqGaps += s.SeqGaps
		gw.Reboots += s.Reboots
		gw.Spooled += s.Spooled
		gw.SpoolDepth += s.SpoolDepth
		gw.SpoolEvicted += s.SpoolEvicted
		gw.Reconnects += s.Reconnects
		for k, v := range s.BadFrames {
			gw.BadFrames[k] += v
		}
	}
	if p.cfg.Plan.Scenario.Trust.Gateway == "in-process" {
		out["gateways"] = gw
	} else {
		out["gateways"] = "gateway processes: see their logs in the run's work folder"
	}
	if len(noise) <= 4 {
		out["uart"] = noise
	}
	out["device_tx_errors"] = txErrors  // UART writes the devices counted as sent that the line did not take
	out["uart_overrun_bytes"] = overrun // bytes dropped because a gateway did not read its UART in time
	return out
}
