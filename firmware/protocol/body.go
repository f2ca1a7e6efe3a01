package protocol

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"time"
)

// Body sizes of protocol v1.
const (
	UIDLen         = 12 // STM32 96-bit unique device ID
	HelloLen       = 16 // uid[12], fw major, minor, patch, reset_cause
	TelemetryLen   = 4  // temp_centi_c i16, supply_mv u16
	CommandMinLen  = 1  // op, then op-specific args
	ResponseMinLen = 6  // req_seq u32, op u8, status u8, then op-specific data
	IdentifyLen    = 15 // IDENTIFY response data: uid[12], fw[3]
	StatsLen       = 16 // STATS response data: boot, telemetry_sent, rx_ok, rx_bad (u32 each)
)

// UID is the STM32 96-bit unique device ID, in the byte order the device reads it from its UID
// registers (lowest address first).
type UID [UIDLen]byte

// String returns the device id: 24 lowercase hex digits, the form used in topics and records.
func (u UID) String() string { return hex.EncodeToString(u[:]) }

// ParseUID parses 24 hex digits.
func ParseUID(s string) (UID, error) {
	var u UID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != UIDLen {
		return u, fmt.Errorf("protocol: device UID %q: want 24 hex digits (96 bits)", s)
	}
	copy(u[:], b)
	return u, nil
}

// FWVersion is the firmware version major.minor.patch.
type FWVersion struct{ Major, Minor, Patch uint8 }

func (v FWVersion) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// ResetCause says why the device booted (HELLO).
type ResetCause uint8

// Reset causes, from the STM32 RCC_CSR reset flags.
const (
	ResetUnknown  ResetCause = 0
	ResetPowerOn  ResetCause = 1 // POR/PDR
	ResetPin      ResetCause = 2 // NRST pin (the rig's reset line)
	ResetSoftware ResetCause = 3 // NVIC_SystemReset, e.g. FAULT RESET
	ResetWatchdog ResetCause = 4 // IWDG or WWDG
	ResetBrownout ResetCause = 5 // BOR
	ResetLowPower ResetCause = 6 // illegal low-power entry
)

func (c ResetCause) String() string {
	switch c {
	case ResetUnknown:
		return "unknown"
	case ResetPowerOn:
		return "power_on"
	case ResetPin:
		return "pin"
	case ResetSoftware:
		return "software"
	case ResetWatchdog:
		return "watchdog"
	case ResetBrownout:
		return "brownout"
	case ResetLowPower:
		return "low_power"
	}
	return fmt.Sprintf("reset_cause(%d)", uint8(c))
}

// Hello is the HELLO body, sent once per boot before any telemetry.
type Hello struct {
	UID        UID
	FW         FWVersion
	ResetCause ResetCause
}

// Marshal returns the 16-byte body.
func (h Hello) Marshal() []byte {
	b := make([]byte, HelloLen)
	copy(b, h.UID[:])
	b[12], b[13], b[14], b[15] = h.FW.Major, h.FW.Minor, h.FW.Patch, uint8(h.ResetCause)
	return b
}

// ParseHello parses a HELLO body.
func ParseHello(body []byte) (Hello, error) {
	var h Hello
	if len(body) != HelloLen {
		return h, bad(ReasonBodyLength, "HELLO body of %d bytes, want %d", len(body), HelloLen)
	}
	copy(h.UID[:], body)
	h.FW = FWVersion{body[12], body[13], body[14]}
	h.ResetCause = ResetCause(body[15])
	return h, nil
}

// Telemetry is the TELEMETRY body.
type Telemetry struct {
	TempCentiC int16  // 1/100 °C
	SupplyMv   uint16 // mV
}

// Marshal returns the 4-byte body.
func (t Telemetry) Marshal() []byte {
	b := make([]byte, TelemetryLen)
	binary.LittleEndian.PutUint16(b, uint16(t.TempCentiC))
	binary.LittleEndian.PutUint16(b[2:], t.SupplyMv)
	return b
}

// ParseTelemetry parses a TELEMETRY body.
func ParseTelemetry(body []byte) (Telemetry, error) {
	if len(body) != TelemetryLen {
		return Telemetry{}, bad(ReasonBodyLength, "TELEMETRY body of %d bytes, want %d", len(body), TelemetryLen)
	}
	return Telemetry{
		TempCentiC: int16(binary.LittleEndian.Uint16(body)),
		SupplyMv:   binary.LittleEndian.Uint16(body[2:]),
	}, nil
}

// Op is a command operation.
type Op uint8

// Command operations of protocol v1.
const (
	OpPing        Op = 0x01 // no args, no data
	OpIdentify    Op = 0x02 // no args; data uid[12], fw[3]
	OpSetInterval Op = 0x03 // args interval_ms u16 (0 stops telemetry); no data
	OpStats       Op = 0x04 // no args; data boot, telemetry_sent, rx_ok, rx_bad (u32 each)
	OpFault       Op = 0x05 // args code u8 (FaultCode); no data
	OpBootStats   Op = 0x06 // args boot u32; data boot u32, reset_cause u8, telemetry_sent u32 (added compatibly in v1)
	OpGetInterval Op = 0x07 // no args; data interval_ms u16, the telemetry period (0: stopped) (added compatibly in v1)
	// OpReplay asks the device to send again the TELEMETRY frames of its current boot it still
	// holds from a seq on: args boot u32, from_seq u32; data count u16, then the frames follow
	// the RESPONSE exactly as first sent (added compatibly in v1: an older device answers
	// StatusUnknownOp).
	OpReplay Op = 0x08
)

func (o Op) String() string {
	switch o {
	case OpPing:
		return "PING"
	case OpIdentify:
		return "IDENTIFY"
	case OpSetInterval:
		return "SET_INTERVAL"
	case OpStats:
		return "STATS"
	case OpFault:
		return "FAULT"
	case OpBootStats:
		return "BOOT_STATS"
	case OpGetInterval:
		return "GET_INTERVAL"
	case OpReplay:
		return "REPLAY"
	}
	return fmt.Sprintf("Op(0x%02x)", uint8(o))
}

// ArgsLen returns the length of the args of a known op. For FAULT it is the code byte alone; a
// code with args of its own (CLOCK_SKEW) adds FaultCode.ArgsLen: Command.Check knows both.
func (o Op) ArgsLen() (n int, known bool) {
	switch o {
	case OpPing, OpIdentify, OpStats, OpGetInterval:
		return 0, true
	case OpSetInterval:
		return 2, true
	case OpFault:
		return 1, true
	case OpBootStats:
		return 4, true
	case OpReplay:
		return ReplayArgsLen, true
	}
	return 0, false
}

// FaultCode is the argument of FAULT: a fault the device injects into itself on request.
type FaultCode uint8

// Fault codes. 0x05-0x7F are reserved for later additions, 0x80-0xFF for firmware-specific
// experiments; a device answers a code it does not implement with StatusBadArgs.
const (
	FaultNone       FaultCode = 0x00 // clear every active fault (CORRUPT_CRC, STALL; not the clock skew)
	FaultCorruptCRC FaultCode = 0x01 // send the next TELEMETRY frame with a wrong CRC (its seq is consumed)
	FaultStall      FaultCode = 0x02 // after the response, transmit nothing until the next reset
	FaultReset      FaultCode = 0x03 // after the response, reset (reset_cause software)
	// FaultClockSkew steps the device clock by skew_ms (i32, the 4 bytes after the code) from the
	// next frame on, cumulatively, like a mis-set RTC; the skew survives resets and power cuts
	// (the backup domain). Added compatibly to v1: an older device answers StatusBadArgs.
	FaultClockSkew FaultCode = 0x04
)

// ClockSkewArgsLen is the length of FAULT CLOCK_SKEW's args: code u8, skew_ms i32.
const ClockSkewArgsLen = 5

func (c FaultCode) String() string {
	switch c {
	case FaultNone:
		return "none"
	case FaultCorruptCRC:
		return "corrupt_crc"
	case FaultStall:
		return "stall"
	case FaultReset:
		return "reset"
	case FaultClockSkew:
		return "clock_skew"
	}
	return fmt.Sprintf("fault(0x%02x)", uint8(c))
}

// Known reports whether protocol v1 defines the code.
func (c FaultCode) Known() bool { return c <= FaultClockSkew }

// ArgsLen returns how many bytes of args follow the code byte: 4 for CLOCK_SKEW, 0 for the others.
func (c FaultCode) ArgsLen() int {
	if c == FaultClockSkew {
		return ClockSkewArgsLen - 1
	}
	return 0
}

// Command is the COMMAND body.
type Command struct {
	Op   Op
	Args []byte
}

// Marshal returns the body: op then args.
func (c Command) Marshal() []byte { return append([]byte{uint8(c.Op)}, c.Args...) }

// ParseCommand parses a COMMAND body. Whether Args fit Op is the device's business (StatusBadArgs).
func ParseCommand(body []byte) (Command, error) {
	if len(body) < CommandMinLen {
		return Command{}, bad(ReasonBodyLength, "COMMAND body of %d bytes, want at least %d", len(body), CommandMinLen)
	}
	return Command{Op: Op(body[0]), Args: append([]byte(nil), body[1:]...)}, nil
}

// SetIntervalCommand returns SET_INTERVAL with the interval in ms (0 stops telemetry).
func SetIntervalCommand(ms uint16) Command {
	return Command{Op: OpSetInterval, Args: binary.LittleEndian.AppendUint16(nil, ms)}
}

// FaultCommand returns FAULT with a code that takes no args of its own (every code but
// CLOCK_SKEW: see ClockSkewCommand).
func FaultCommand(code FaultCode) Command { return Command{Op: OpFault, Args: []byte{uint8(code)}} }

// GetIntervalCommand returns GET_INTERVAL.
func GetIntervalCommand() Command { return Command{Op: OpGetInterval} }

// ClockSkewCommand returns FAULT CLOCK_SKEW stepping the device clock by skew, in whole ms
// (truncated toward zero). The wire carries an i32: a skew beyond ±2^31 ms (about 24.8 days) is
// clamped to that range; send it again to step further.
func ClockSkewCommand(skew time.Duration) Command {
	ms := min(max(skew.Milliseconds(), math.MinInt32), math.MaxInt32)
	return Command{Op: OpFault, Args: binary.LittleEndian.AppendUint32([]byte{uint8(FaultClockSkew)}, uint32(int32(ms)))}
}

// IntervalMs returns the argument of SET_INTERVAL.
func (c Command) IntervalMs() (uint16, bool) {
	if c.Op != OpSetInterval || len(c.Args) != 2 {
		return 0, false
	}
	return binary.LittleEndian.Uint16(c.Args), true
}

// Fault returns the code of FAULT, when the args are the code and exactly the args that code
// takes (FaultCode.ArgsLen; an unknown code takes none).
func (c Command) Fault() (FaultCode, bool) {
	if c.Op != OpFault || len(c.Args) < 1 {
		return 0, false
	}
	code := FaultCode(c.Args[0])
	if len(c.Args) != 1+code.ArgsLen() {
		return 0, false
	}
	return code, true
}

// ClockSkew returns the step of FAULT CLOCK_SKEW.
func (c Command) ClockSkew() (time.Duration, bool) {
	if code, ok := c.Fault(); !ok || code != FaultClockSkew {
		return 0, false
	}
	return time.Duration(int32(binary.LittleEndian.Uint32(c.Args[1:]))) * time.Millisecond, true
}

// Check returns the status a device implementing every op and fault code of protocol v1 answers
// for reasons of the command alone: StatusUnknownOp for an op v1 does not define, StatusBadArgs for
// args of the wrong length for the op (for FAULT: for its code) or a fault code v1 does not
// define, else StatusOK. A device may still answer StatusBadArgs for a value it does not hold
// (BOOT_STATS of a boot it forgot). The C firmware's proto_command_check agrees byte for byte.
func (c Command) Check() Status {
	n, known := c.Op.ArgsLen()
	switch {
	case !known:
		return StatusUnknownOp
	case c.Op == OpFault:
		if code, ok := c.Fault(); !ok || !code.Known() {
			return StatusBadArgs
		}
	case len(c.Args) != n:
		return StatusBadArgs
	}
	return StatusOK
}

// Status is the outcome of a command.
type Status uint8

// Statuses of protocol v1.
const (
	StatusOK        Status = 0
	StatusUnknownOp Status = 1
	StatusBadArgs   Status = 2
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusUnknownOp:
		return "unknown_op"
	case StatusBadArgs:
		return "bad_args"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Response is the RESPONSE body. ReqSeq echoes the Seq of the COMMAND frame answered.
type Response struct {
	ReqSeq uint32
	Op     Op
	Status Status
	Data   []byte // empty unless Status is StatusOK
}

// Marshal returns the body.
func (r Response) Marshal() []byte {
	b := make([]byte, ResponseMinLen, ResponseMinLen+len(r.Data))
	binary.LittleEndian.PutUint32(b, r.ReqSeq)
	b[4], b[5] = uint8(r.Op), uint8(r.Status)
	return append(b, r.Data...)
}

// ParseResponse parses a RESPONSE body.
func ParseResponse(body []byte) (Response, error) {
	if len(body) < ResponseMinLen {
		return Response{}, bad(ReasonBodyLength, "RESPONSE body of %d bytes, want at least %d", len(body), ResponseMinLen)
	}
	return Response{
		ReqSeq: binary.LittleEndian.Uint32(body),
		Op:     Op(body[4]),
		Status: Status(body[5]),
		Data:   append([]byte(nil), body[ResponseMinLen:]...),
	}, nil
}

// Identity is the data of an IDENTIFY response.
type Identity struct {
	UID UID
	FW  FWVersion
}

// Marshal returns the 15-byte data.
func (i Identity) Marshal() []byte {
	b := make([]byte, IdentifyLen)
	copy(b, i.UID[:])
	b[12], b[13], b[14] = i.FW.Major, i.FW.Minor, i.FW.Patch
	return b
}

// ParseIdentity parses the data of an IDENTIFY response.
func ParseIdentity(data []byte) (Identity, error) {
	var i Identity
	if len(data) != IdentifyLen {
		return i, bad(ReasonBodyLength, "IDENTIFY data of %d bytes, want %d", len(data), IdentifyLen)
	}
	copy(i.UID[:], data)
	i.FW = FWVersion{data[12], data[13], data[14]}
	return i, nil
}

// DeviceStats is the data of a STATS response: counters of the current boot.
type DeviceStats struct {
	Boot          uint32 // boot counter
	TelemetrySent uint32 // TELEMETRY frames sent this boot (= the seq of the next one)
	RxOK          uint32 // valid frames received this boot, the STATS command itself included
	RxBad         uint32 // bad frames received this boot
}

// Marshal returns the 16-byte data.
func (s DeviceStats) Marshal() []byte {
	b := make([]byte, 0, StatsLen)
	for _, v := range []uint32{s.Boot, s.TelemetrySent, s.RxOK, s.RxBad} {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

// ParseDeviceStats parses the data of a STATS response.
func ParseDeviceStats(data []byte) (DeviceStats, error) {
	if len(data) != StatsLen {
		return DeviceStats{}, bad(ReasonBodyLength, "STATS data of %d bytes, want %d", len(data), StatsLen)
	}
	le := binary.LittleEndian
	return DeviceStats{le.Uint32(data), le.Uint32(data[4:]), le.Uint32(data[8:]), le.Uint32(data[12:])}, nil
}

// IntervalLen is the length of GET_INTERVAL response data.
const IntervalLen = 2

// MarshalInterval returns GET_INTERVAL response data: interval_ms u16.
func MarshalInterval(ms uint16) []byte { return binary.LittleEndian.AppendUint16(nil, ms) }

// ParseInterval parses the data of a GET_INTERVAL response: the telemetry period in ms, 0 when
// telemetry is stopped (SET_INTERVAL 0).
func ParseInterval(data []byte) (uint16, error) {
	if len(data) != IntervalLen {
		return 0, bad(ReasonBodyLength, "GET_INTERVAL data of %d bytes, want %d", len(data), IntervalLen)
	}
	return binary.LittleEndian.Uint16(data), nil
}

// BootStatsLen is the length of BOOT_STATS response data.
const BootStatsLen = 9

// BootStatsCommand returns BOOT_STATS for one boot counter.
func BootStatsCommand(boot uint32) Command {
	return Command{Op: OpBootStats, Args: binary.LittleEndian.AppendUint32(nil, boot)}
}

// BootOf returns the argument of BOOT_STATS.
func (c Command) BootOf() (uint32, bool) {
	if c.Op != OpBootStats || len(c.Args) != 4 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(c.Args), true
}

// BootStats is the data of a BOOT_STATS response: what the device sent during one boot, kept by
// the device across resets (the firmware keeps a ring of recent boots in backup SRAM), so the rig
// can account for the boots a fault scenario ended.
type BootStats struct {
	Boot          uint32
	ResetCause    ResetCause
	TelemetrySent uint32 // TELEMETRY frames sent during that boot
}

// Marshal returns the 9-byte data.
func (s BootStats) Marshal() []byte {
	b := binary.LittleEndian.AppendUint32(make([]byte, 0, BootStatsLen), s.Boot)
	b = append(b, uint8(s.ResetCause))
	return binary.LittleEndian.AppendUint32(b, s.TelemetrySent)
}

// ParseBootStats parses the data of a BOOT_STATS response.
func ParseBootStats(data []byte) (BootStats, error) {
	if len(data) != BootStatsLen {
		return BootStats{}, bad(ReasonBodyLength, "BOOT_STATS data of %d bytes, want %d", len(data), BootStatsLen)
	}
	le := binary.LittleEndian
	return BootStats{Boot: le.Uint32(data), ResetCause: ResetCause(data[4]), TelemetrySent: le.Uint32(data[5:])}, nil
}

// Sizes of REPLAY.
const (
	ReplayArgsLen = 8  // boot u32, from_seq u32
	ReplayLen     = 2  // RESPONSE data: count u16
	ReplayDepth   = 64 // TELEMETRY frames of the current boot a v1 device holds for REPLAY
)

// ReplayCommand returns REPLAY: send again the TELEMETRY frames of boot held from seq from on.
func ReplayCommand(boot, from uint32) Command {
	args := binary.LittleEndian.AppendUint32(make([]byte, 0, ReplayArgsLen), boot)
	return Command{Op: OpReplay, Args: binary.LittleEndian.AppendUint32(args, from)}
}

// ReplayOf returns the arguments of REPLAY: the boot and the first seq asked for.
func (c Command) ReplayOf() (boot, from uint32, ok bool) {
	if c.Op != OpReplay || len(c.Args) != ReplayArgsLen {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint32(c.Args), binary.LittleEndian.Uint32(c.Args[4:]), true
}

// MarshalReplay returns REPLAY response data: count u16, the frames the device sends again.
func MarshalReplay(count uint16) []byte { return binary.LittleEndian.AppendUint16(nil, count) }

// ParseReplay parses the data of a REPLAY response: how many TELEMETRY frames the device sends
// again right after it (0 when the boot is not its current one or it holds nothing from that seq).
func ParseReplay(data []byte) (uint16, error) {
	if len(data) != ReplayLen {
		return 0, bad(ReasonBodyLength, "REPLAY data of %d bytes, want %d", len(data), ReplayLen)
	}
	return binary.LittleEndian.Uint16(data), nil
}
