package ingest

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Range is the records of one device and boot with From ≤ seq < To.
type Range struct {
	Device   string
	Boot     uint32
	From, To uint32
}

// CountRanges returns how many records the store holds in each range, in one read transaction:
// what a run's drain polls for every device of a fleet at once (CountRange per device would be
// a transaction each). Like CountRange it walks keys only.
func (s *Store) CountRanges(rs []Range) ([]int, error) {
	out := make([]int, len(rs))
	keys := make([][]byte, len(rs))
	for i, r := range rs {
		k, err := recordKey(r.Device, r.Boot, r.From)
		if err != nil {
			return nil, fmt.Errorf("ingest: count records: %w", err)
		}
		keys[i] = k
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		for i, start := range keys {
			to := rs[i].To
			n := 0
			for k, _ := c.Seek(start); len(k) == 20 && bytes.Equal(k[:16], start[:16]) && binary.BigEndian.Uint32(k[16:]) < to; k, _ = c.Next() {
				n++
			}
			out[i] = n
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: count %d record ranges in %s: %w", len(rs), s.path, err)
	}
	return out, nil
}
