package ingest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pathrig/rig/rig/telemetry"
)

// FuzzParseRecords: a request body is either refused with a reason (400) or gives 1..maxBatch
// valid records that the store can key and that survive a round trip through their JSON.
func FuzzParseRecords(f *testing.F) {
	const maxBatch = 8
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, reason, err := parseRecords(body, maxBatch)
		if err != nil {
			if reason != ReasonMalformed && reason != ReasonInvalid {
				t.Fatalf("error %v with reason %q", err, reason)
			}
			return
		}
		if len(recs) == 0 || len(recs) > maxBatch {
			t.Fatalf("%d records accepted (batch limit %d)", len(recs), maxBatch)
		}
		for i, r := range recs {
			if err := r.Validate(); err != nil {
				t.Fatalf("record %d accepted but invalid: %v", i, err)
			}
			if _, err := recordKey(r.Device, r.Boot, r.Seq); err != nil {
				t.Fatalf("record %d accepted but cannot be stored: %v", i, err)
			}
			b, err := json.Marshal(r)
			if err != nil {
				continue // a time json cannot write back (year > 9999) is still a valid input
			}
			back, _, err := parseRecords(b, 1)
			if err != nil || !sameRecord(back[0], r) {
				t.Fatalf("record %d: %+v → %s → %+v, %v", i, r, b, back, err)
			}
		}
	})
}

// FuzzStoreValues: values read back from the store file (a record under its key, and the
// counters of a stream) decode or are refused as corrupt; an accepted record is valid and stored
// under its own key.
func FuzzStoreValues(f *testing.F) {
	f.Fuzz(func(t *testing.T, key, value []byte) {
		if st, err := decodeStored(key, value); err == nil {
			if err := st.Record.Validate(); err != nil {
				t.Fatalf("accepted invalid record %+v: %v", st.Record, err)
			}
			want, err := recordKey(st.Record.Device, st.Record.Boot, st.Record.Seq)
			if err != nil || !bytes.Equal(want, key) {
				t.Fatalf("record %+v accepted under key %x (its key %x, %v)", st.Record, key, want, err)
			}
			if b, err := json.Marshal(st); err == nil {
				back, err := decodeStored(key, b)
				if err != nil || !sameRecord(back.Record, st.Record) || back.Arrival != st.Arrival || !back.ReceivedAt.Equal(st.ReceivedAt) {
					t.Fatalf("round trip %+v → %+v, %v", st, back, err)
				}
			}
		}
		if st, err := decodeStream(value); err == nil {
			if _, err := json.Marshal(st); err != nil && !strings.Contains(err.Error(), "year outside of range") {
				t.Fatalf("counters %+v do not encode: %v", st, err)
			}
		}
	})
}

func sameRecord(a, b telemetry.Record) bool {
	at, bt := a.GatewayTime, b.GatewayTime
	a.GatewayTime, b.GatewayTime = bt, bt
	return a == b && at.Equal(bt)
}

// FuzzCanonicalBatch: a body the reflection-free batch reader accepts gives exactly the records
// the strict decoder gives for it.
func FuzzCanonicalBatch(f *testing.F) {
	const maxBatch = 8
	one, _ := rec(1, 2).AppendJSON(nil)
	f.Add([]byte(`{"records":[` + string(one) + `,` + string(one) + `]}`))
	f.Add([]byte(`{"records":[` + string(one) + `]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := parseCanonicalBatch(body, maxBatch)
		if !ok {
			return
		}
		var top struct{ Records []json.RawMessage }
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&top); err != nil || dec.More() || len(top.Records) != len(fast) {
			t.Fatalf("fast path read %d records from %q; encoding/json: %d, %v", len(fast), body, len(top.Records), err)
		}
		for i, raw := range top.Records {
			want, _, err := decodeRecord(raw)
			if err != nil || !sameRecord(want, fast[i]) {
				t.Fatalf("record %d of %q: fast %+v, strict %+v (%v)", i, body, fast[i], want, err)
			}
		}
	})
}
