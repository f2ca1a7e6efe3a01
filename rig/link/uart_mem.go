package link

import "net"

// NewUART returns an in-memory UART link with no goroutine of its own: device is the emulated
// device's side (a net.Conn with deadlines), host the Port a gateway or relay reads, with
// NewPipe's serial-port behaviour (read timeout as (0, nil), bounded writes). What the device
// writes lands in an rxSize-byte receive buffer, as on a tty: the device never waits for a busy
// host, and past the bound the newest bytes are dropped and counted (Overrun), as a receiver
// overrun drops them. The host's writes toward the device wait for room in a buffer of the
// same size. No pump goroutine and none of net.Pipe's per-direction channels and timers: a fleet
// of 10,000 links costs memory, not goroutines.
func NewUART(name string, rxSize int) (device net.Conn, host *UARTHost) {
	toHost, toDevice := newHalf(rxSize), newHalf(rxSize)
	toHost.drop = true
	dev := &memConn{rx: toDevice, tx: toHost, local: memAddr("uart-device"), remote: memAddr("uart-host")}
	h := &memConn{rx: toHost, tx: toDevice, local: memAddr("uart-host"), remote: memAddr("uart-device")}
	return dev, &UARTHost{pipePort: pipePort{conn: h, name: name, readTimeout: PipeReadTimeout, writeTimeout: PipeWriteTimeout}, rx: toHost}
}

// UARTHost is the host's end of NewUART: a Port.
type UARTHost struct {
	pipePort
	rx *half
}

// Overrun is how many bytes the device wrote while the receive buffer was full (dropped).
func (u *UARTHost) Overrun() uint64 {
	u.rx.mu.Lock()
	defer u.rx.mu.Unlock()
	return u.rx.overrun
}
