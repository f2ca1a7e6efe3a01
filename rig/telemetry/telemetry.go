// Package telemetry owns the JSON telemetry record that crosses the path after the gateway: the
// gateway publishes it over MQTT, the bridge forwards it, the ingest validates and stores it.
package telemetry

import (
	"errors"
	"fmt"
	"regexp"
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
