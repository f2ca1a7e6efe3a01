package trace

import (
	"bytes"
	"testing"
)

// FuzzParse: any bytes either give a playback whose events are all well formed, or an error
// naming the file; never a crash.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		pb, err := Parse("f.trace", data)
		if err != nil {
			if !bytes.Contains([]byte(err.Error()), []byte("f.trace")) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if pb.Header.Trace != Schema {
			t.Fatalf("header %+v accepted", pb.Header)
		}
		if replayed, total := pb.Events(); replayed != 0 || total > bytes.Count(data, []byte("\n"))+1 {
			t.Fatalf("events %d/%d from %d lines", replayed, total, bytes.Count(data, []byte("\n"))+1)
		}
		for i, e := range pb.events {
			switch e.Op {
			case OpRead, OpWrite:
				if len(pb.data[i]) == 0 {
					t.Fatalf("event %d: %s with no bytes", i, e.Op)
				}
			case OpOut:
				if e.Line == "" || (e.Level != "High" && e.Level != "Low") {
					t.Fatalf("event %d: %+v", i, e)
				}
			default:
				t.Fatalf("event %d: op %q accepted", i, e.Op)
			}
		}
	})
}
