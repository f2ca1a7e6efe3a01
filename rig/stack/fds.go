package stack

import "github.com/pathrig/rig/rig/scenario"

// fdBase is the descriptors a stack needs besides its devices: listeners, the store, the bridge's
// and the checks' connections, log files, with room to spare.
const fdBase = 256

// descriptorsNeeded estimates the file descriptors the run holds at once: per device its
// gateway's broker connection and the broker's end of it (loopback TCP; none in memory), two more through
// the network emulator, its spool file, and for a gateway process its pty pair, log file and the
// child's pipes. The in-memory UART links of a fleet cost none.
func (s *Stack) descriptorsNeeded(devices int) uint64 {
	per := 2
	if s.memoryBroker() {
		per = 0
	}
	if s.cfg.Faults && s.networkFaults() {
		per += 2
	}
	if s.prof.Gateway.Spool {
		per++
	}
	if s.processGateway() {
		per += 6
	} else if devices == 1 {
		per += 2 // a single device's pty pair
	}
	if s.plan.Scenario.Device.Kind != scenario.DeviceEmulated {
		per += 4 // a board's UART and GPIO lines, or QEMU's pty and monitor
	}
	return fdBase + uint64(per*devices)
}
