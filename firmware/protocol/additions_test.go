package protocol

import (
	"bytes"
	"math"
	"testing"
	"time"
)

// TestGetInterval: the GET_INTERVAL command (op 0x07, no args) and its 2-byte data.
func TestGetInterval(t *testing.T) {
	c := GetIntervalCommand()
	if c.Op != OpGetInterval || len(c.Args) != 0 || c.Op.String() != "GET_INTERVAL" {
		t.Fatalf("GetIntervalCommand = %+v (%s)", c, c.Op)
	}
	if !bytes.Equal(c.Marshal(), []byte{0x07}) {
		t.Fatalf("body %x, want 07", c.Marshal())
	}
	for _, ms := range []uint16{0, 20, 1000, math.MaxUint16} {
		got, err := ParseInterval(MarshalInterval(ms))
		if err != nil || got != ms {
			t.Errorf("ParseInterval(MarshalInterval(%d)) = %d, %v", ms, got, err)
		}
	}
	for _, n := range []int{0, 1, 3, 16} {
		if _, err := ParseInterval(make([]byte, n)); Reason(err) != ReasonBodyLength {
			t.Errorf("ParseInterval of %d bytes: %v, want a body_length error", n, err)
		}
	}
}

// TestClockSkewCommand: FAULT CLOCK_SKEW carries the code then skew_ms as an i32, truncated to
// whole ms and clamped to the i32 range.
func TestClockSkewCommand(t *testing.T) {
	for _, tc := range []struct {
		name string
		skew time.Duration
		args []byte
		back time.Duration
	}{
		{"one hour", time.Hour, []byte{0x04, 0x80, 0xee, 0x36, 0x00}, time.Hour},
		{"back 1.5 s", -1500 * time.Millisecond, []byte{0x04, 0x24, 0xfa, 0xff, 0xff}, -1500 * time.Millisecond},
		{"zero", 0, []byte{0x04, 0, 0, 0, 0}, 0},
		{"sub-ms truncated", 2*time.Millisecond + 999*time.Microsecond, []byte{0x04, 2, 0, 0, 0}, 2 * time.Millisecond},
		{"clamped high", 30 * 24 * time.Hour, []byte{0x04, 0xff, 0xff, 0xff, 0x7f}, math.MaxInt32 * time.Millisecond},
		{"clamped low", -30 * 24 * time.Hour, []byte{0x04, 0x00, 0x00, 0x00, 0x80}, math.MinInt32 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ClockSkewCommand(tc.skew)
			if c.Op != OpFault || !bytes.Equal(c.Args, tc.args) {
				t.Fatalf("ClockSkewCommand(%s) = %s %x, want FAULT %x", tc.skew, c.Op, c.Args, tc.args)
			}
			if code, ok := c.Fault(); !ok || code != FaultClockSkew || code.String() != "clock_skew" {
				t.Fatalf("Fault() = %s %v", code, ok)
			}
			if got, ok := c.ClockSkew(); !ok || got != tc.back {
				t.Fatalf("ClockSkew() = %s %v, want %s", got, ok, tc.back)
			}
			if c.Check() != StatusOK {
				t.Fatalf("Check() = %s", c.Check())
			}
		})
	}
	if _, ok := FaultCommand(FaultStall).ClockSkew(); ok {
		t.Error("ClockSkew() accepted FAULT STALL")
	}
}

// TestCommandCheck: the status of a command for reasons of the command alone, the table of
// PROTOCOL.md §3.3 (the C firmware's proto_command_check is compared with it in cproto).
func TestCommandCheck(t *testing.T) {
	skew := ClockSkewCommand(time.Second).Args
	for _, tc := range []struct {
		name string
		cmd  Command
		want Status
	}{
		{"ping", Command{Op: OpPing}, StatusOK},
		{"ping with args", Command{Op: OpPing, Args: []byte{1}}, StatusBadArgs},
		{"identify", Command{Op: OpIdentify}, StatusOK},
		{"set interval", SetIntervalCommand(100), StatusOK},
		{"set interval 1 byte", Command{Op: OpSetInterval, Args: []byte{1}}, StatusBadArgs},
		{"stats", Command{Op: OpStats}, StatusOK},
		{"boot stats", BootStatsCommand(3), StatusOK},
		{"boot stats 3 bytes", Command{Op: OpBootStats, Args: []byte{1, 2, 3}}, StatusBadArgs},
		{"get interval", GetIntervalCommand(), StatusOK},
		{"get interval with args", Command{Op: OpGetInterval, Args: []byte{0}}, StatusBadArgs},
		{"get interval with 2 bytes", Command{Op: OpGetInterval, Args: []byte{0x14, 0}}, StatusBadArgs},
		{"fault none", FaultCommand(FaultNone), StatusOK},
		{"fault reset", FaultCommand(FaultReset), StatusOK},
		{"fault without code", Command{Op: OpFault}, StatusBadArgs},
		{"fault reset with extra bytes", Command{Op: OpFault, Args: []byte{0x03, 0, 0, 0, 0}}, StatusBadArgs},
		{"clock skew", Command{Op: OpFault, Args: skew}, StatusOK},
		{"clock skew without skew", FaultCommand(FaultClockSkew), StatusBadArgs},
		{"clock skew 2-byte skew", Command{Op: OpFault, Args: skew[:3]}, StatusBadArgs},
		{"clock skew 5-byte skew", Command{Op: OpFault, Args: append(append([]byte(nil), skew...), 0)}, StatusBadArgs},
		{"reserved fault code", FaultCommand(0x05), StatusBadArgs},
		{"experimental fault code", FaultCommand(0x80), StatusBadArgs},
		{"replay", ReplayCommand(7, 59), StatusOK},
		{"replay without args", Command{Op: OpReplay}, StatusBadArgs},
		{"replay boot only", Command{Op: OpReplay, Args: []byte{7, 0, 0, 0}}, StatusBadArgs},
		{"replay 9 bytes", Command{Op: OpReplay, Args: append(ReplayCommand(7, 59).Args, 0)}, StatusBadArgs},
		{"unknown op", Command{Op: 0x7e}, StatusUnknownOp},
		{"unknown op with args", Command{Op: 0x09, Args: []byte{1, 2}}, StatusUnknownOp},
	} {
		if got := tc.cmd.Check(); got != tc.want {
			t.Errorf("%s: Check(%s %x) = %s, want %s", tc.name, tc.cmd.Op, tc.cmd.Args, got, tc.want)
		}
	}
}

// TestReplay: the REPLAY command (op 0x08, args boot u32 then from_seq u32) and its 2-byte data.
func TestReplay(t *testing.T) {
	c := ReplayCommand(7, 59)
	if c.Op != OpReplay || c.Op.String() != "REPLAY" || !bytes.Equal(c.Marshal(), []byte{0x08, 7, 0, 0, 0, 59, 0, 0, 0}) {
		t.Fatalf("ReplayCommand(7, 59) = %s %x", c.Op, c.Marshal())
	}
	if boot, from, ok := c.ReplayOf(); !ok || boot != 7 || from != 59 {
		t.Fatalf("ReplayOf() = %d %d %v", boot, from, ok)
	}
	for _, bad := range []Command{{Op: OpReplay}, {Op: OpReplay, Args: c.Args[:4]}, {Op: OpBootStats, Args: c.Args}} {
		if _, _, ok := bad.ReplayOf(); ok {
			t.Errorf("ReplayOf accepted %s %x", bad.Op, bad.Args)
		}
	}
	for _, n := range []uint16{0, 1, 64, math.MaxUint16} {
		if got, err := ParseReplay(MarshalReplay(n)); err != nil || got != n {
			t.Errorf("ParseReplay(MarshalReplay(%d)) = %d, %v", n, got, err)
		}
	}
	for _, n := range []int{0, 1, 3, 8} {
		if _, err := ParseReplay(make([]byte, n)); Reason(err) != ReasonBodyLength {
			t.Errorf("ParseReplay of %d bytes: %v, want a body_length error", n, err)
		}
	}
}
