// Package telemetry owns the JSON telemetry record that crosses the path after the gateway: the
// gateway publishes it over MQTT, the bridge forwards it, the ingest validates and stores it.
package telemetry

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// TopicPrefix is the default topic root; a device publishes to TopicPrefix/<device>/telemetry.
const TopicPrefix = "rig/devices"

// Topic returns the telemetry topic of a device under prefix.
func Topic(prefix, device string) string { return prefix + "/" + device + "/telemetry" }

// Record is one telemetry frame as it leaves the gateway.
type Record struct {
	Device       string    `json:"device"`         // 24 lowercase hex digits: the STM32 96-bit UID
	Boot         uint32    `json:"boot"`           // device boot counter
	Seq          uint32    `json:"seq"`            // per-boot sequence number, 0 after each boot
	DeviceTimeMs uint32    `json:"device_time_ms"` // ms since the device booted
	GatewayTime  time.Time `json:"gateway_time"`   // when the gateway decoded the frame
	TempCentiC   int16     `json:"temp_centi_c"`   // temperature in 1/100 °C
	SupplyMv     uint16    `json:"supply_mv"`      // supply voltage in mV
}

// validID reports whether s is 24 lowercase hex digits (^[0-9a-f]{24}$), without a regexp: it
// runs for every record at the bridge and the ingest.
func validID(s string) bool {
	if len(s) != 24 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ErrInvalid marks a record that fails validation.
var ErrInvalid = errors.New("invalid telemetry record")

// Validate reports the first field that makes r unusable.
func (r Record) Validate() error {
	if !validID(r.Device) {
		return fmt.Errorf("%w: field device: want 24 lowercase hex digits, got %q", ErrInvalid, r.Device)
	}
	if r.GatewayTime.IsZero() {
		return fmt.Errorf("%w: field gateway_time: missing", ErrInvalid)
	}
	return nil
}

// AppendJSON appends r encoded exactly as json.Marshal encodes it (the wire format), without
// reflection: the gateway encodes every record once on its hot path. A device id that needs JSON
// escaping (never a valid one), a time not in UTC or one json.Marshal refuses fall back to
// encoding/json.
func (r Record) AppendJSON(dst []byte) ([]byte, error) {
	if _, off := r.GatewayTime.Zone(); off != 0 || !plainID(r.Device) || r.GatewayTime.Year() < 0 || r.GatewayTime.Year() > 9999 {
		b, err := json.Marshal(r)
		return append(dst, b...), err
	}
	dst = append(dst, `{"device":"`...)
	dst = append(dst, r.Device...)
	dst = append(dst, `","boot":`...)
	dst = strconv.AppendUint(dst, uint64(r.Boot), 10)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, uint64(r.Seq), 10)
	dst = append(dst, `,"device_time_ms":`...)
	dst = strconv.AppendUint(dst, uint64(r.DeviceTimeMs), 10)
	dst = append(dst, `,"gateway_time":"`...)
	dst = r.GatewayTime.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","temp_centi_c":`...)
	dst = strconv.AppendInt(dst, int64(r.TempCentiC), 10)
	dst = append(dst, `,"supply_mv":`...)
	dst = strconv.AppendUint(dst, uint64(r.SupplyMv), 10)
	return append(dst, '}'), nil
}

// plainID reports whether s needs no JSON escaping (printable ASCII without quote, backslash or
// the characters encoding/json escapes for HTML).
func plainID(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// DecodeCanonical decodes b when it is a record exactly as AppendJSON writes it (fields in
// order, no spaces, a device id of 24 lowercase hex digits, gateway_time in UTC as RFC 3339 with
// nanoseconds): the bytes every gateway publishes. It reads them without reflection; ok is false
// for anything else, which the caller decodes with encoding/json and its strict rules. What it
// accepts, encoding/json decodes to the same record (FuzzDecodeCanonical).
func DecodeCanonical(b []byte) (r Record, ok bool) {
	p := canonical{b: b}
	if !p.lit(`{"device":"`) {
		return Record{}, false
	}
	if len(p.b) < 24 {
		return Record{}, false
	}
	for _, c := range p.b[:24] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return Record{}, false
		}
	}
	r.Device, p.b = string(p.b[:24]), p.b[24:]
	var boot, seq, ms, mv uint64
	var temp int64
	ok = p.lit(`","boot":`) && p.uint(&boot, 1<<32-1) &&
		p.lit(`,"seq":`) && p.uint(&seq, 1<<32-1) &&
		p.lit(`,"device_time_ms":`) && p.uint(&ms, 1<<32-1) &&
		p.lit(`,"gateway_time":"`) && p.time(&r.GatewayTime) &&
		p.lit(`","temp_centi_c":`) && p.int(&temp, -1<<15, 1<<15-1) &&
		p.lit(`,"supply_mv":`) && p.uint(&mv, 1<<16-1) &&
		p.lit(`}`) && len(p.b) == 0
	if !ok {
		return Record{}, false
	}
	r.Boot, r.Seq, r.DeviceTimeMs, r.TempCentiC, r.SupplyMv = uint32(boot), uint32(seq), uint32(ms), int16(temp), uint16(mv)
	return r, true
}

// canonical reads the fixed layout of DecodeCanonical.
type canonical struct{ b []byte }

func (p *canonical) lit(s string) bool {
	if len(p.b) < len(s) || string(p.b[:len(s)]) != s {
		return false
	}
	p.b = p.b[len(s):]
	return true
}

// uint reads a JSON number that is a whole number without a leading zero, at most limit.
func (p *canonical) uint(v *uint64, limit uint64) bool {
	n := 0
	var x uint64
	for n < len(p.b) && p.b[n] >= '0' && p.b[n] <= '9' {
		if n >= 10 {
			return false
		}
		x = x*10 + uint64(p.b[n]-'0')
		n++
	}
	if n == 0 || (p.b[0] == '0' && n > 1) || x > limit {
		return false
	}
	*v, p.b = x, p.b[n:]
	return true
}

func (p *canonical) int(v *int64, lo, hi int64) bool {
	neg := len(p.b) > 0 && p.b[0] == '-'
	if neg {
		p.b = p.b[1:]
	}
	var u uint64
	if !p.uint(&u, uint64(-lo)) {
		return false
	}
	x := int64(u)
	if neg {
		x = -x
	}
	if (neg && u == 0) || x < lo || x > hi {
		return false // "-0" is not how AppendJSON writes 0
	}
	*v = x
	return true
}

// time reads an RFC 3339 UTC time and accepts it only if AppendJSON writes it so.
func (p *canonical) time(t *time.Time) bool {
	end := 0
	for end < len(p.b) && p.b[end] != '"' && p.b[end] != '\\' {
		end++
	}
	if end == len(p.b) || p.b[end] != '"' || end == 0 || p.b[end-1] != 'Z' {
		return false
	}
	s := p.b[:end]
	v, err := time.Parse(time.RFC3339Nano, string(s))
	if err != nil || v.Year() < 0 || v.Year() > 9999 {
		return false
	}
	var buf [40]byte
	if string(v.AppendFormat(buf[:0], time.RFC3339Nano)) != string(s) {
		return false
	}
	*t, p.b = v, p.b[end:]
	return true
}
