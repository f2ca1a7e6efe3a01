package delta

import (
	"testing"

	"github.com/pathrig/rig/rig/record"
)

// FuzzReadRun: run.json as rig delta reads it (record.ParseRun, then Compare). Any bytes either
// are refused with an error or give a run that compares with itself without a crash and with
// nothing improved or regressed.
func FuzzReadRun(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := record.ParseRun("run.json", data)
		if err != nil {
			return
		}
		d := Compare(r, r, "a", "b")
		if d.Summary.Improved != 0 || d.Summary.Regressed != 0 {
			t.Fatalf("a run compared with itself: %+v", d.Summary)
		}
		empty := &record.Run{Schema: record.SchemaRun}
		Compare(empty, r, "empty", "b")
		Compare(r, empty, "a", "empty")
	})
}
