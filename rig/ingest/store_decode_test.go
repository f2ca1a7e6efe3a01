package ingest

import (
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/pathrig/rig/rig/telemetry"
)

// A stored record read back under another key than its own (a damaged or edited store file) is
// refused as corrupt, not counted for the frame its key names.
func TestRecordsRefuseValueUnderAnotherKey(t *testing.T) {
	s, err := OpenStore(filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.Put([]telemetry.Record{rec(1, 1), rec(1, 2)}, epoch); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Records(dev, 1); err != nil || len(got) != 2 {
		t.Fatalf("Records = %d, %v", len(got), err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecords)
		k1, _ := recordKey(dev, 1, 1)
		k2, _ := recordKey(dev, 1, 2)
		return b.Put(k1, append([]byte(nil), b.Get(k2)...))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Records(dev, 1); err == nil || !strings.Contains(err.Error(), "seq 2 stored under key") {
		t.Fatalf("Records = %v, want the moved record refused", err)
	}
}
