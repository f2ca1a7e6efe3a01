// Package identity owns the identity family of checks: whether one identity can take over
// another's session through its client id, whether repeated failed logins lock an identity out,
// whether retained messages and Last Wills obey the topic ACL, whether an MQTT 5 client meets the
// same authentication and ACL as an MQTT 3.1.1 one, and whether WebSocket listeners enforce the
// rules of the TLS listener.
//
// The probes speak MQTT themselves, 3.1.1 and 5, through mochi's packets codec, over TCP, TLS or
// WebSocket (rig/mqttws): the evidence holds the exact reason codes and CONNACK properties a
// broker answered, and no client library reconnects, retries or hides a dropped session. Every
// sequence takes plain parameters (endpoints, identities, bounds) and returns what it observed;
// the verdicts are taken from those observations.
package identity

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pathrig/rig/rig/checks/probe/mqttprobe"
	"github.com/pathrig/rig/rig/mqttws"
)

// Endpoint is one broker listener to probe: a TCP address (plaintext or TLS) or a WebSocket URL.
type Endpoint struct {
	Label string      // "plain", "tls", "ws": names it in the evidence
	Addr  string      // host:port; "" for a WebSocket endpoint
	URL   string      // ws:// or wss:// URL; "" for a TCP endpoint
	TLS   *tls.Config // TLS for Addr, or for a wss URL; nil = none (cloned per connection)
}

func (e Endpoint) String() string {
	if e.URL != "" {
		return e.URL
	}
	return e.Addr
}

// Secure reports whether the endpoint runs over TLS.
func (e Endpoint) Secure() bool {
	if e.URL != "" {
		return len(e.URL) > 4 && e.URL[:4] == "wss:"
	}
	return e.TLS != nil
}

// Identity is a device identity the probes connect as.
type Identity struct {
	Name     string           // label in evidence (probe-a)
	ClientID string           // its MQTT client id
	Username string           // may be empty
	Password string           // may be empty; secret, never in evidence
	Cert     *tls.Certificate // client certificate for mTLS; may be nil
	Topic    string           // a topic it may publish to and read (its own)
}

// Will is a Last Will carried by a CONNECT.
type Will struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
}

// ConnectOpts is one CONNECT.
type ConnectOpts struct {
	Version  byte   // 4 (MQTT 3.1.1) or 5
	ClientID string // "" = a fresh random one
	Username string
	Password string // sent when not empty (also a wrong one, on purpose)
	Cert     *tls.Certificate
	Will     *Will
}

// Answers to a CONNECT.
const (
	AnswerAccepted = "accepted"    // CONNACK success
	AnswerRefused  = "refused"     // CONNACK with a failure code
	AnswerClosed   = "closed"      // the connection ended before any CONNACK
	AnswerTLS      = "tls-refused" // the TLS handshake (or the WebSocket upgrade) failed
	AnswerNoTCP    = "unreachable" // nothing to connect to
	AnswerSilent   = "no-answer"   // connected, but nothing came back in time
	AnswerNotMQTT  = "not-mqtt"    // bytes that are not a CONNACK
)

// Connack is what a CONNECT got.
type Connack struct {
	Version byte   `json:"protocol_version"`
	Answer  string `json:"answer"`
	Code    *byte  `json:"reason_code,omitempty"` // CONNACK return code (3.1.1) or reason code (5)
	Detail  string `json:"detail,omitempty"`
	// Properties are an MQTT 5 CONNACK's properties (the broker's advertised limits).
	Properties map[string]any `json:"properties,omitempty"`
}

// Accepted reports a successful CONNACK.
func (c Connack) Accepted() bool { return c.Answer == AnswerAccepted }

// Message is a PUBLISH the probe received.
type Message struct {
	Topic   string `json:"topic"`
	Payload []byte `json:"-"`
	Retain  bool   `json:"retain"`
	QoS     byte   `json:"qos"`
}

// Client is one probe connection. It is used by one goroutine; every read and write is bounded
// by the timeout given to Connect.
type Client struct {
	ClientID string
	version  byte
	conn     net.Conn
	r        *bufio.Reader
	timeout  time.Duration
	nextID   uint16
	received []Message
	closed   bool
}

// maxPacket bounds what a peer can make the probe read in one packet.
const maxPacket = 1 << 20

// RandomID returns a fresh client id or canary suffix.
func RandomID(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Connect dials ep and sends one CONNECT; the Client is returned only when the broker accepted
// it. The Connack says what happened in every case.
func Connect(ctx context.Context, ep Endpoint, o ConnectOpts, timeout time.Duration) (*Client, Connack) {
	if o.Version == 0 {
		o.Version = 4
	}
	if o.ClientID == "" {
		o.ClientID = RandomID("rig-ident-")
	}
	ca := Connack{Version: o.Version}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, answer, err := dial(ctx, ep, o.Cert)
	if err != nil {
		ca.Answer, ca.Detail = answer, err.Error()
		return nil, ca
	}
	c := &Client{ClientID: o.ClientID, version: o.Version, conn: conn, r: bufio.NewReader(conn), timeout: timeout}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: o.Version}
	pk.Connect = packets.ConnectParams{
		ProtocolName: []byte("MQTT"), ClientIdentifier: o.ClientID, Clean: true, Keepalive: 30,
		Username: []byte(o.Username), UsernameFlag: o.Username != "",
		Password: []byte(o.Password), PasswordFlag: o.Password != "",
	}
	if w := o.Will; w != nil {
		pk.Connect.WillFlag, pk.Connect.WillTopic, pk.Connect.WillPayload = true, w.Topic, w.Payload
		pk.Connect.WillQos, pk.Connect.WillRetain = w.QoS, w.Retain
	}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		c.Drop()
		ca.Answer, ca.Detail = AnswerNotMQTT, "encode CONNECT: "+err.Error()
		return nil, ca
	}
	if err := c.write(buf.Bytes()); err != nil {
		c.Drop()
		ca.Answer, ca.Detail = ioAnswer(err), err.Error()
		return nil, ca
	}
	got, err := c.read(time.Now().Add(timeout))
	switch {
	case err != nil:
		c.Drop()
		ca.Answer, ca.Detail = ioAnswer(err), err.Error()
		return nil, ca
	case got.FixedHeader.Type != packets.Connack:
		c.Drop()
		ca.Answer, ca.Detail = AnswerNotMQTT, fmt.Sprintf("packet type %d where a CONNACK was due", got.FixedHeader.Type)
		return nil, ca
	}
	code := got.ReasonCode
	ca.Code = &code
	if o.Version == 5 {
		ca.Properties = connackProperties(got.Properties)
	}
	if code != 0 {
		c.Drop()
		ca.Answer, ca.Detail = AnswerRefused, reasonText(o.Version, code)
		return nil, ca
	}
	ca.Answer = AnswerAccepted
	return c, ca
}

// dial opens the transport of ep: TCP, TLS over TCP, or a WebSocket (ws/wss).
func dial(ctx context.Context, ep Endpoint, cert *tls.Certificate) (net.Conn, string, error) {
	conf := ep.TLS.Clone()
	if conf != nil {
		conf.Certificates = nil
		if cert != nil {
			conf.Certificates = []tls.Certificate{*cert}
		}
	}
	if ep.URL != "" {
		c, resp, err := mqttws.Dial(ctx, ep.URL, conf)
		if err != nil {
			var ne net.Error
			switch {
			case errors.Is(err, syscall.ECONNREFUSED):
				return nil, AnswerNoTCP, err
			case resp != nil:
				return nil, AnswerNotMQTT, fmt.Errorf("%w (HTTP %s: not a WebSocket MQTT endpoint)", err, resp.Status)
			case errors.As(err, &ne) && ne.Timeout():
				return nil, AnswerSilent, err
			}
			return nil, AnswerTLS, err
		}
		return c, "", nil
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", ep.Addr)
	if err != nil {
		return nil, AnswerNoTCP, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if conf == nil {
		return conn, "", nil
	}
	tc := tls.Client(conn, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, AnswerTLS, err
	}
	return tc, "", nil
}

// ioAnswer sorts an error after the transport was up.
func ioAnswer(err error) string {
	var ne net.Error
	var op *net.OpError
	switch {
	case errors.As(err, &op) && op.Op == "remote error": // a TLS alert (TLS 1.3 judges the client certificate late)
		return AnswerTLS
	case errors.As(err, &ne) && ne.Timeout():
		return AnswerSilent
	case Closed(err):
		return AnswerClosed
	}
	return AnswerClosed
}

// Closed reports an error that means the peer ended the connection.
func Closed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

func (c *Client) write(b []byte) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	_, err := c.conn.Write(b)
	return err
}

// read reads one packet, waiting until deadline.
func (c *Client) read(deadline time.Time) (packets.Packet, error) {
	_ = c.conn.SetReadDeadline(deadline)
	var pk packets.Packet
	hb, err := c.r.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(hb); err != nil {
		return pk, fmt.Errorf("malformed fixed header 0x%02x: %w", hb, err)
	}
	n, _, err := packets.DecodeLength(c.r)
	if err != nil {
		return pk, err
	}
	if n > maxPacket {
		return pk, fmt.Errorf("packet of %d bytes is over the probe's %d", n, maxPacket)
	}
	pk.FixedHeader.Remaining = n
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return pk, err
	}
	pk.ProtocolVersion = c.version
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Unsuback:
		err = pk.UnsubackDecode(body)
	case packets.Pingresp:
		err = pk.PingrespDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	case packets.Pubrec, packets.Pubrel, packets.Pubcomp:
		// QoS 2 is never used by the probes; the packet is read and ignored.
	default:
		err = fmt.Errorf("unexpected packet type %d", pk.FixedHeader.Type)
	}
	return pk, err
}

// next reads the next packet, keeping a PUBLISH (acknowledged at QoS 1) for Received. A
// DISCONNECT from the broker is a closed connection.
func (c *Client) next(deadline time.Time) (packets.Packet, error) {
	pk, err := c.read(deadline)
	if err != nil {
		if Closed(err) {
			c.closed = true
		}
		return pk, err
	}
	switch pk.FixedHeader.Type {
	case packets.Publish:
		c.received = append(c.received, Message{Topic: pk.TopicName, Payload: pk.Payload, Retain: pk.FixedHeader.Retain, QoS: pk.FixedHeader.Qos})
		if pk.FixedHeader.Qos == 1 {
			ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID, ProtocolVersion: c.version}
			var buf bytes.Buffer
			_ = ack.PubackEncode(&buf)
			if err := c.write(buf.Bytes()); err != nil {
				return pk, err
			}
		}
	case packets.Disconnect:
		c.closed = true
		return pk, fmt.Errorf("broker sent DISCONNECT (reason 0x%02x): %w", pk.ReasonCode, io.EOF)
	}
	return pk, nil
}

// await reads until a packet of type want arrives within the timeout; other packets are ignored.
func (c *Client) await(want byte) (packets.Packet, error) {
	deadline := time.Now().Add(c.timeout)
	for {
		pk, err := c.next(deadline)
		if err != nil || pk.FixedHeader.Type == want {
			return pk, err
		}
	}
}

func (c *Client) id() uint16 {
	c.nextID++
	if c.nextID == 0 {
		c.nextID = 1
	}
	return c.nextID
}

// Publish sends a PUBLISH; at QoS 1 it waits for the PUBACK and returns its reason code (always
// 0 under 3.1.1).
func (c *Client) Publish(topic string, payload []byte, qos byte, retain bool) (byte, error) {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain}, TopicName: topic, Payload: payload, ProtocolVersion: c.version}
	if qos > 0 {
		pk.PacketID = c.id()
	}
	var buf bytes.Buffer
	if err := pk.PublishEncode(&buf); err != nil {
		return 0, err
	}
	if err := c.write(buf.Bytes()); err != nil {
		return 0, err
	}
	if qos == 0 {
		return 0, nil
	}
	ack, err := c.await(packets.Puback)
	return ack.ReasonCode, err
}

// Subscribe subscribes to filter and returns the SUBACK code.
func (c *Client) Subscribe(filter string, qos byte) (byte, error) {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: c.id(), ProtocolVersion: c.version,
		Filters: packets.Subscriptions{{Filter: filter, Qos: qos}}}
	var buf bytes.Buffer
	if err := pk.SubscribeEncode(&buf); err != nil {
		return 0, err
	}
	if err := c.write(buf.Bytes()); err != nil {
		return 0, err
	}
	ack, err := c.await(packets.Suback)
	if err != nil {
		return 0, err
	}
	if len(ack.ReasonCodes) != 1 {
		return 0, fmt.Errorf("SUBACK with %d codes for one filter", len(ack.ReasonCodes))
	}
	return ack.ReasonCodes[0], nil
}

// Unsubscribe removes the subscription to filter.
func (c *Client) Unsubscribe(filter string) error {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe, Qos: 1}, PacketID: c.id(), ProtocolVersion: c.version,
		Filters: packets.Subscriptions{{Filter: filter}}}
	var buf bytes.Buffer
	if err := pk.UnsubscribeEncode(&buf); err != nil {
		return err
	}
	if err := c.write(buf.Bytes()); err != nil {
		return err
	}
	_, err := c.await(packets.Unsuback)
	return err
}

// Ping sends PINGREQ and waits for PINGRESP: the session is alive, and the broker has handled
// every packet this client sent before (it reads one client's packets in order). It is no barrier
// for what the broker sends this client: mochi writes a PINGRESP past its outbound queue.
func (c *Client) Ping() error {
	if err := c.write([]byte{packets.Pingreq << 4, 0}); err != nil {
		return err
	}
	_, err := c.await(packets.Pingresp)
	return err
}

// Received returns the PUBLISHes received so far.
func (c *Client) Received() []Message { return c.received }

// Has reports whether a message with payload was received.
func (c *Client) Has(payload []byte) (Message, bool) {
	for _, m := range c.received {
		if bytes.Equal(m.Payload, payload) {
			return m, true
		}
	}
	return Message{}, false
}

// Wait reads for up to d (or until ctx ends), keeping PUBLISHes, and stops early when one with
// payload arrives. It reports whether one did.
func (c *Client) Wait(ctx context.Context, d time.Duration, payload []byte) (bool, error) {
	end := time.Now().Add(d)
	if dl, ok := ctx.Deadline(); ok && dl.Before(end) {
		end = dl
	}
	for {
		if _, ok := c.Has(payload); ok {
			return true, nil
		}
		if _, err := c.next(end); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return false, nil
			}
			return false, err
		}
	}
}

// Disconnect says DISCONNECT and closes.
func (c *Client) Disconnect() {
	if c == nil || c.closed {
		return
	}
	_ = c.write([]byte{packets.Disconnect << 4, 0})
	c.Drop()
}

// Drop closes the connection without DISCONNECT: to the broker, the client vanished (its Last
// Will is due).
func (c *Client) Drop() {
	if c == nil {
		return
	}
	c.closed = true
	_ = c.conn.Close()
}

// connackProperties are the limits an MQTT 5 broker advertised, by their spec names.
func connackProperties(p packets.Properties) map[string]any {
	m := map[string]any{}
	if p.MaximumPacketSize > 0 {
		m["maximum_packet_size"] = p.MaximumPacketSize
	}
	if p.ReceiveMaximum > 0 {
		m["receive_maximum"] = p.ReceiveMaximum
	}
	if p.TopicAliasMaximum > 0 {
		m["topic_alias_maximum"] = p.TopicAliasMaximum
	}
	if p.SessionExpiryIntervalFlag {
		m["session_expiry_interval"] = p.SessionExpiryInterval
	}
	if p.ServerKeepAliveFlag {
		m["server_keep_alive"] = p.ServerKeepAlive
	}
	if p.MaximumQosFlag {
		m["maximum_qos"] = p.MaximumQos
	}
	if p.RetainAvailableFlag {
		m["retain_available"] = p.RetainAvailable == 1
	}
	if p.WildcardSubAvailableFlag {
		m["wildcard_subscription_available"] = p.WildcardSubAvailable == 1
	}
	if p.SubIDAvailableFlag {
		m["subscription_identifiers_available"] = p.SubIDAvailable == 1
	}
	if p.SharedSubAvailableFlag {
		m["shared_subscription_available"] = p.SharedSubAvailable == 1
	}
	if p.AssignedClientID != "" {
		m["assigned_client_identifier"] = p.AssignedClientID
	}
	if p.ReasonString != "" {
		m["reason_string"] = p.ReasonString
	}
	return m
}

// reasonText names a CONNACK code of the protocol version.
func reasonText(version, code byte) string {
	if version < 5 {
		if code >= 1 && code <= 5 {
			return mqttprobe.ConnackMeaning(code)
		}
		return fmt.Sprintf("return code 0x%02x", code)
	}
	return fmt.Sprintf("reason code 0x%02x", code)
}
