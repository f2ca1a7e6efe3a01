package account

import (
	"testing"

	"github.com/pathrig/rig/rig/dut"
	"github.com/pathrig/rig/rig/ingest"
	"github.com/pathrig/rig/rig/link"
)

// fakeStore holds seqs per device and boot and counts the passes made over it.
type fakeStore struct {
	seqs   map[string]map[uint32][]uint32
	passes int
}

func (f *fakeStore) Stats() ([]ingest.DeviceStats, error)            { return nil, nil }
func (f *fakeStore) Records(string, uint32) ([]ingest.Stored, error) { return nil, nil }
func (f *fakeStore) CountRanges(rs []ingest.Range) ([]int, error) {
	f.passes++
	out := make([]int, len(rs))
	for i, r := range rs {
		for _, s := range f.seqs[r.Device][r.Boot] {
			if s >= r.From && s < r.To {
				out[i]++
			}
		}
	}
	return out, nil
}

func TestBehind(t *testing.T) {
	st := &fakeStore{seqs: map[string]map[uint32][]uint32{
		"a": {1: {0, 1, 2}},
		"b": {1: {0, 2}},         // seq 1 missing
		"c": {1: {0}, 2: {0, 1}}, // two boots, all in
		"d": {1: {0, 2}},         // seq 1 taken by the line: not wanted
	}}
	win := func(boot, from, to uint32) dut.Counts { return dut.Counts{Boot: boot, From: from, To: to} }
	devs := []Device{
		{UID: "a", Counts: []dut.Counts{win(1, 0, 3)}},
		{UID: "b", Counts: []dut.Counts{win(1, 0, 3)}},
		{UID: "c", Counts: []dut.Counts{win(1, 0, 1), win(2, 0, 2)}},
		{UID: "d", Counts: []dut.Counts{win(1, 0, 3)}, Damaged: []link.Damage{{Type: 0x02, Boot: 1, Seq: 1}}},
		{UID: "e", Counts: []dut.Counts{win(1, 5, 5)}}, // sent nothing in the window
		{UID: "f", Counts: []dut.Counts{win(1, 0, 1)}}, // nothing stored yet
	}
	got, err := Behind(st, devs)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range got {
		ids = append(ids, d.UID)
	}
	if len(ids) != 2 || ids[0] != "b" || ids[1] != "f" {
		t.Errorf("Behind = %v, want [b f]", ids)
	}
	if st.passes != 1 {
		t.Errorf("%d passes over the store, want 1 for all devices", st.passes)
	}
}
