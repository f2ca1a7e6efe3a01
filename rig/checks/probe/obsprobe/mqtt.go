package obsprobe

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// maxPacket bounds one MQTT packet the probe reads.
const maxPacket = 1 << 20

// Session is one MQTT 3.1.1 connection of an observability probe: a CONNECT with the marker or
// a probe identity's credentials, then at most a subscription, a publish and a bounded read.
// Local is the address the broker saw the probe come from, which ties a log line to it.
type Session struct {
	conn       net.Conn
	timeout    time.Duration
	Local      string
	ReturnCode byte // CONNACK return code: 0 accepted
	msgs       []Message
	nextID     uint16
}

// Message is a PUBLISH the broker delivered.
type Message struct {
	Topic   string `json:"topic"`
	Payload []byte `json:"-"`
}

// Dial connects to addr (over TLS when tlsConf is set) and sends a CONNECT with clientID and, if
// not empty, user and password. A refused CONNECT returns a Session whose ReturnCode says why
// (its connection closed) and no error; an error means nothing answered in MQTT.
func Dial(ctx context.Context, addr string, tlsConf *tls.Config, timeout time.Duration, clientID, user, password string) (*Session, error) {
	d := net.Dialer{Timeout: timeout}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", addr, err)
	}
	s := &Session{conn: raw, timeout: timeout, Local: raw.LocalAddr().String(), nextID: 1}
	if tlsConf != nil {
		tc := tls.Client(raw, tlsConf)
		hctx, cancel := context.WithTimeout(ctx, timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			raw.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		s.conn = tc
	}
	if err := s.write(connect(clientID, user, password)); err != nil {
		s.conn.Close()
		return nil, err
	}
	typ, body, err := s.read()
	if err != nil {
		s.conn.Close()
		return nil, fmt.Errorf("no CONNACK from %s: %w", addr, err)
	}
	if typ != 2 || len(body) < 2 {
		s.conn.Close()
		return nil, fmt.Errorf("%s answered the CONNECT with packet type %d, not a CONNACK", addr, typ)
	}
	s.ReturnCode = body[1]
	if s.ReturnCode != 0 {
		s.conn.Close()
	}
	return s, nil
}

// Close sends DISCONNECT and closes the connection.
func (s *Session) Close() {
	if s == nil || s.conn == nil {
		return
	}
	if s.ReturnCode == 0 {
		_ = s.write([]byte{0xE0, 0})
	}
	s.conn.Close()
}

// Subscribe subscribes to filter at QoS 0 and returns the SUBACK's code (0x80: refused).
func (s *Session) Subscribe(filter string) (byte, error) {
	id := s.nextID
	s.nextID++
	body := binary.BigEndian.AppendUint16(nil, id)
	body = append(appendString(body, filter), 0)
	if err := s.write(packet(0x82, body)); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(s.timeout)
	for time.Now().Before(deadline) {
		typ, b, err := s.read()
		if err != nil {
			return 0, fmt.Errorf("no SUBACK for %s: %w", filter, err)
		}
		switch {
		case typ == 9 && len(b) >= 3 && binary.BigEndian.Uint16(b) == id:
			return b[2], nil
		case typ == 3:
			s.keep(b)
		}
	}
	return 0, fmt.Errorf("no SUBACK for %s within %s", filter, s.timeout)
}

// Publish sends a QoS 0 PUBLISH.
func (s *Session) Publish(topic string, payload []byte) error {
	return s.write(packet(0x30, append(appendString(nil, topic), payload...)))
}

// Collect reads what the broker delivers for d (at most max messages) and returns every message
// received so far, also those that arrived while subscribing.
func (s *Session) Collect(d time.Duration, max int) []Message {
	end := time.Now().Add(d)
	for len(s.msgs) < max && time.Now().Before(end) {
		_ = s.conn.SetReadDeadline(end)
		typ, b, err := s.readNoDeadline()
		if err != nil {
			break
		}
		if typ == 3 {
			s.keep(b)
		}
	}
	return s.msgs
}

func (s *Session) keep(body []byte) {
	if len(body) < 2 {
		return
	}
	n := int(binary.BigEndian.Uint16(body))
	if len(body) < 2+n {
		return
	}
	s.msgs = append(s.msgs, Message{Topic: string(body[2 : 2+n]), Payload: body[2+n:]})
}

func (s *Session) write(p []byte) error {
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
	_, err := s.conn.Write(p)
	return err
}

func (s *Session) read() (byte, []byte, error) {
	_ = s.conn.SetReadDeadline(time.Now().Add(s.timeout))
	return s.readNoDeadline()
}

func (s *Session) readNoDeadline() (byte, []byte, error) {
	var h [1]byte
	if _, err := io.ReadFull(s.conn, h[:]); err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for i := 0; ; i++ {
		if i == 4 {
			return 0, nil, errors.New("malformed remaining length")
		}
		var b [1]byte
		if _, err := io.ReadFull(s.conn, b[:]); err != nil {
			return 0, nil, err
		}
		n += int(b[0]&0x7F) * mult
		mult *= 128
		if b[0]&0x80 == 0 {
			break
		}
	}
	if n > maxPacket {
		return 0, nil, fmt.Errorf("packet of %d bytes over the probe's limit", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(s.conn, body); err != nil {
		return 0, nil, err
	}
	return h[0] >> 4, body, nil
}

// connect encodes an MQTT 3.1.1 CONNECT with clean session and, when set, username and password.
func connect(clientID, user, password string) []byte {
	flags := byte(0x02)
	if user != "" {
		flags |= 0x80
	}
	if password != "" {
		flags |= 0x40
	}
	body := appendString(nil, "MQTT")
	body = append(body, 4, flags, 0, 30)
	body = appendString(body, clientID)
	if user != "" {
		body = appendString(body, user)
	}
	if password != "" {
		body = appendString(body, password)
	}
	return packet(0x10, body)
}

func packet(first byte, body []byte) []byte {
	out := []byte{first}
	n := len(body)
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			break
		}
	}
	return append(out, body...)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}
