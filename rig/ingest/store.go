package ingest

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pathrig/rig/rig/telemetry"
)

// Bucket names. Records are keyed device(12 bytes) | boot | seq, big endian, so a cursor walks one
// device and boot in sequence order; streams hold the per (device, boot) counters so that /v1/stats
// does not scan the records.
var (
	bucketRecords = []byte("records")
	bucketStreams = []byte("streams")
)

// Store is the durable telemetry store: a bbolt file, idempotent on (device, boot, seq).
type Store struct {
	db   *bolt.DB
	path string
}

// Stored is one stored record with what the ingest added.
type Stored struct {
	Record     telemetry.Record `json:"record"`
	ReceivedAt time.Time        `json:"received_at"` // when the ingest accepted it
	Arrival    uint64           `json:"arrival"`     // store-wide arrival order, from 1
}

// DeviceStats are the counters of one (device, boot).
type DeviceStats struct {
	Device        string    `json:"device"`
	Boot          uint32    `json:"boot"`
	Stored        uint64    `json:"stored"`     // distinct sequence numbers stored
	Duplicates    uint64    `json:"duplicates"` // re-deliveries recognised and not stored
	MinSeq        uint32    `json:"min_seq"`
	MaxSeq        uint32    `json:"max_seq"`
	FirstReceived time.Time `json:"first_received"`
	LastReceived  time.Time `json:"last_received"`
}

// OpenStore opens (or creates) the store at path. A second open of the same file, in this process
// or another, fails after a second instead of waiting forever for bbolt's file lock.
func OpenStore(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("ingest: store path is empty (set Config.StorePath to a file, e.g. under the run folder)")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("ingest: create store directory for %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("ingest: open store %s: file is locked (another ingest or process holds it; close it first): %w", path, err)
		}
		return nil, fmt.Errorf("ingest: open store %s: %w", path, err)
	}
	// Batch coalesces concurrent requests into one fsync; bbolt's 10 ms default window would add
	// visible latency to a single-writer rig.
	db.MaxBatchDelay = 2 * time.Millisecond
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketRecords, bucketStreams} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("ingest: initialise store %s: %w", path, err)
	}
	return &Store{db: db, path: path}, nil
}

// Path returns the store file.
func (s *Store) Path() string { return s.path }

// Close closes the file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("ingest: close store %s: %w", s.path, err)
	}
	return nil
}

// Put stores the records that are new and counts the others as duplicates, in one transaction
// that is committed (fsync) before Put returns. Records must be valid (telemetry.Record.Validate).
func (s *Store) Put(recs []telemetry.Record, receivedAt time.Time) (accepted, duplicates int, err error) {
	keys := make([][]byte, len(recs))
	for i, r := range recs {
		if keys[i], err = recordKey(r.Device, r.Boot, r.Seq); err != nil {
			return 0, 0, fmt.Errorf("ingest: store record %d: %w", i, err)
		}
	}
	err = s.db.Batch(func(tx *bolt.Tx) error {
		// bbolt may run this function again on its own if a coalesced batch fails: start from zero.
		accepted, duplicates = 0, 0
		vals := make([]byte, 0, 224*len(recs))
		records, streams := tx.Bucket(bucketRecords), tx.Bucket(bucketStreams)
		touched := map[string]*DeviceStats{}
		for i, r := range recs {
			sk := string(keys[i][:16])
			st, ok := touched[sk]
			if !ok {
				var gerr error
				if st, gerr = getStream(streams, keys[i][:16], r); gerr != nil {
					return gerr
				}
				touched[sk] = st
			}
			if records.Get(keys[i]) != nil {
				duplicates++
				st.Duplicates++
				continue
			}
			arrival, err := records.NextSequence()
			if err != nil {
				return err
			}
			// bbolt keeps each value until the commit: one buffer per transaction, grown by
			// appending, each value a view into it.
			start := len(vals)
			if vals, err = appendStored(vals, Stored{Record: r, ReceivedAt: receivedAt, Arrival: arrival}); err != nil {
				return err
			}
			if err := records.Put(keys[i], vals[start:len(vals):len(vals)]); err != nil {
				return err
			}
			accepted++
			if st.Stored == 0 || r.Seq < st.MinSeq {
				st.MinSeq = r.Seq
			}
			if st.Stored == 0 || r.Seq > st.MaxSeq {
				st.MaxSeq = r.Seq
			}
			if st.Stored == 0 {
				st.FirstReceived = receivedAt
			}
			st.LastReceived = receivedAt
			st.Stored++
		}
		for k, st := range touched {
			v, err := json.Marshal(st)
			if err != nil {
				return err
			}
			if err := streams.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("ingest: store %d records in %s: %w", len(recs), s.path, err)
	}
	return accepted, duplicates, nil
}

// appendStored appends st encoded exactly as json.Marshal encodes it (the stored value's format),
// the record by telemetry.Record.AppendJSON: no reflection on the store's hot path.
func appendStored(dst []byte, st Stored) ([]byte, error) {
	if y := st.ReceivedAt.Year(); y < 0 || y > 9999 {
		b, err := json.Marshal(st)
		return append(dst, b...), err
	}
	dst = append(dst, `{"record":`...)
	dst, err := st.Record.AppendJSON(dst)
	if err != nil {
		return dst, err
	}
	dst = append(dst, `,"received_at":"`...)
	dst = st.ReceivedAt.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","arrival":`...)
	dst = strconv.AppendUint(dst, st.Arrival, 10)
	return append(dst, '}'), nil
}

func getStream(b *bolt.Bucket, key []byte, r telemetry.Record) (*DeviceStats, error) {
	st := &DeviceStats{Device: r.Device, Boot: r.Boot}
	if v := b.Get(key); v != nil {
		got, err := decodeStream(v)
		if err != nil {
			return nil, fmt.Errorf("corrupt stream counters for device %s boot %d: %w", r.Device, r.Boot, err)
		}
		got.Device, got.Boot = r.Device, r.Boot // the key's, whatever the value says
		*st = got
	}
	return st, nil
}

// Stats returns the counters of every (device, boot), sorted by device then boot.
func (s *Store) Stats() ([]DeviceStats, error) {
	var out []DeviceStats
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketStreams).ForEach(func(_, v []byte) error {
			st, err := decodeStream(v)
			if err != nil {
				return err
			}
			out = append(out, st)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: read stats from %s: %w", s.path, err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Device != out[j].Device {
			return out[i].Device < out[j].Device
		}
		return out[i].Boot < out[j].Boot
	})
	return out, nil
}

// Records returns the stored records of one device and boot in sequence order.
func (s *Store) Records(device string, boot uint32) ([]Stored, error) {
	prefix, err := recordKey(device, boot, 0)
	if err != nil {
		return nil, fmt.Errorf("ingest: read records: %w", err)
	}
	prefix = prefix[:16]
	var out []Stored
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		for k, v := c.Seek(prefix); k != nil && string(k[:16]) == string(prefix); k, v = c.Next() {
			st, err := decodeStored(k, v)
			if err != nil {
				return fmt.Errorf("corrupt record %x: %w", k, err)
			}
			out = append(out, st)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: read records of device %s boot %d from %s: %w", device, boot, s.path, err)
	}
	return out, nil
}

// CountRange returns how many records of one device and boot the store holds with from ≤ seq <
// to. It walks keys only, decoding nothing: cheap enough to poll while a run drains.
func (s *Store) CountRange(device string, boot, from, to uint32) (int, error) {
	start, err := recordKey(device, boot, from)
	if err != nil {
		return 0, fmt.Errorf("ingest: count records: %w", err)
	}
	var n int
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		for k, _ := c.Seek(start); len(k) == 20 && bytes.Equal(k[:16], start[:16]) && binary.BigEndian.Uint32(k[16:]) < to; k, _ = c.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ingest: count records of device %s boot %d in %s: %w", device, boot, s.path, err)
	}
	return n, nil
}

// Count returns the number of distinct records stored.
func (s *Store) Count() (int, error) {
	var n int
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketRecords).Stats().KeyN
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ingest: count records in %s: %w", s.path, err)
	}
	return n, nil
}

// decodeStream decodes the counters of one (device, boot) as stored.
func decodeStream(v []byte) (DeviceStats, error) {
	var st DeviceStats
	err := json.Unmarshal(v, &st)
	return st, err
}

// decodeStored decodes one stored record and checks it is a valid record stored under its own
// key: a value moved or damaged in the file is refused rather than counted for another frame.
func decodeStored(k, v []byte) (Stored, error) {
	var st Stored
	if err := json.Unmarshal(v, &st); err != nil {
		return Stored{}, err
	}
	if err := st.Record.Validate(); err != nil {
		return Stored{}, err
	}
	want, err := recordKey(st.Record.Device, st.Record.Boot, st.Record.Seq)
	if err != nil {
		return Stored{}, err
	}
	if !bytes.Equal(k, want) {
		return Stored{}, fmt.Errorf("record of device %s boot %d seq %d stored under key %x", st.Record.Device, st.Record.Boot, st.Record.Seq, k)
	}
	return st, nil
}

func recordKey(device string, boot, seq uint32) ([]byte, error) {
	if len(device) != 24 {
		return nil, fmt.Errorf("device %q: want 24 lowercase hex digits", device)
	}
	k := make([]byte, 20)
	if _, err := hex.Decode(k[:12], []byte(device)); err != nil {
		return nil, fmt.Errorf("device %q: %w", device, err)
	}
	binary.BigEndian.PutUint32(k[12:], boot)
	binary.BigEndian.PutUint32(k[16:], seq)
	return k, nil
}
