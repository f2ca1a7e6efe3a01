package telemetry

import (
	"bytes"
	"encoding/json"
	"strings"
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

// TestDecodeCanonical: what AppendJSON writes comes back whole; anything else is left to
// encoding/json (ok false), never read differently.
func TestDecodeCanonical(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 30, 15, 123456700, time.UTC)
	typical := Record{Device: "0123456789abcdef01234567", Boot: 3, Seq: 42, DeviceTimeMs: 840, GatewayTime: at, TempCentiC: 2150, SupplyMv: 3300}
	for _, tc := range []struct {
		name string
		r    Record
	}{
		{"typical", typical},
		{"extremes", Record{Device: "ffffffffffffffffffffffff", Boot: 1<<32 - 1, Seq: 1<<32 - 1, DeviceTimeMs: 1<<32 - 1, GatewayTime: at.Truncate(time.Second), TempCentiC: -32768, SupplyMv: 65535}},
		{"zeros", Record{Device: "000000000000000000000000", GatewayTime: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)}},
		{"negative", Record{Device: "0123456789abcdef01234567", GatewayTime: at, TempCentiC: -5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := tc.r.AppendJSON(nil)
			got, ok := DecodeCanonical(b)
			if !ok || got != tc.r {
				t.Fatalf("DecodeCanonical(%s) = %+v, %v; want %+v", b, got, ok, tc.r)
			}
		})
	}
	canon, _ := typical.AppendJSON(nil)
	for _, tc := range []struct{ name, in string }{
		{"space", `{"device": "0123456789abcdef01234567","boot":3,"seq":42,"device_time_ms":840,"gateway_time":"2026-03-01T12:30:15.1234567Z","temp_centi_c":2150,"supply_mv":3300}`},
		{"fields reordered", `{"boot":3,"device":"0123456789abcdef01234567","seq":42,"device_time_ms":840,"gateway_time":"2026-03-01T12:30:15.1234567Z","temp_centi_c":2150,"supply_mv":3300}`},
		{"leading zero", strings.Replace(string(canon), `"seq":42`, `"seq":042`, 1)},
		{"seq overflows u32", strings.Replace(string(canon), `"seq":42`, `"seq":4294967296`, 1)},
		{"temp overflows i16", strings.Replace(string(canon), `2150`, `32768`, 1)},
		{"minus zero", strings.Replace(string(canon), `2150`, `-0`, 1)},
		{"fraction", strings.Replace(string(canon), `2150`, `2150.0`, 1)},
		{"offset zone", strings.Replace(string(canon), `15.1234567Z`, `15.1234567+01:00`, 1)},
		{"trailing zero in time", strings.Replace(string(canon), `15.1234567Z`, `15.12345670Z`, 1)},
		{"upper-case id", strings.Replace(string(canon), `abcdef`, `ABCDEF`, 1)},
		{"unknown field", strings.Replace(string(canon), `}`, `,"x":1}`, 1)},
		{"trailing data", string(canon) + " "},
		{"truncated", string(canon[:len(canon)-1])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r, ok := DecodeCanonical([]byte(tc.in)); ok {
				t.Fatalf("DecodeCanonical(%s) = %+v, ok; want it left to encoding/json", tc.in, r)
			}
		})
	}
}

// FuzzDecodeCanonical: whatever DecodeCanonical accepts, encoding/json with the ingest's strict
// rules decodes to the same record.
func FuzzDecodeCanonical(f *testing.F) {
	b, _ := Record{Device: "0123456789abcdef01234567", Boot: 3, Seq: 42, DeviceTimeMs: 840, GatewayTime: time.Date(2026, 3, 1, 12, 30, 15, 123456700, time.UTC), TempCentiC: -2150, SupplyMv: 3300}.AppendJSON(nil)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := DecodeCanonical(b)
		if !ok {
			return
		}
		var want Record
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&want); err != nil || dec.More() {
			t.Fatalf("DecodeCanonical accepted %q, encoding/json refuses it: %v", b, err)
		}
		if !got.GatewayTime.Equal(want.GatewayTime) || got.GatewayTime.Location() != want.GatewayTime.Location() {
			t.Fatalf("gateway_time of %q: %v, encoding/json %v", b, got.GatewayTime, want.GatewayTime)
		}
		got.GatewayTime, want.GatewayTime = time.Time{}, time.Time{}
		if got != want {
			t.Fatalf("DecodeCanonical(%q) = %+v, encoding/json %+v", b, got, want)
		}
	})
}

func TestValidateDeviceID(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"0123456789abcdef01234567", true},
		{"0123456789ABCDEF01234567", false},
		{"0123456789abcdef0123456", false},
		{"0123456789abcdef012345678", false},
		{"0123456789abcdeg01234567", false},
		{"", false},
	} {
		if err := (Record{Device: tc.id, GatewayTime: at}).Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(device %q) = %v, want ok %v", tc.id, err, tc.ok)
		}
	}
	if err := (Record{Device: "0123456789abcdef01234567"}).Validate(); err == nil {
		t.Error("Validate of a record without gateway_time: no error")
	}
}
