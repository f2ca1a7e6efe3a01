//go:build cgo

// Package cproto wraps the firmware's C protocol module (../src/proto.c) with cgo, so Go tests and
// fuzz targets can compare it with the Go codec (firmware/protocol) on any byte stream. Without
// cgo (no C compiler) Available is false and the functions are not usable.
package cproto

/*
#cgo CFLAGS: -std=c11 -O2 -Wall -Wextra -Werror
#include <stdlib.h>
#include "../src/proto.c"
*/
import "C"

import (
	"unsafe"

	"github.com/pathrig/rig/firmware/protocol"
)

// Available reports whether the C module is built in (cgo with a C compiler).
const Available = true

// Outcome is one result of the C stream receiver: a frame, or the reason of a bad frame.
type Outcome struct {
	Reason string // "" for a frame, else a protocol reason such as "crc"
	Frame  protocol.Frame
}

// Receiver is the C stream receiver (struct proto_rx).
type Receiver struct {
	rx *C.struct_proto_rx
}

// NewReceiver returns a fresh receiver; Close frees it.
func NewReceiver() *Receiver {
	rx := (*C.struct_proto_rx)(C.calloc(1, C.sizeof_struct_proto_rx))
	C.proto_rx_init(rx)
	return &Receiver{rx: rx}
}

// Close frees the receiver's C memory.
func (r *Receiver) Close() { C.free(unsafe.Pointer(r.rx)) }

// Feed feeds p one byte at a time, as the firmware does, and returns the outcomes.
func (r *Receiver) Feed(p []byte) []Outcome {
	var out []Outcome
	var f C.struct_proto_frame
	for _, b := range p {
		res := C.proto_rx_feed(r.rx, C.uint8_t(b), &f)
		switch res {
		case C.PROTO_NONE:
		case C.PROTO_FRAME:
			out = append(out, Outcome{Frame: protocol.Frame{
				Version: uint8(f.version), Type: protocol.Type(f._type), Boot: uint32(f.boot),
				Seq: uint32(f.seq), DeviceTimeMs: uint32(f.time_ms),
				Body: C.GoBytes(unsafe.Pointer(f.body), C.int(f.body_len)),
			}})
		default:
			out = append(out, Outcome{Reason: C.GoString(C.proto_reason(res))})
		}
	}
	return out
}

// Encode returns the wire bytes the firmware sends for f (nil if the body is too long).
func Encode(f protocol.Frame, badCRC bool) []byte {
	wire := (*C.uint8_t)(C.malloc(C.PROTO_MAX_WIRE))
	defer C.free(unsafe.Pointer(wire))
	var body unsafe.Pointer
	if len(f.Body) > 0 {
		body = C.CBytes(f.Body)
		defer C.free(body)
	}
	cf := C.struct_proto_frame{
		version: C.uint8_t(f.Version), _type: C.uint8_t(f.Type), boot: C.uint32_t(f.Boot),
		seq: C.uint32_t(f.Seq), time_ms: C.uint32_t(f.DeviceTimeMs),
		body: (*C.uint8_t)(body), body_len: C.size_t(len(f.Body)),
	}
	bad := C.int(0)
	if badCRC {
		bad = 1
	}
	n := C.proto_encode(&cf, bad, wire)
	if n == 0 {
		return nil
	}
	return C.GoBytes(unsafe.Pointer(wire), C.int(n))
}

// CommandCheck returns the firmware's proto_command_check of a COMMAND body (op, args; at least
// one byte): the status it answers for the op and the args length alone.
func CommandCheck(body []byte) protocol.Status {
	if len(body) == 0 {
		return protocol.StatusBadArgs // as the C function, which the receiver never calls so
	}
	b := C.CBytes(body)
	defer C.free(b)
	return protocol.Status(C.proto_command_check((*C.uint8_t)(b), C.size_t(len(body))))
}

// Sent is one frame held for REPLAY: the seq, device_time_ms and body it was first sent with.
type Sent struct {
	Seq, TimeMs uint32
	Body        [protocol.TelemetryLen]byte
}

// Ring is the firmware's REPLAY ring (struct proto_replay_ring).
type Ring struct {
	r *C.struct_proto_replay_ring
}

// NewRing returns an empty ring; Close frees it.
func NewRing() *Ring {
	r := (*C.struct_proto_replay_ring)(C.calloc(1, C.sizeof_struct_proto_replay_ring))
	C.proto_replay_clear(r)
	return &Ring{r: r}
}

// Close frees the ring's C memory.
func (r *Ring) Close() { C.free(unsafe.Pointer(r.r)) }

// Add keeps one frame, as the firmware does for every TELEMETRY frame it sends.
func (r *Ring) Add(s Sent) {
	body := C.CBytes(s.Body[:])
	defer C.free(body)
	C.proto_replay_add(r.r, C.uint32_t(s.Seq), C.uint32_t(s.TimeMs), (*C.uint8_t)(body))
}

// Replay returns what the firmware answers REPLAY from seq from with: the count it announces and
// the frames it then sends, oldest first (the loop of main.c's handle_command).
func (r *Ring) Replay(from uint32) (count uint32, frames []Sent) {
	count = uint32(C.proto_replay_count(r.r, C.uint32_t(from)))
	for i := C.uint32_t(0); i < r.r.count; i++ {
		f := C.proto_replay_get(r.r, i)
		if uint32(f.seq) < from {
			continue
		}
		s := Sent{Seq: uint32(f.seq), TimeMs: uint32(f.time_ms)}
		for k := range s.Body {
			s.Body[k] = byte(f.body[k])
		}
		frames = append(frames, s)
	}
	return count, frames
}
