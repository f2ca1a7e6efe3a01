package gateway

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	bolt "go.etcd.io/bbolt"

	"github.com/pathrig/rig/rig/telemetry"
)

// spool is the gateway's crash-safe store-and-forward buffer: a bbolt file holding every
// telemetry record from the moment it is read off the UART until the broker acknowledged it.
// Append commits (fsync) before the read loop reads the next bytes from the UART; everything
// spooled is published again after a restart. Bounded: past Max records the oldest are evicted
// and counted.
//
// A SIGKILL can still take the frames of the read being processed (read off the tty, not yet
// committed; under CPU load the commit takes long). For those the spool keeps, per device, a
// high-water mark: the boot and seq of the newest frame committed, written in the same
// transaction as the frames, so it never claims a frame the spool did not hold. A gateway that
// starts on a spool with a mark asks the device to REPLAY what it sent after it (Gateway.Run).
type spool struct {
	db     *bolt.DB
	path   string
	max    int
	notify chan struct{} // wakes the publisher after an Append
	// failAppend, when set (tests), runs before each append; an error fails it as a disk would,
	// and a hook that blocks holds the read loop as a slow fsync does.
	failAppend func([]spooled) error

	mu      sync.Mutex
	depth   int
	evicted uint64
	marks   map[string]mark // what the marks bucket holds
}

var (
	spoolBucket = []byte("outbox")
	markBucket  = []byte("marks") // device id → boot u32, seq u32 (big-endian)
)

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

func openSpool(path string, max int) (*spool, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("gateway: spool %s: create directory: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("gateway: spool %s is locked by another gateway process (one spool per gateway): %w", path, err)
		}
		return nil, fmt.Errorf("gateway: open spool %s: %w (delete it only if its records may be lost)", path, err)
	}
	s := &spool{db: db, path: path, max: max, notify: make(chan struct{}, 1), marks: map[string]mark{}}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(spoolBucket)
		if err != nil {
			return err
		}
		s.depth = b.Stats().KeyN
		mb, err := tx.CreateBucketIfNotExists(markBucket)
		if err != nil {
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

func (s *spool) close() error { return s.db.Close() }

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

// append stores records (topic, payload pairs) durably, evicting the oldest past max. m, when not
// nil, is the device's new high-water mark, written in the same transaction: it holds exactly
// when the records do.
func (s *spool) append(items []spooled, m *mark) error {
	if len(items) == 0 && m == nil {
		return nil
	}
	if s.failAppend != nil {
		if err := s.failAppend(items); err != nil {
			return fmt.Errorf("gateway: spool %s: append: %w", s.path, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var evicted int
	err := s.db.Update(func(tx *bolt.Tx) error {
		if m != nil {
			v := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, m.Boot), m.Seq)
			if err := tx.Bucket(markBucket).Put([]byte(m.Device), v); err != nil {
				return err
			}
		}
		b := tx.Bucket(spoolBucket)
		for _, it := range items {
			id, err := b.NextSequence()
			if err != nil {
				return err
			}
			v := make([]byte, 2+len(it.topic)+len(it.payload))
			binary.BigEndian.PutUint16(v, uint16(len(it.topic)))
			copy(v[2:], it.topic)
			copy(v[2+len(it.topic):], it.payload)
			if err := b.Put(binary.BigEndian.AppendUint64(nil, id), v); err != nil {
				return err
			}
		}
		over := s.depth + len(items) - s.max
		c := b.Cursor()
		for k, _ := c.First(); k != nil && evicted < over; k, _ = c.Next() {
			if err := c.Delete(); err != nil {
				return err
			}
			evicted++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("gateway: spool %s: append: %w", s.path, err)
	}
	s.depth += len(items) - evicted
	s.evicted += uint64(evicted)
	if m != nil {
		s.marks[m.Device] = *m
	}
	if len(items) == 0 {
		return nil
	}
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return nil
}

// oldest returns up to n records, oldest first.
func (s *spool) oldest(n int) ([]spooled, error) {
	var out []spooled
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(spoolBucket).Cursor()
		for k, v := c.First(); k != nil && len(out) < n; k, v = c.Next() {
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

// remove deletes acknowledged records.
func (s *spool) remove(keys [][]byte) error {
	if len(keys) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	removed := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(spoolBucket)
		for _, k := range keys {
			if b.Get(k) != nil {
				removed++
			}
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("gateway: spool %s: remove acknowledged: %w", s.path, err)
	}
	s.depth -= removed
	return nil
}

func (s *spool) stats() (depth int, evicted uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.depth, s.evicted
}

// recordPayload encodes one telemetry frame as the JSON record published for device uid.
func recordPayload(uid string, p pending) ([]byte, error) {
	rec := telemetry.Record{
		Device: uid, Boot: p.boot, Seq: p.seq, DeviceTimeMs: p.timeMs,
		GatewayTime: p.at.UTC(), TempCentiC: p.tel.TempCentiC, SupplyMv: p.tel.SupplyMv,
	}
	payload, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	return payload, nil
}

// flushHeld commits the frames of the last UART read to the spool (spool mode, identity known),
// before the read loop reads more: what the device sent is on disk before the gateway asks for
// the next bytes. A failed write keeps them held and retries on the next read. The device's
// high-water mark moves in the same transaction, unless a replay holds it (see holdMarkLocked).
func (g *Gateway) flushHeld() {
	g.mu.Lock()
	if g.spool == nil || !g.identity.Known || len(g.held) == 0 && (!g.markDirty || g.markHeld) {
		g.mu.Unlock()
		return
	}
	uid, held := g.identity.UID, g.held
	g.held = nil
	m := g.committed
	if m.Device != uid {
		m, _ = g.spool.markOf(uid)
	}
	hold := g.markHeld
	g.mu.Unlock()
	topic := telemetry.Topic(g.cfg.TopicPrefix, uid)
	items := make([]spooled, 0, len(held))
	for _, p := range held {
		payload, err := recordPayload(uid, p)
		if err != nil {
			g.log.Error("gateway: encode record", "err", err)
			continue
		}
		items = append(items, spooled{topic: topic, payload: payload, boot: p.boot, seq: p.seq})
		m = m.advance(uid, p.boot, p.seq)
	}
	var write *mark
	if !hold && m.Device != "" {
		write = &m
	}
	err := g.spool.append(items, write)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		g.stats.SpoolErrors++
		g.held = append(held, g.held...)
		g.log.Error("gateway: spool write failed; records kept in memory", "err", err, "records", len(held))
		return
	}
	g.stats.Spooled += uint64(len(items))
	g.committed = m
	g.markDirty = write == nil && m.Device != ""
}

// publishSpool publishes the spool oldest first and deletes what the broker acknowledged. It
// manages the connection itself: after a loss it dials again paced by Config.Backoff (jitter
// included) and resumes from the spool, so a message in flight when the connection dropped is
// published again rather than trusted to paho's memory.
func (g *Gateway) publishSpool(ctx context.Context, sp *spool) {
	if !g.learnIdentity(ctx) {
		return
	}
	uid, _, _, _ := g.Identity()
	var client mqtt.Client
	defer func() {
		if client != nil {
			client.Disconnect(250)
		}
		g.setConnected(false)
	}()
	failures := 0
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
		batch, err := sp.oldest(spoolBatch)
		if err != nil {
			g.log.Error("gateway: read spool", "err", err)
			batch = nil
		}
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-sp.notify:
			case <-time.After(time.Second):
			}
			continue
		}
		toks := make([]mqtt.Token, len(batch))
		for i, it := range batch {
			toks[i] = client.Publish(it.topic, g.cfg.QoS, false, it.payload)
		}
		deadline := time.NewTimer(g.cfg.PublishTimeout)
		var acked [][]byte
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
		if err := sp.remove(acked); err != nil {
			g.log.Error("gateway: spool", "err", err) // they are published again: duplicates, not loss
		}
		g.mu.Lock()
		g.stats.Published += uint64(len(acked))
		g.stats.PublishErrors += uint64(failed)
		g.mu.Unlock()
		if failed == 0 {
			failures = 0
			continue
		}
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
