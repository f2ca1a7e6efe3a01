// Package account owns the one telemetry accounting of a run, read by GUARD-HEALTH and the
// telemetry-trust controls alike. Per device and boot, over the run's window — from the device's
// counters when the rig found it ready to the counters it read at the end (rig/dut) — it compares
// three records of the same frames: what the device says it sent (its own STATS and BOOT_STATS),
// what the rig's relay read off the device's UART (rig/relay's tap: the values as sent), and what
// the ingest store holds. A frame is delivered when the store holds its seq with the values sent;
// lost when it does not (unless an injected UART fault took it); altered when the store holds other
// values; a stored row the device never sent is a stored duplicate.
package account

import (
	"slices"
	"sort"
	"time"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/dut"
	"github.com/pathrig/rig/rig/ingest"
	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/relay"
)

// Store is the ingest store as the accounting reads it.
type Store interface {
	Stats() ([]ingest.DeviceStats, error)
	Records(device string, boot uint32) ([]ingest.Stored, error)
	// CountRanges counts the records of each device and boot with from ≤ seq < to, all in one
	// pass, decoding nothing (Behind polls it while a run drains).
	CountRanges(rs []ingest.Range) ([]int, error)
}

// Device is one device's side of the balance.
type Device struct {
	UID     string
	Counts  []dut.Counts  // from dut.Device.Count
	Tap     *relay.Tap    // what the relay read off its UART
	Damaged []link.Damage // frames the injected UART faults took
}

// maxListed bounds the per-boot lists (missing seqs, altered readings) kept as evidence.
const maxListed = 50

// want is how many frames of the device the store should hold for the window: sent less what
// the line took.
func (d Device) want() uint64 {
	var n uint64
	dm := damaged(d.Damaged)
	for _, c := range d.Counts {
		for s := c.From; s < c.To; s++ {
			if !dm[key{c.Boot, s}] {
				n++
			}
		}
	}
	return n
}

// Behind returns the devices whose window the store does not hold in full yet, asking the store
// once for all of them (a fleet's drain polls ten thousand devices).
func Behind(st Store, devs []Device) ([]Device, error) {
	held, err := heldEach(st, devs)
	if err != nil {
		return devs, err
	}
	var out []Device
	for i, d := range devs {
		if held[i] < d.want() {
			out = append(out, d)
		}
	}
	return out, nil
}

// heldEach counts each device's rows inside its window, in one pass over the store.
func heldEach(st Store, devs []Device) ([]uint64, error) {
	var rs []ingest.Range
	var of []int
	for i, d := range devs {
		for _, c := range d.Counts {
			if c.To > c.From {
				rs = append(rs, ingest.Range{Device: d.UID, Boot: c.Boot, From: c.From, To: c.To})
				of = append(of, i)
			}
		}
	}
	out := make([]uint64, len(devs))
	if len(rs) == 0 {
		return out, nil
	}
	n, err := st.CountRanges(rs)
	if err != nil {
		return nil, err
	}
	for j, held := range n {
		out[of[j]] += uint64(held)
	}
	return out, nil
}

type key struct{ boot, seq uint32 }

func damaged(ds []link.Damage) map[key]bool {
	m := map[key]bool{}
	for _, d := range ds {
		if d.Type == 0x02 { // TELEMETRY
			m[key{d.Boot, d.Seq}] = true
		}
	}
	return m
}

// Compute balances every device and boot of the window. faults, when given, are the run's fault
// timeline: lost frames are attributed to the fault window they fell in, and each fault's
// recovery (its end to the first frame read after it reaching the store) is filled in.
func Compute(st Store, devs []Device, faults []check.FaultRecord) (*check.Accounting, error) {
	acc := &check.Accounting{}
	tot := &acc.Totals
	tot.LostDuring = map[string]uint64{}
	var lat []time.Duration
	type arrival struct{ read, stored time.Time }
	var all []arrival
	stats, err := st.Stats()
	if err != nil {
		return nil, err
	}
	// The store's (device, boot) rows by device: looked up per device, not scanned (a fleet has
	// ten thousand devices and as many rows).
	rows := map[string][]ingest.DeviceStats{}
	for _, row := range stats {
		rows[row.Device] = append(rows[row.Device], row)
	}
	for _, d := range devs {
		dm := damaged(d.Damaged)
		first := uint32(0)
		counted := map[uint32]bool{}
		for i, c := range d.Counts {
			if i == 0 {
				first = c.Boot
			}
			counted[c.Boot] = true
		}
		// Boots the store holds that the device did not report (after the window's first) are
		// phantom rows: every one of them is a stored duplicate.
		boots := slices.Clone(d.Counts)
		for _, row := range rows[d.UID] {
			if row.Boot > first && !counted[row.Boot] {
				boots = append(boots, dut.Counts{Boot: row.Boot, Source: "store only"})
			}
		}
		sort.Slice(boots, func(i, j int) bool { return boots[i].Boot < boots[j].Boot })
		for _, c := range boots {
			recs, err := st.Records(d.UID, c.Boot)
			if err != nil {
				return nil, err
			}
			a := check.TrustAccount{Device: d.UID, Boot: c.Boot, From: uint64(c.From), Source: c.Source, ResetCause: c.ResetCause}
			if c.To > c.From {
				a.Sent = uint64(c.To - c.From)
			}
			for _, row := range rows[d.UID] {
				if row.Boot == c.Boot {
					a.Duplicates = row.Duplicates
				}
			}
			byArrival := slices.Clone(recs)
			sort.Slice(byArrival, func(i, j int) bool { return byArrival[i].Arrival < byArrival[j].Arrival })
			have := map[uint32]bool{}
			var maxSeq uint32
			var seen bool
			for _, r := range byArrival {
				s := r.Record.Seq
				if s < c.From {
					continue // before the window
				}
				sent, tapped := d.Tap.Reading(c.Boot, s)
				if s >= c.To {
					if !tapped {
						a.StoredDuplicates++ // a seq the device never put on its UART
					}
					continue // sent after the count: no window's business
				}
				if have[s] || !tapped && c.Source != "uart" && !d.tapMissed(c.Boot) {
					a.StoredDuplicates++
				}
				have[s] = true
				if seen && s < maxSeq {
					a.Reordered++
				}
				seen, maxSeq = true, max(maxSeq, s)
				got := check.Reading{TempCentiC: r.Record.TempCentiC, SupplyMv: r.Record.SupplyMv, DeviceTimeMs: r.Record.DeviceTimeMs}
				read := r.Record.GatewayTime
				if tapped {
					read = sent.At
					want := check.Reading{TempCentiC: sent.TempCentiC, SupplyMv: sent.SupplyMv, DeviceTimeMs: sent.DeviceTimeMs}
					if got != want {
						a.Altered++
						if len(acc.Altered) < maxListed {
							acc.Altered = append(acc.Altered, check.Alteration{Device: d.UID, Boot: c.Boot, Seq: s, Sent: want, Stored: got})
						}
					}
				}
				lat = append(lat, r.ReceivedAt.Sub(read))
				all = append(all, arrival{read, r.ReceivedAt})
			}
			a.Delivered = uint64(len(have))
			flow := check.TrustFlow{Device: d.UID, Boot: c.Boot, Stored: make([]time.Time, 0, len(recs)), Sent: make([]time.Time, 0, a.Sent)}
			for _, r := range recs {
				if r.Record.Seq >= c.From && r.Record.Seq < c.To {
					flow.Stored = append(flow.Stored, r.ReceivedAt)
				}
			}
			for s := c.From; s < c.To; s++ {
				at := d.sentAt(c.Boot, s, recs)
				if !at.IsZero() {
					flow.Sent = append(flow.Sent, at)
				}
				if have[s] {
					continue
				}
				if dm[key{c.Boot, s}] {
					a.LineDamaged++
					continue
				}
				a.Lost++
				if _, ok := d.Tap.Reading(c.Boot, s); !ok && c.Source != "uart" {
					a.Untapped++
				}
				if len(a.Missing) < maxListed {
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
			acc.Accounts = append(acc.Accounts, a)
			acc.Flow = append(acc.Flow, flow)
			tot.Sent += a.Sent
			tot.LineDamaged += a.LineDamaged
			tot.Delivered += a.Delivered
			tot.Lost += a.Lost
			tot.Duplicates += a.Duplicates
			tot.StoredDuplicates += a.StoredDuplicates
			tot.Reordered += a.Reordered
			tot.Altered += a.Altered
			tot.Untapped += a.Untapped
		}
	}
	if len(tot.LostDuring) == 0 {
		tot.LostDuring = nil
	}
	acc.Latency = percentiles(lat)
	for i := range faults {
		f := &faults[i]
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
	return acc, nil
}

// tapMissed reports whether the relay read nothing of boot, so it cannot vouch for its rows
// either way: such a row is not called a duplicate.
func (d Device) tapMissed(boot uint32) bool {
	return d.Tap.Count(boot) == 0
}

// sentAt is when the device sent seq: the relay's read time, else estimated between the stored
// neighbours' gateway read times.
func (d Device) sentAt(boot, seq uint32, bySeq []ingest.Stored) time.Time {
	if t, ok := d.Tap.Reading(boot, seq); ok {
		return t.At
	}
	return estimate(bySeq, seq)
}

// estimate places a frame in time between its stored neighbours (gateway read times).
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
func window(t time.Time, faults []check.FaultRecord) string {
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

func percentiles(d []time.Duration) check.LatencyStats {
	if len(d) == 0 {
		return check.LatencyStats{}
	}
	slices.Sort(d)
	at := func(q float64) float64 {
		i := int(q * float64(len(d)-1))
		return float64(d[i].Microseconds()) / 1000
	}
	return check.LatencyStats{Samples: len(d), P50Ms: at(0.50), P95Ms: at(0.95), P99Ms: at(0.99), MaxMs: at(1)}
}
