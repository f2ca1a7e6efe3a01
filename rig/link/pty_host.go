package link

import "fmt"

// HostWrite writes p to the device from the host side through the tty end the pair keeps open,
// while another process (the gateway) has the tty open too: a fire-and-forget command to the
// device. Whatever the device answers goes to whichever reader takes it first.
func (p *PtyPair) HostWrite(b []byte) (int, error) {
	n, err := p.tty.Write(b)
	if err != nil {
		return n, fmt.Errorf("link: write %s from the host side: %w", p.path, err)
	}
	return n, nil
}
