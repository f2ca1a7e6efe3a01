// Package protocol owns wire protocol v1 between the device (the STM32 firmware or its Go emulator)
// and the gateway: COBS framing with a 0x00 delimiter, the frame header, the CRC-32 trailer, the
// typed bodies (HELLO, TELEMETRY, COMMAND, RESPONSE) and the decode errors with their stable
// reasons. firmware/PROTOCOL.md is the normative text; this package and testdata/vectors.txt agree
// with it byte for byte, and the C firmware is tested against the same vectors.
package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Sizes of protocol v1. A decoded frame is header | body | CRC-32.
const (
	Version    = 1                                // the only version this package speaks
	HeaderLen  = 14                               // version u8, type u8, boot u32, seq u32, device_time_ms u32
	CRCLen     = 4                                // CRC-32/ISO-HDLC over header+body, little-endian
	MinFrame   = HeaderLen + CRCLen               // 18: a frame with an empty body
	MaxFrame   = 256                              // largest decoded frame
	MaxBody    = MaxFrame - MinFrame              // 238
	MaxEncoded = MaxFrame + 1 + MaxFrame/254      // 258: worst-case COBS size of MaxFrame bytes, without the delimiter
	Delimiter  = 0x00                             // ends every encoded frame
	maxWire    = MaxEncoded + 1                   // encoded frame plus delimiter
	_          = uint8(MaxEncoded - MaxFrame - 2) // compile-time check: COBS overhead for 256 bytes is 2
)

// Type is the frame type, the second header byte.
type Type uint8

// Frame types of protocol v1.
const (
	TypeHello     Type = 0x01 // device → host, once per boot
	TypeTelemetry Type = 0x02 // device → host, periodic
	TypeCommand   Type = 0x10 // host → device
	TypeResponse  Type = 0x11 // device → host, answers one COMMAND
)

func (t Type) String() string {
	switch t {
	case TypeHello:
		return "HELLO"
	case TypeTelemetry:
		return "TELEMETRY"
	case TypeCommand:
		return "COMMAND"
	case TypeResponse:
		return "RESPONSE"
	}
	return fmt.Sprintf("Type(0x%02x)", uint8(t))
}

// Known reports whether t is a type of protocol v1.
func (t Type) Known() bool {
	switch t {
	case TypeHello, TypeTelemetry, TypeCommand, TypeResponse:
		return true
	}
	return false
}

// Frame is one decoded frame. For device → host frames Boot is the device boot counter and Seq the
// per-boot telemetry sequence (see PROTOCOL.md); for COMMAND frames Seq is the host's request id
// and Boot and DeviceTimeMs are 0.
type Frame struct {
	Version      uint8
	Type         Type
	Boot         uint32
	Seq          uint32
	DeviceTimeMs uint32
	Body         []byte
}

// NewFrame returns a version 1 frame.
func NewFrame(t Type, boot, seq, deviceTimeMs uint32, body []byte) Frame {
	return Frame{Version: Version, Type: t, Boot: boot, Seq: seq, DeviceTimeMs: deviceTimeMs, Body: body}
}

// Stable reasons of decode errors. They are counter keys and vector expectations: never change one.
const (
	ReasonTruncated  = "truncated"   // Decode only: the wire bytes do not end with the 0x00 delimiter
	ReasonCOBS       = "cobs"        // invalid COBS: a block runs past the delimiter, a 0x00 inside, or a final 0xFF block
	ReasonTooLong    = "too_long"    // more than MaxEncoded bytes before a delimiter, or more than MaxFrame decoded
	ReasonTooShort   = "too_short"   // fewer than MinFrame decoded bytes
	ReasonCRC        = "crc"         // CRC-32 mismatch
	ReasonVersion    = "version"     // version byte is not 1
	ReasonType       = "type"        // unknown frame type
	ReasonBodyLength = "body_length" // body length wrong for the frame type (or for the typed body parsed)
	ReasonOther      = "other"       // Reason of an error that is not a *FrameError
)

// Reasons lists every reason a decoder can report, in a stable order for counters and reports.
func Reasons() []string {
	return []string{ReasonTruncated, ReasonCOBS, ReasonTooLong, ReasonTooShort, ReasonCRC,
		ReasonVersion, ReasonType, ReasonBodyLength}
}

// FrameError is a frame rejected by the decoder. Branch on Reason, never on the message.
type FrameError struct {
	Reason string // one of the Reason constants
	Detail string // human detail for logs
}

func (e *FrameError) Error() string {
	return "protocol: bad frame (" + e.Reason + "): " + e.Detail
}

// Reason returns the stable reason of a decode error: "" for nil, ReasonOther for an error that
// did not come from this package's decoder.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	var fe *FrameError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return ReasonOther
}

func bad(reason, format string, args ...any) *FrameError {
	return &FrameError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// Encode returns the wire bytes of f: COBS(header | body | CRC-32) followed by the 0x00 delimiter.
// It encodes any version and type (tests build malformed frames with it); only a body longer than
// MaxBody is refused.
func Encode(f Frame) ([]byte, error) {
	return AppendEncode(make([]byte, 0, maxWire), f)
}

// AppendEncode appends the wire bytes of f to dst.
func AppendEncode(dst []byte, f Frame) ([]byte, error) {
	if len(f.Body) > MaxBody {
		return dst, fmt.Errorf("protocol: encode %s frame: body of %d bytes exceeds %d (MaxBody); send less data per frame", f.Type, len(f.Body), MaxBody)
	}
	var raw [MaxFrame]byte
	n := marshalFrame(raw[:], f)
	dst = appendCOBS(dst, raw[:n])
	return append(dst, Delimiter), nil
}

// EncodeBadCRC returns the wire bytes of f with its CRC inverted: well-framed, valid COBS, and
// rejected with reason crc. A fault-injection helper for the emulator (FAULT CORRUPT_CRC) and tests.
func EncodeBadCRC(f Frame) ([]byte, error) {
	if len(f.Body) > MaxBody {
		return nil, fmt.Errorf("protocol: encode %s frame: body of %d bytes exceeds %d (MaxBody)", f.Type, len(f.Body), MaxBody)
	}
	var raw [MaxFrame]byte
	n := marshalFrame(raw[:], f)
	for i := n - CRCLen; i < n; i++ {
		raw[i] = ^raw[i]
	}
	return append(appendCOBS(nil, raw[:n]), Delimiter), nil
}

// marshalFrame writes header | body | CRC into raw and returns the length.
func marshalFrame(raw []byte, f Frame) int {
	raw[0] = f.Version
	raw[1] = uint8(f.Type)
	binary.LittleEndian.PutUint32(raw[2:], f.Boot)
	binary.LittleEndian.PutUint32(raw[6:], f.Seq)
	binary.LittleEndian.PutUint32(raw[10:], f.DeviceTimeMs)
	n := HeaderLen + copy(raw[HeaderLen:], f.Body)
	binary.LittleEndian.PutUint32(raw[n:], crc32.ChecksumIEEE(raw[:n]))
	return n + CRCLen
}

// appendCOBS appends the COBS encoding of src (Cheshire & Baker 1999, the form whose last block
// never has code 0xFF: a run of 254 non-zero bytes at the end is followed by a 0x01 block). That
// form is the only one the decoder accepts, so every valid frame has exactly one wire encoding.
func appendCOBS(dst, src []byte) []byte {
	codeAt := len(dst)
	dst = append(dst, 0)
	code := byte(1)
	for _, b := range src {
		if b == 0 {
			dst[codeAt] = code
			codeAt = len(dst)
			dst = append(dst, 0)
			code = 1
			continue
		}
		dst = append(dst, b)
		code++
		if code == 0xFF {
			dst[codeAt] = code
			codeAt = len(dst)
			dst = append(dst, 0)
			code = 1
		}
	}
	dst[codeAt] = code
	return dst
}

// decodeCOBS decodes one encoded frame enc (no delimiter, no 0x00 inside) into out, which must
// hold len(enc) bytes; it returns the decoded length.
func decodeCOBS(out, enc []byte) (int, error) {
	n := 0
	for i := 0; i < len(enc); {
		code := int(enc[i])
		if code == 0 {
			return 0, bad(ReasonCOBS, "0x00 inside the frame at offset %d", i)
		}
		end := i + code
		if end > len(enc) {
			return 0, bad(ReasonCOBS, "block at offset %d claims %d bytes, only %d before the delimiter", i, code-1, len(enc)-i-1)
		}
		n += copy(out[n:], enc[i+1:end])
		i = end
		switch {
		case i < len(enc) && code != 0xFF:
			out[n] = 0
			n++
		case i == len(enc) && code == 0xFF:
			return 0, bad(ReasonCOBS, "last block has code 0xFF (non-canonical: end with a 0x01 block)")
		}
	}
	return n, nil
}

// Decode decodes exactly one frame: wire is the encoded frame followed by its 0x00 delimiter.
func Decode(wire []byte) (Frame, error) {
	if len(wire) == 0 || wire[len(wire)-1] != Delimiter {
		return Frame{}, bad(ReasonTruncated, "%d bytes without the 0x00 delimiter at the end", len(wire))
	}
	enc := wire[:len(wire)-1]
	if len(enc) > MaxEncoded {
		return Frame{}, bad(ReasonTooLong, "%d encoded bytes before the delimiter, limit %d", len(enc), MaxEncoded)
	}
	var raw [MaxEncoded]byte
	return decodeSegment(raw[:], enc)
}

// decodeSegment decodes the encoded bytes between two delimiters into the scratch buffer raw;
// len(enc) <= MaxEncoded = len(raw).
func decodeSegment(raw, enc []byte) (Frame, error) {
	n, err := decodeCOBS(raw, enc)
	if err != nil {
		return Frame{}, err
	}
	if n > MaxFrame {
		return Frame{}, bad(ReasonTooLong, "%d decoded bytes, limit %d", n, MaxFrame)
	}
	return parseFrame(raw[:n])
}

// parseFrame checks a decoded frame. The CRC is checked before the version and type so that line
// noise is reported as crc, not as a protocol mismatch.
func parseFrame(raw []byte) (Frame, error) {
	if len(raw) < MinFrame {
		return Frame{}, bad(ReasonTooShort, "%d decoded bytes, minimum %d", len(raw), MinFrame)
	}
	n := len(raw) - CRCLen
	want := binary.LittleEndian.Uint32(raw[n:])
	if got := crc32.ChecksumIEEE(raw[:n]); got != want {
		return Frame{}, bad(ReasonCRC, "computed 0x%08x, frame carries 0x%08x", got, want)
	}
	f := Frame{
		Version:      raw[0],
		Type:         Type(raw[1]),
		Boot:         binary.LittleEndian.Uint32(raw[2:]),
		Seq:          binary.LittleEndian.Uint32(raw[6:]),
		DeviceTimeMs: binary.LittleEndian.Uint32(raw[10:]),
	}
	if f.Version != Version {
		return Frame{}, bad(ReasonVersion, "version %d, this decoder speaks %d", f.Version, Version)
	}
	if !f.Type.Known() {
		return Frame{}, bad(ReasonType, "unknown type 0x%02x", uint8(f.Type))
	}
	body := raw[HeaderLen:n]
	if err := checkBodyLength(f.Type, len(body)); err != nil {
		return Frame{}, err
	}
	f.Body = append([]byte(nil), body...) // the caller owns the frame; raw is reused
	return f, nil
}

func checkBodyLength(t Type, n int) error {
	switch t {
	case TypeHello:
		if n != HelloLen {
			return bad(ReasonBodyLength, "HELLO body of %d bytes, want %d", n, HelloLen)
		}
	case TypeTelemetry:
		if n != TelemetryLen {
			return bad(ReasonBodyLength, "TELEMETRY body of %d bytes, want %d", n, TelemetryLen)
		}
	case TypeCommand:
		if n < CommandMinLen {
			return bad(ReasonBodyLength, "COMMAND body of %d bytes, want at least %d", n, CommandMinLen)
		}
	case TypeResponse:
		if n < ResponseMinLen {
			return bad(ReasonBodyLength, "RESPONSE body of %d bytes, want at least %d", n, ResponseMinLen)
		}
	}
	return nil
}

// Decoder turns a byte stream into frames. It resynchronises on every 0x00: the bytes of a bad
// frame up to the next delimiter are dropped and reported as one error. It buffers at most
// MaxEncoded bytes; a longer run is reported once as too_long when the limit is crossed and the
// rest of it is dropped up to the next delimiter. Empty runs (consecutive 0x00) are not frames and
// are not reported: a sender may send 0x00 to flush a receiver's partial frame.
//
// The zero value is ready to use. A Decoder is not safe for concurrent use.
type Decoder struct {
	buf      [MaxEncoded]byte
	raw      [MaxEncoded]byte // decode scratch, kept here so decoding does not allocate it per frame
	n        int
	overflow bool
}

// Feed consumes p and calls emit once per frame or bad frame whose delimiter is in p (or, for
// too_long, once the limit is crossed). Bytes after the last delimiter are kept for the next call,
// so p may be split anywhere, including into single bytes or empty reads.
func (d *Decoder) Feed(p []byte, emit func(Frame, error)) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, Delimiter)
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if !d.overflow {
			if d.n+len(chunk) > MaxEncoded {
				d.overflow = true
				d.n = 0
				emit(Frame{}, bad(ReasonTooLong, "more than %d bytes without a delimiter", MaxEncoded))
			} else {
				d.n += copy(d.buf[d.n:], chunk)
			}
		}
		if i < 0 {
			return
		}
		p = p[i+1:]
		switch {
		case d.overflow:
			d.overflow = false
		case d.n > 0:
			f, err := decodeSegment(d.raw[:], d.buf[:d.n])
			d.n = 0
			emit(f, err)
		}
	}
}

// Reset drops any partial frame, as after a reconnect.
func (d *Decoder) Reset() { d.n, d.overflow = 0, false }

// Pending returns how many bytes of an unfinished frame are buffered.
func (d *Decoder) Pending() int { return d.n }
