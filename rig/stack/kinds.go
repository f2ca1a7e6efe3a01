package stack

// The device kinds the path assembles: a new kind is one package under rig/dut, registered here.
import (
	_ "github.com/pathrig/rig/rig/dut/emulated"
	_ "github.com/pathrig/rig/rig/dut/qemu"
	_ "github.com/pathrig/rig/rig/dut/serial"
)
