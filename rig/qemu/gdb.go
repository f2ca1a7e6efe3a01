package qemu

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// memWrite is data for guest RAM at addr.
type memWrite struct {
	addr uint32
	data []byte
}

// gdbChunk bounds the data of one 'M' packet, well under the packet size QEMU accepts.
const gdbChunk = 512

// gdbWrite writes guest RAM through QEMU's gdbstub (the GDB remote serial protocol's 'M' packet)
// on the unix socket at path, while the CPU has not started. QMP can read RAM (pmemsave) but not
// write it, and -device loader data is written again on every system_reset; a gdbstub write
// happens exactly once. The connection is closed without a detach packet ('D' would resume the
// CPU); QMP cont starts it.
func gdbWrite(ctx context.Context, path string, writes []memWrite) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var d net.Dialer
	var conn net.Conn
	var err error
	for { // QEMU opens the socket while it starts; by the time QMP answers it is there
		if conn, err = d.DialContext(ctx, "unix", path); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gdbstub %s: %w", path, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	r := bufio.NewReader(conn)
	for _, w := range writes {
		for off := 0; off < len(w.data); off += gdbChunk {
			chunk := w.data[off:min(off+gdbChunk, len(w.data))]
			addr := w.addr + uint32(off)
			reply, err := gdbCommand(conn, r, fmt.Sprintf("M%x,%x:%s", addr, len(chunk), hex.EncodeToString(chunk)))
			if err != nil {
				return fmt.Errorf("gdbstub: write %d bytes at 0x%08x: %w", len(chunk), addr, err)
			}
			if reply != "OK" {
				return fmt.Errorf("gdbstub: write %d bytes at 0x%08x: QEMU answered %q", len(chunk), addr, reply)
			}
		}
	}
	return nil
}

// gdbCommand sends one packet ($payload#checksum) and returns the payload of the reply,
// acknowledging it.
func gdbCommand(conn net.Conn, r *bufio.Reader, payload string) (string, error) {
	if _, err := fmt.Fprintf(conn, "$%s#%02x", payload, gdbChecksum(payload)); err != nil {
		return "", err
	}
	for {
		b, err := r.ReadByte()
		if err != nil {
			return "", err
		}
		switch b {
		case '+': // QEMU's acknowledgement of our packet
			continue
		case '-':
			return "", errors.New("QEMU asked for a retransmission (checksum)")
		case '$':
		default:
			return "", fmt.Errorf("unexpected byte %q before a reply", b)
		}
		reply, err := r.ReadString('#')
		if err != nil {
			return "", err
		}
		reply = reply[:len(reply)-1]
		var sum [2]byte
		if _, err := io.ReadFull(r, sum[:]); err != nil {
			return "", err
		}
		if want := fmt.Sprintf("%02x", gdbChecksum(reply)); string(sum[:]) != want {
			return "", fmt.Errorf("reply %q with checksum %s, want %s", reply, sum[:], want)
		}
		_, err = conn.Write([]byte{'+'})
		return reply, err
	}
}

func gdbChecksum(s string) byte {
	var c byte
	for i := 0; i < len(s); i++ {
		c += s[i]
	}
	return c
}
