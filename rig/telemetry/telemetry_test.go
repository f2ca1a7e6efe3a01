package telemetry

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestAppendJSONIsJSONMarshal: the hand-written encoder produces json.Marshal's bytes, the wire
// format the ingest and every stored record already hold.
func TestAppendJSONIsJSONMarshal(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 30, 15, 123456700, time.UTC)
	for _, tc := range []struct {
		name string
		r    Record
	}{
		{"typical", Record{Device: "0123456789abcdef01234567", Boot: 3, Seq: 42, DeviceTimeMs: 840, GatewayTime: at, TempCentiC: 2150, SupplyMv: 3300}},
		{"zero", Record{}},
		{"extremes", Record{Device: "ffffffffffffffffffffffff", Boot: 1<<32 - 1, Seq: 1<<32 - 1, DeviceTimeMs: 1<<32 - 1, GatewayTime: at.Truncate(time.Second), TempCentiC: -32768, SupplyMv: 65535}},
		{"whole second", Record{Device: "d", GatewayTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"needs escaping", Record{Device: "a\"b<c>\\\u00e9\n", GatewayTime: at}},
		{"offset zone", Record{Device: "d", GatewayTime: at.In(time.FixedZone("X", 3600))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, werr := json.Marshal(tc.r)
			got, gerr := tc.r.AppendJSON([]byte("prefix"))
			if (werr != nil) != (gerr != nil) || !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Fatalf("AppendJSON = %s (%v), want prefix%s (%v)", got, gerr, want, werr)
			}
		})
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	r := Record{Device: "0123456789abcdef01234567", Boot: 3, Seq: 42, DeviceTimeMs: 840, GatewayTime: time.Now().UTC(), TempCentiC: 2150, SupplyMv: 3300}
	buf := make([]byte, 0, 256)
	for b.Loop() {
		buf, _ = r.AppendJSON(buf[:0])
	}
}
