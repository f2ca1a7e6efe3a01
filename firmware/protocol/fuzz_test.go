package protocol

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzDecoder feeds arbitrary bytes to the stream Decoder in chunks and checks that it never
// panics, that chunking never changes what it reports, that it agrees with Decode applied to each
// delimited run, and that every frame it emits re-encodes to exactly the bytes it came from (one
// canonical encoding) and decodes back to itself. Seeds: testdata/fuzz/FuzzDecoder (from the shared
// vectors), run by plain `go test`; fuzzing itself only with -fuzz=FuzzDecoder.
func FuzzDecoder(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		chunk := 1
		if len(data) > 0 {
			chunk = 1 + int(data[0])%32
		}
		var d Decoder
		var got []outcome
		for p := data; len(p) > 0; {
			n := min(chunk, len(p))
			d.Feed(p[:n], func(f Frame, err error) { got = append(got, outcome{f, err}) })
			p = p[n:]
		}
		if d.Pending() > MaxEncoded {
			t.Fatalf("decoder buffers %d bytes, limit %d", d.Pending(), MaxEncoded)
		}

		// Reference: split on 0x00 by hand and decode each run on its own.
		var want []outcome
		var runs [][]byte // the run each ok outcome came from, for the canonical check
		rest := data
		for {
			i := bytes.IndexByte(rest, Delimiter)
			run := rest
			if i >= 0 {
				run = rest[:i]
			}
			switch {
			case len(run) > MaxEncoded:
				want = append(want, outcome{err: bad(ReasonTooLong, "")}) // reported as soon as the limit is crossed
				runs = append(runs, nil)
			case i >= 0 && len(run) > 0:
				fr, err := Decode(rest[:i+1])
				want = append(want, outcome{fr, err})
				runs = append(runs, rest[:i+1])
			}
			if i < 0 {
				break
			}
			rest = rest[i+1:]
		}
		if len(got) != len(want) {
			t.Fatalf("decoder reported %d outcomes, reference %d: %v vs %v", len(got), len(want), describe(got), describe(want))
		}
		for i := range got {
			if Reason(got[i].err) != Reason(want[i].err) {
				t.Fatalf("outcome %d: decoder %q, reference %q", i, Reason(got[i].err), Reason(want[i].err))
			}
			if got[i].err != nil {
				continue
			}
			fr := got[i].f
			if !reflect.DeepEqual(fr, want[i].f) {
				t.Fatalf("outcome %d: decoder %+v, Decode %+v", i, fr, want[i].f)
			}
			wire, err := Encode(fr)
			if err != nil {
				t.Fatalf("emitted frame does not re-encode: %v", err)
			}
			if !bytes.Equal(wire, runs[i]) {
				t.Fatalf("emitted frame re-encodes to %x, came from %x", wire, runs[i])
			}
			back, err := Decode(wire)
			if err != nil || !reflect.DeepEqual(back, fr) {
				t.Fatalf("round trip: %+v %v, want %+v", back, err, fr)
			}
		}
	})
}
