package link

import (
	"fmt"
	"strings"
	"time"

	"go.bug.st/serial"
)

// SerialConfig is what OpenSerialConfig and Supervise need to open a UART.
type SerialConfig struct {
	Path        string        // e.g. /dev/ttyAMA0, /dev/rig-stm32 (udev symlink) or a pty path
	Baud        int           // e.g. 115200
	Framing     Framing       // zero value = 8N1
	ReadTimeout time.Duration // 0 = DefaultReadTimeout
}

// Framing is a UART character format: data bits, parity and stop bits, written "8N1", "8E1",
// "7E1", "8N2" … The zero value is 8N1, the device's format (firmware/PROTOCOL.md).
type Framing struct {
	DataBits int  // 5..8; 0 = 8
	Parity   byte // 'N' none, 'E' even, 'O' odd, 'M' mark, 'S' space; 0 = 'N'
	StopBits int  // 1 or 2; 0 = 1
}

// ParseFraming parses "8N1"-style notation (case-insensitive).
func ParseFraming(s string) (Framing, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	if len(u) != 3 {
		return Framing{}, fmt.Errorf("framing %q: want data bits, parity and stop bits such as 8N1, 8E1 or 8N2", s)
	}
	f := Framing{DataBits: int(u[0] - '0'), Parity: u[1], StopBits: int(u[2] - '0')}
	if _, err := f.mode(115200); err != nil {
		return Framing{}, fmt.Errorf("framing %q: %w", s, err)
	}
	return f, nil
}

func (f Framing) norm() Framing {
	if f.DataBits == 0 {
		f.DataBits = 8
	}
	if f.Parity == 0 {
		f.Parity = 'N'
	}
	if f.StopBits == 0 {
		f.StopBits = 1
	}
	return f
}

// String returns the "8N1" notation.
func (f Framing) String() string {
	f = f.norm()
	return fmt.Sprintf("%d%c%d", f.DataBits, f.Parity, f.StopBits)
}

// mode converts to go.bug.st/serial's Mode, refusing what a UART cannot do.
func (f Framing) mode(baud int) (*serial.Mode, error) {
	f = f.norm()
	m := &serial.Mode{BaudRate: baud, DataBits: f.DataBits}
	if f.DataBits < 5 || f.DataBits > 8 {
		return nil, fmt.Errorf("%d data bits: a UART sends 5 to 8", f.DataBits)
	}
	switch f.Parity {
	case 'N':
		m.Parity = serial.NoParity
	case 'E':
		m.Parity = serial.EvenParity
	case 'O':
		m.Parity = serial.OddParity
	case 'M':
		m.Parity = serial.MarkParity
	case 'S':
		m.Parity = serial.SpaceParity
	default:
		return nil, fmt.Errorf("parity %q: want N, E, O, M or S", f.Parity)
	}
	switch f.StopBits {
	case 1:
		m.StopBits = serial.OneStopBit
	case 2:
		m.StopBits = serial.TwoStopBits
	default:
		return nil, fmt.Errorf("%d stop bits: want 1 or 2", f.StopBits)
	}
	return m, nil
}
