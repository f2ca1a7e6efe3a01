// Package telemetry owns the JSON telemetry record that crosses the path after the gateway: the
// gateway publishes it over MQTT, the bridge forwards it, the ingest validates and stores it.
package telemetry

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
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

var deviceID = regexp.MustCompile(`^[0-9a-f]{24}$`)

// ErrInvalid marks a record that fails validation.
var ErrInvalid = errors.New("invalid telemetry record")

// Validate reports the first field that makes r unusable.
func (r Record) Validate() error {
	if !deviceID.MatchString(r.Device) {
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
