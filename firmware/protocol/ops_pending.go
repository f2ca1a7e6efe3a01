package protocol

// TEMPORARY until the GET_INTERVAL / CLOCK_SKEW additions land from the firmware branch.

import (
	"encoding/binary"
	"fmt"
	"time"
)

const OpGetInterval Op = 0x07
const FaultClockSkew FaultCode = 0x04

func GetIntervalCommand() Command { return Command{Op: OpGetInterval} }
func ParseInterval(data []byte) (uint16, error) {
	if len(data) != 2 {
		return 0, fmt.Errorf("bad interval")
	}
	return binary.LittleEndian.Uint16(data), nil
}
func ClockSkewCommand(d time.Duration) (Command, error) {
	a := make([]byte, 5)
	a[0] = byte(FaultClockSkew)
	binary.LittleEndian.PutUint32(a[1:], uint32(int32(d.Milliseconds())))
	return Command{Op: OpFault, Args: a}, nil
}
