package gateway

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	bolt "go.etcd.io/bbolt"

	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/telemetry"
)

// spool is the gateway's crash-safe store-and-forward buffer: a bbolt file holding every
// telemetry record from the moment it is read off the UART until the broker acknowledged it.
// Everything spooled is published again after a restart. Bounded: past max records of one device
// the oldest are evicted and counted.
//
// Group commit: one committer goroutine per file writes what every gateway of the process handed
// it in one transaction (one fsync), once N records wait or the oldest has waited T, whichever
// comes first, and only then reports them committed: a record is published, and counted as
// spooled, only after its commit. The gateways of one process (a fleet run in process) share one
// file and so one committer: commits per second stay bounded by 1/T as devices are added.
//
// A SIGKILL can still take the frames read off the tty and not yet committed. For those the spool
// keeps, per device, a high-water mark: the boot and seq of the newest frame committed, written in
// the same transaction as the frames, so it never claims a frame the spool did not hold. A
// gateway that starts on a spool with a mark asks the device to REPLAY what it sent after it
// (Gateway.Run); the read loop waits for a commit rather than let more frames go uncommitted than
// the device holds for a replay (maxUncommitted).
type spool struct {
	db   *bolt.DB
	path string
	max  int
	refs int // gateways holding it (guarded by spools.mu)

	// failAppend, when set (tests), runs before each append made with spool.append; an error
	// fails it as a disk would, and a hook that blocks holds the commit as a slow fsync does.
	failAppend func([]spooled) error

	// the committer's queue
	frames   int           // N: commit once this many records wait
	interval time.Duration // T: commit once the oldest request waited this long
	qmu      sync.Mutex
	queue    []*commitReq
	queued   int       // records in queue
	firstAt  time.Time // when the oldest request in queue came
	closing  bool
	kick     chan struct{}
	stopped  chan struct{}

	mu      sync.Mutex
	depth   map[string]int // records held per device ("" is the single-device layout before group commit)
	evicted map[string]uint64
	marks   map[string]mark // what the marks bucket holds
	notify  map[string]chan struct{}
}

// commitReq is one gateway's share of a group commit: records to append and a mark to write (a
// device's), acknowledged records to remove. done runs on the committer goroutine once the
// transaction holding them committed (nil) or failed; it must not block.
type commitReq struct {
	device string
	items  []spooled
	mark   *mark
	remove [][]byte
	hook   func([]spooled) error
	done   func(error)
}

// spoolOptions sizes a spool and its group commit.
type spoolOptions struct {
	max      int           // records per device; 0 → DefaultSpoolMax
	frames   int           // 0 → DefaultSpoolCommitFrames
	interval time.Duration // 0 → DefaultSpoolCommitInterval
}

// maxUncommitted is how many frames of one device may be read and not yet committed before the
// read loop waits for the commit: the committed mark then trails the frames read by at most what
// the device still holds for a REPLAY (protocol.ReplayDepth), so a kill loses nothing to the
// group commit.
const maxUncommitted = protocol.ReplayDepth / 2

var (
	spoolBucket = []byte("outbox") // device "": the records of the one device of the file (older layout, tests)
	markBucket  = []byte("marks")  // device id → boot u32, seq u32 (big-endian)
	errClosed   = errors.New("spool closed")
)

// outboxOf names the bucket of a device's records.
func outboxOf(device string) []byte {
	if device == "" {
		return spoolBucket
	}
	return []byte("outbox/" + device)
}

// spools are the spool files open in this process, by absolute path: the gateways of a process
// configured with one path share its file and committer.
var spools = struct {
	sync.Mutex
	m map[string]*spool
}{m: map[string]*spool{}}

// spooled is one record waiting for the broker's acknowledgement.
type spooled struct {
	key       []byte
	topic     string
	payload   []byte
	boot, seq uint32 // the frame's; set on append (they move the mark), not when read back
}

// mark is a device's high-water mark: the frame (boot, seq) newest in the spool's commits. Device
// "" is no mark.
type mark struct {
	Device    string
	Boot, Seq uint32
}

// advance returns m after committing frame (boot, seq) of device: a frame of another boot (or
// another device) starts the mark again there, one of the same boot raises its seq. Newest is by
// boot as the frames came, not by the boot counter's value: a device whose counter restarted
// (its backup domain lost) still moves its mark.
func (m mark) advance(device string, boot, seq uint32) mark {
	if m.Device != device || m.Boot != boot {
		return mark{Device: device, Boot: boot, Seq: seq}
	}
	m.Seq = max(m.Seq, seq)
	return m
}

// openSpool opens the spool file at path with the default group commit, or joins the process's
// open one.
func openSpool(path string, max int) (*spool, error) {
	return acquireSpool(path, spoolOptions{max: max})
}

// acquireSpool opens the spool file at path, or returns the one this process has open there
// (its size and commit options are the first opener's); close releases it.
func acquireSpool(path string, o spoolOptions) (*spool, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("gateway: spool %s: %w", path, err)
	}
	spools.Lock()
	defer spools.Unlock()
	if s := spools.m[abs]; s != nil {
		s.refs++
		return s, nil
	}
	s, err := openSpoolFile(path, o)
	if err != nil {
		return nil, err
	}
	s.refs = 1
	spools.m[abs] = s
	go s.commitLoop()
	return s, nil
}

func openSpoolFile(path string, o spoolOptions) (*spool, error) {
	if o.max <= 0 {
		o.max = DefaultSpoolMax
	}
	if o.frames <= 0 {
		o.frames = DefaultSpoolCommitFrames
	}
	if o.interval <= 0 {
		o.interval = DefaultSpoolCommitInterval
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("gateway: spool %s: create directory: %w", path, err)
	}
	// The freelist is not written with each commit (bbolt rebuilds it on open): less to write
	// and sync per commit, the same durability.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("gateway: spool %s is locked by another gateway process (one spool file per process; the gateways of one process share it): %w", path, err)
		}
		return nil, fmt.Errorf("gateway: open spool %s: %w (delete it only if its records may be lost)", path, err)
	}
	s := &spool{db: db, path: path, max: o.max, frames: o.frames, interval: o.interval,
		kick: make(chan struct{}, 1), stopped: make(chan struct{}),
		depth: map[string]int{}, evicted: map[string]uint64{}, marks: map[string]mark{}, notify: map[string]chan struct{}{}}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(spoolBucket); err != nil {
			return err
		}
		mb, err := tx.CreateBucketIfNotExists(markBucket)
		if err != nil {
			return err
		}
		if err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if dev, ok := strings.CutPrefix(string(name), "outbox/"); ok || string(name) == string(spoolBucket) {
				s.depth[dev] = b.Stats().KeyN
			}
			return nil
		}); err != nil {
			return err
		}
		return mb.ForEach(func(k, v []byte) error {
			if len(v) == 8 { // anything else is not ours: no mark, so no replay
				s.marks[string(k)] = mark{Device: string(k), Boot: binary.BigEndian.Uint32(v), Seq: binary.BigEndian.Uint32(v[4:])}
			}
			return nil
		})
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("gateway: initialise spool %s: %w", path, err)
	}
	return s, nil
}

// close releases the spool; the last holder commits what is queued and closes the file.
func (s *spool) close() error {
	abs, _ := filepath.Abs(s.path)
	spools.Lock()
	s.refs--
	last := s.refs <= 0
	if last {
		delete(spools.m, abs)
	}
	spools.Unlock()
	if !last {
		return nil
	}
	s.qmu.Lock()
	s.closing = true
	s.qmu.Unlock()
	s.wake()
	<-s.stopped
	return s.db.Close()
}

func (s *spool) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// markOf returns the device's high-water mark, if the spool has one.
func (s *spool) markOf(device string) (mark, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.marks[device]
	return m, ok
}

// allMarks returns a copy of every device's mark.
func (s *spool) allMarks() map[string]mark {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]mark, len(s.marks))
	for k, v := range s.marks {
		out[k] = v
	}
	return out
}

// notifyOf returns the channel that wakes the device's publisher after a commit of its records.
func (s *spool) notifyOf(device string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.notify[device]
	if c == nil {
		c = make(chan struct{}, 1)
		s.notify[device] = c
	}
	return c
}

// submit queues r for the next group commit; r.done reports it. It never blocks on the disk.
func (s *spool) submit(r *commitReq) error {
	s.qmu.Lock()
	if s.closing {
		s.qmu.Unlock()
		return fmt.Errorf("gateway: spool %s: %w", s.path, errClosed)
	}
	if len(s.queue) == 0 {
		s.firstAt = time.Now()
	}
	s.queue = append(s.queue, r)
	s.queued += len(r.items)
	wake := len(s.queue) == 1 || s.queued >= s.frames
	s.qmu.Unlock()
	if wake {
		s.wake()
	}
	return nil
}

// commitLoop is the spool's one committer: it commits the queue once frames records wait or the
// oldest request waited interval, and everything left when the spool closes.
func (s *spool) commitLoop() {
	defer close(s.stopped)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		s.qmu.Lock()
		n, queued, wait, closing := len(s.queue), s.queued, s.interval-time.Since(s.firstAt), s.closing
		var batch []*commitReq
		if n > 0 && (closing || queued >= s.frames || wait <= 0) {
			batch, s.queue, s.queued = s.queue, nil, 0
		}
		s.qmu.Unlock()
		switch {
		case batch != nil:
			s.commit(batch)
		case n == 0 && closing:
			return
		case n == 0:
			<-s.kick
		default:
			timer.Reset(wait)
			select {
			case <-s.kick:
				timer.Stop()
			case <-timer.C:
			}
		}
	}
}

// commit writes a batch of requests in one transaction. A request whose hook fails is left out
// (as a write that failed would be); a transaction that fails fails every request in it.
func (s *spool) commit(batch []*commitReq) {
	reqs := batch[:0]
	for _, r := range batch {
		if r.hook != nil {
			if err := r.hook(r.items); err != nil {
				r.done(fmt.Errorf("gateway: spool %s: append: %w", s.path, err))
				continue
			}
		}
		reqs = append(reqs, r)
	}
	if len(reqs) == 0 {
		return
	}
	s.mu.Lock()
	depth := make(map[string]int, len(reqs))
	for _, r := range reqs {
		depth[r.device] = s.depth[r.device]
	}
	s.mu.Unlock()
	evicted := map[string]int{}
	n := 0
	for _, r := range reqs {
		n += len(r.items)
	}
	val, keys := make([]byte, 0, 192*n), make([]byte, 0, 8*n)
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, r := range reqs {
			if r.mark != nil {
				v := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, r.mark.Boot), r.mark.Seq)
				if err := tx.Bucket(markBucket).Put([]byte(r.mark.Device), v); err != nil {
					return err
				}
			}
			if len(r.items) == 0 && len(r.remove) == 0 {
				continue
			}
			b, err := tx.CreateBucketIfNotExists(outboxOf(r.device))
			if err != nil {
				return err
			}
			for _, k := range r.remove {
				if b.Get(k) != nil {
					depth[r.device]--
					if err := b.Delete(k); err != nil {
						return err
					}
				}
			}
			for _, it := range r.items {
				id, err := b.NextSequence()
				if err != nil {
					return err
				}
				// bbolt keeps keys and values until the commit: one buffer of each per
				// transaction, grown by appending, so each is a view into it and nothing is
				// reused early.
				start, kstart := len(val), len(keys)
				val = binary.BigEndian.AppendUint16(val, uint16(len(it.topic)))
				val = append(append(val, it.topic...), it.payload...)
				keys = binary.BigEndian.AppendUint64(keys, id)
				if err := b.Put(keys[kstart:len(keys):len(keys)], val[start:len(val):len(val)]); err != nil {
					return err
				}
			}
			if over := depth[r.device] + len(r.items) - s.max; over > 0 {
				c := b.Cursor()
				for k, _ := c.First(); k != nil && evicted[r.device] < over; k, _ = c.Next() {
					if err := c.Delete(); err != nil {
						return err
					}
					evicted[r.device]++
				}
			}
			depth[r.device] += len(r.items) - evicted[r.device]
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("gateway: spool %s: commit: %w", s.path, err)
		for _, r := range reqs {
			r.done(err)
		}
		return
	}
	s.mu.Lock()
	for dev, d := range depth {
		s.depth[dev] = d
	}
	for dev, n := range evicted {
		s.evicted[dev] += uint64(n)
	}
	var wake []chan struct{}
	for _, r := range reqs {
		if r.mark != nil {
			s.marks[r.mark.Device] = *r.mark
		}
		if len(r.items) > 0 {
			if c := s.notify[r.device]; c != nil {
				wake = append(wake, c)
			}
		}
	}
	s.mu.Unlock()
	for _, c := range wake {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	for _, r := range reqs {
		r.done(nil)
	}
}

// do submits r and waits for its commit.
func (s *spool) do(r *commitReq) error {
	done := make(chan error, 1)
	r.done = func(err error) { done <- err }
	if err := s.submit(r); err != nil {
		return err
	}
	return <-done
}

// append stores the records of device durably (waiting for the group commit), evicting the
// oldest past max. m, when not nil, is the device's new high-water mark, written in the same
// transaction: it holds exactly when the records do.
func (s *spool) append(device string, items []spooled, m *mark) error {
	if len(items) == 0 && m == nil {
		return nil
	}
	return s.do(&commitReq{device: device, items: items, mark: m, hook: s.failAppend})
}

// oldest returns up to n records of device, oldest first, from the first key after after (nil:
// from the start).
func (s *spool) oldest(device string, after []byte, n int) ([]spooled, error) {
	var out []spooled
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(outboxOf(device))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		k, v := c.First()
		if after != nil {
			if k, v = c.Seek(after); k != nil && string(k) == string(after) {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(out) < n; k, v = c.Next() {
			it, ok := decodeSpooled(k, v)
			if !ok {
				continue // cannot happen with our own writes; skip rather than wedge
			}
			out = append(out, it)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: spool %s: read: %w", s.path, err)
	}
	return out, nil
}

// decodeSpooled decodes one spool entry (topic length, topic, payload), copying out of bbolt's
// memory; ok is false for a value too short for its topic length.
func decodeSpooled(k, v []byte) (it spooled, ok bool) {
	if len(v) < 2 || int(binary.BigEndian.Uint16(v)) > len(v)-2 {
		return spooled{}, false
	}
	tl := int(binary.BigEndian.Uint16(v))
	return spooled{
		key:     append([]byte(nil), k...),
		topic:   string(v[2 : 2+tl]),
		payload: append([]byte(nil), v[2+tl:]...),
	}, true
}

// remove deletes acknowledged records of device (waiting for the group commit).
func (s *spool) remove(device string, keys [][]byte) error {
	if len(keys) == 0 {
		return nil
	}
	return s.do(&commitReq{device: device, remove: keys})
}

// stats returns the records held and evicted over every device.
func (s *spool) stats() (depth int, evicted uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.depth {
		depth += d
	}
	for _, e := range s.evicted {
		evicted += e
	}
	return depth, evicted
}

// deviceStats returns the records of device held and evicted (with those of the single-device
// layout, which its gateway publishes too).
func (s *spool) deviceStats(device string) (depth int, evicted uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	depth, evicted = s.depth[device], s.evicted[device]
	if device != "" {
		depth, evicted = depth+s.depth[""], evicted+s.evicted[""]
	}
	return depth, evicted
}

// recordPayload encodes one telemetry frame as the JSON record published for device uid,
// appending it to dst.
func recordPayload(dst []byte, uid string, p pending) ([]byte, error) {
	rec := telemetry.Record{
		Device: uid, Boot: p.boot, Seq: p.seq, DeviceTimeMs: p.timeMs,
		GatewayTime: p.at.UTC(), TempCentiC: p.tel.TempCentiC, SupplyMv: p.tel.SupplyMv,
	}
	out, err := rec.AppendJSON(dst)
	if err != nil {
		return dst, fmt.Errorf("encode record: %w", err)
	}
	return out, nil
}

// flushHeld hands the frames read so far to the spool's committer (spool mode, identity known),
// after each UART read. It does not wait for the disk: while a commit of this gateway is under
// way the frames wait in held and go with the next one, sent as that commit completes. Only when
// maxUncommitted frames are read and not committed does it wait for the commit, so that a kill
// never takes more than the device can replay. A failed commit keeps its frames held; they are
// tried again after the next read.
func (g *Gateway) flushHeld(ctx context.Context) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.spool == nil || !g.identity.Known {
		return
	}
	for g.inflight != nil {
		if len(g.held)+g.inflight.n < maxUncommitted {
			return
		}
		done := g.inflight.done
		g.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
		}
		g.mu.Lock()
		if ctx.Err() != nil {
			return
		}
	}
	g.submitLocked()
}

// spoolCommit is a commit of this gateway's at the spool.
type spoolCommit struct {
	n    int           // frames in it
	done chan struct{} // closed when it completed, committed or not
}

// submitLocked sends the held frames (and the device's mark) to the committer. The device's
// high-water mark moves in the same transaction, unless a replay holds it (see holdMarkLocked).
func (g *Gateway) submitLocked() {
	if g.inflight != nil || len(g.held) == 0 && (!g.markDirty || g.markHeld) {
		return
	}
	uid, held := g.identity.UID, g.held
	g.held = nil
	m := g.committed
	if m.Device != uid {
		m, _ = g.spool.markOf(uid)
	}
	if g.topic == "" || g.topicOf != uid {
		g.topic, g.topicOf = telemetry.Topic(g.cfg.TopicPrefix, uid), uid
	}
	items := make([]spooled, 0, len(held))
	buf := make([]byte, 0, 160*len(held)) // the payloads share one allocation
	for _, p := range held {
		start := len(buf)
		var err error
		if buf, err = recordPayload(buf, uid, p); err != nil {
			g.log.Error("gateway: encode record", "err", err)
			continue
		}
		items = append(items, spooled{topic: g.topic, payload: buf[start:len(buf):len(buf)], boot: p.boot, seq: p.seq})
		m = m.advance(uid, p.boot, p.seq)
	}
	var write *mark
	if !g.markHeld && m.Device != "" {
		write = &m
	}
	c := &spoolCommit{n: len(held), done: make(chan struct{})}
	g.inflight = c
	req := &commitReq{device: uid, items: items, mark: write, hook: g.spoolHook}
	req.done = func(err error) {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.inflight = nil
		close(c.done)
		if err != nil {
			g.stats.SpoolErrors++
			g.held = append(held, g.held...)
			g.log.Error("gateway: spool write failed; records kept in memory", "err", err, "records", len(held))
			return
		}
		g.stats.Spooled += uint64(len(items))
		g.committed = m
		g.markDirty = write == nil && m.Device != ""
		if len(g.held) > 0 && !g.spoolDone {
			g.submitLocked() // what was read during this commit goes with the next
		}
	}
	if err := g.spool.submit(req); err != nil {
		g.inflight = nil
		close(c.done)
		g.held = append(held, g.held...)
		g.log.Error("gateway: spool write failed; records kept in memory", "err", err, "records", len(held))
	}
}

// finishSpool, after the read loop ended, waits for this gateway's commit under way and commits
// what is still held once; what cannot be committed (no identity, a failing disk) is counted
// unpublished.
func (g *Gateway) finishSpool() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.spool == nil {
		return
	}
	g.spoolDone = true
	for tried := false; ; {
		if c := g.inflight; c != nil {
			g.mu.Unlock()
			<-c.done
			g.mu.Lock()
			continue
		}
		if tried || !g.identity.Known || len(g.held) == 0 && (!g.markDirty || g.markHeld) {
			break
		}
		tried = true
		g.submitLocked()
	}
	g.stats.Unpublished += uint64(len(g.held))
	g.held = nil
}

// publishSpool publishes the device's spooled records oldest first and deletes what the broker
// acknowledged. It manages the connection itself: after a loss it dials again paced by
// Config.Backoff (jitter included) and resumes from the spool, so a message in flight when the
// connection dropped is published again rather than trusted to paho's memory.
func (g *Gateway) publishSpool(ctx context.Context, sp *spool) {
	if !g.learnIdentity(ctx) {
		return
	}
	uid, _, _, _ := g.Identity()
	notify := sp.notifyOf(uid)
	var client mqtt.Client
	removed := make(chan error, 1) // the last round's removal; one at a time
	removed <- nil
	defer func() {
		<-removed
		if client != nil {
			client.Disconnect(250)
		}
		g.setConnected(false)
	}()
	failures := 0
	// Records of the single-device layout ("": a spool written before group commit) go first.
	source := ""
	var after []byte // the newest key published and acknowledged: the next round reads past it
	for ctx.Err() == nil {
		if client == nil || !client.IsConnectionOpen() {
			if client != nil {
				client.Disconnect(0)
				g.mu.Lock()
				g.stats.Reconnects++
				g.mu.Unlock()
			}
			if client = g.dial(ctx, uid, false); client == nil {
				return
			}
		}
		batch, err := sp.oldest(source, after, spoolBatch)
		if err != nil {
			g.log.Error("gateway: read spool", "err", err)
			batch = nil
		}
		if len(batch) == 0 {
			if source != uid {
				source, after = uid, nil
				continue
			}
			select {
			case <-ctx.Done():
				return
			case <-notify:
			case <-time.After(time.Second):
			}
			continue
		}
		toks := make([]mqtt.Token, len(batch))
		for i, it := range batch {
			toks[i] = client.Publish(it.topic, g.cfg.QoS, false, it.payload)
		}
		deadline := time.NewTimer(g.cfg.PublishTimeout)
		acked := make([][]byte, 0, len(batch))
		failed := 0
	wait:
		for i, tok := range toks {
			select {
			case <-tok.Done():
			case <-deadline.C:
				failed += len(toks) - i
				break wait
			case <-ctx.Done():
				break wait // the rest stays spooled for the next run
			}
			if tok.Error() != nil {
				failed++
				continue
			}
			acked = append(acked, batch[i].key)
		}
		deadline.Stop()
		if err := <-removed; err != nil {
			g.log.Error("gateway: spool", "err", err) // they are published again: duplicates, not loss
		}
		if len(acked) == 0 {
			removed <- nil
		} else if err := sp.submit(&commitReq{device: source, remove: acked, done: func(err error) { removed <- err }}); err != nil {
			removed <- err
		}
		g.mu.Lock()
		g.stats.Published += uint64(len(acked))
		g.stats.PublishErrors += uint64(failed)
		g.mu.Unlock()
		if failed == 0 {
			failures = 0
			after = batch[len(batch)-1].key
			continue
		}
		// Read again from the oldest once the acknowledged ones are gone: the rest is
		// published again.
		if err := <-removed; err != nil {
			g.log.Error("gateway: spool", "err", err)
		}
		removed <- nil
		after = nil
		wait := g.cfg.Backoff.delay(failures)
		failures++
		g.log.Debug("publishes not acknowledged; kept in the spool", "failed", failed, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
