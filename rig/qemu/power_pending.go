package qemu

// TEMPORARY until the power cycle lands from the firmware branch.

import (
	"context"
	"errors"

	"github.com/pathrig/rig/rig/link"
)

func (m *Machine) PowerOff(ctx context.Context) error { return errors.New("qemu: power cycle pending") }
func (m *Machine) PowerOn(ctx context.Context, baud int) (link.Port, error) {
	return nil, errors.New("qemu: power cycle pending")
}
func (m *Machine) Powered() bool { return true }
