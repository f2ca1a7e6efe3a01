// Package mqttclient is the rig's one hand-written MQTT session, used by the probes that must see
// exactly what a broker answered: MQTT 3.1.1 and 5 through mochi's packets codec, over TCP, TLS
// or WebSocket (rig/mqttws). The evidence can hold the exact reason codes and CONNACK properties
// a broker answered and the local address a broker's log names the probe by, and no client
// library reconnects, retries or hides a dropped session.
//
// A Client is used by one goroutine. Every read and write is bounded by the timeout given to
// Connect or by the caller's duration and context; what a broker can make the client read or
// keep is bounded too (maxPacket, maxKept, maxKeptBytes).
package mqttclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pathrig/rig/rig/checks/probe"
	"github.com/pathrig/rig/rig/checks/probe/mqttprobe"
	"github.com/pathrig/rig/rig/mqttws"
)

// Endpoint is one broker listener to probe: a TCP address (plaintext or TLS) or a WebSocket URL.
type Endpoint struct {
	Label string      // "plain", "tls", "ws": names it in the evidence
	Addr  string      // host:port; "" for a WebSocket endpoint
	URL   string      // ws:// or wss:// URL; "" for a TCP endpoint
	TLS   *tls.Config // TLS for Addr, or for a wss URL; nil = none (cloned per connection, its certificates replaced by ConnectOpts.Cert)
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
	Password string           // sent when not empty (also a wrong one, on purpose)
	Cert     *tls.Certificate // client certificate for mTLS; nil = none
	Will     *Will
}

// Answers to a CONNECT: a CONNACK accepting or refusing, else one of the probe package's answers,
// the words every probe of the rig records for what a connection got (probe.AnswerRefusedTCP,
// AnswerNoTCP, AnswerUnreachable, AnswerTLSAlert, AnswerTLSFailed, AnswerClosed, AnswerSilent,
// AnswerNotMQTT, AnswerInterrupted).
const (
	AnswerAccepted = "accepted" // CONNACK success
	AnswerRefused  = "refused"  // CONNACK with a failure code
)

// Connack is what a CONNECT got.
type Connack struct {
	Version byte   `json:"protocol_version"`
	Answer  string `json:"answer"`
	Code    *byte  `json:"reason_code,omitempty"` // CONNACK return code (3.1.1) or reason code (5)
	Detail  string `json:"detail,omitempty"`
	// Properties are an MQTT 5 CONNACK's properties (the broker's advertised limits).
	Properties map[string]any `json:"properties,omitempty"`
	// Local is the address the connection came from (host:port), known once TCP connected,
	// refused or not: a broker's log names a client by it.
	Local string `json:"local_address,omitempty"`
}

// Accepted reports a successful CONNACK.
func (c Connack) Accepted() bool { return c.Answer == AnswerAccepted }

// Answered reports that the broker answered in MQTT: a CONNACK came, accepting or refusing.
func (c Connack) Answered() bool { return c.Answer == AnswerAccepted || c.Answer == AnswerRefused }

// TurnedAway reports a client the broker would not have: a CONNACK with a failure code, or a
// connection the broker ended, or a TLS alert it sent, before any CONNACK. A TLS handshake this
// side gave up on (an untrusted server, tls-failed) is not: it says nothing of the broker.
func (c Connack) TurnedAway() bool {
	switch c.Answer {
	case AnswerRefused, probe.AnswerClosed, probe.AnswerTLSAlert:
		return true
	}
	return false
}

// Unanswered reports a CONNECT that got nothing one can judge a broker by: nothing to connect to,
// nothing back in time, bytes that are not MQTT, or a run that ended.
func (c Connack) Unanswered() bool { return !c.Answered() && !c.TurnedAway() }

// Err is nil when the broker answered the CONNECT to ep in MQTT (accepted or refused), else an
// error naming ep, what happened and what to check: for a caller to whom anything but a CONNACK
// means the probe could not run.
func (c Connack) Err(ep Endpoint) error {
	if c.Answered() {
		return nil
	}
	var remedy string
	switch c.Answer {
	case probe.AnswerRefusedTCP, probe.AnswerNoTCP, probe.AnswerUnreachable:
		remedy = "nothing accepts connections there: check the address and that the broker runs"
	case probe.AnswerTLSAlert, probe.AnswerTLSFailed:
		remedy = "check the server name, the trusted CA and the client certificate, and that the listener speaks TLS (or WebSocket)"
	case probe.AnswerClosed:
		remedy = "the peer ended the connection before any CONNACK: a broker refusing at the transport, or not an MQTT listener; see its log"
	case probe.AnswerSilent:
		remedy = "nothing came back in time: not an MQTT listener, or a broker too busy; check the address or raise the probe timeout (limits.probe_timeout)"
	case probe.AnswerNotMQTT:
		remedy = "the peer does not speak MQTT there: check the port"
	case probe.AnswerInterrupted:
		remedy = "the run ended before the broker answered"
	default:
		remedy = "no CONNECT was sent"
	}
	if c.Detail != "" {
		return fmt.Errorf("mqtt %s: no CONNACK (%s: %s): %s", ep, c.Answer, c.Detail, remedy)
	}
	return fmt.Errorf("mqtt %s: no CONNACK (%s): %s", ep, c.Answer, remedy)
}

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
	ep       string
	version  byte
	conn     net.Conn
	r        *bufio.Reader
	timeout  time.Duration
	nextID   uint16
	received []Message
	kept     int // payload bytes in received
	unkept   int // PUBLISHes read past maxKept or maxKeptBytes
	closed   bool
}

// Bounds on what a peer can make the client read in one packet and keep in all: a broker that
// floods a subscription cannot make the probe grow without limit.
const (
	maxPacket    = 1 << 20
	maxKept      = 4096
	maxKeptBytes = 32 << 20
)

// RandomID returns a fresh client id or canary suffix.
func RandomID(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Connect dials ep and sends one CONNECT; the Client is returned only when the broker accepted
// it. The Connack says what happened in every case, and from which local address once TCP
// connected. The dial with its handshake, and then the wait for the CONNACK, are each bounded by
// timeout.
func Connect(ctx context.Context, ep Endpoint, o ConnectOpts, timeout time.Duration) (*Client, Connack) {
	if o.Version == 0 {
		o.Version = 4
	}
	if o.ClientID == "" {
		o.ClientID = RandomID("rig-ident-")
	}
	ca := Connack{Version: o.Version}
	ctx, cancel := probe.Context(ctx, timeout) // its own timeout is told apart from the run ending
	defer cancel()
	conn, local, answer, err := dial(ctx, ep, o.Cert)
	ca.Local = local
	if err != nil {
		ca.Answer, ca.Detail = answer, err.Error()
		return nil, ca
	}
	c := &Client{ClientID: o.ClientID, ep: ep.String(), version: o.Version, conn: conn, r: bufio.NewReader(conn), timeout: timeout}
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
		ca.Answer, ca.Detail = probe.AnswerLocalError, "encode CONNECT: "+err.Error()
		return nil, ca
	}
	if err := c.write(buf.Bytes()); err != nil {
		c.Drop()
		ca.Answer, ca.Detail = ioAnswer(ctx, err), err.Error()
		return nil, ca
	}
	got, err := c.read(time.Now().Add(timeout))
	switch {
	case err != nil:
		c.Drop()
		ca.Answer, ca.Detail = ioAnswer(ctx, err), err.Error()
		return nil, ca
	case got.FixedHeader.Type != packets.Connack:
		c.Drop()
		ca.Answer, ca.Detail = probe.AnswerNotMQTT, fmt.Sprintf("packet type %d where a CONNACK was due", got.FixedHeader.Type)
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

// dial opens the transport of ep: TCP, TLS over TCP, or a WebSocket (ws/wss). local is the
// connection's local address, known once TCP connected (also when TLS then failed).
func dial(ctx context.Context, ep Endpoint, cert *tls.Certificate) (conn net.Conn, local, answer string, err error) {
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
			return nil, "", wsAnswer(ctx, ep, err, resp), wsError(err, resp)
		}
		return c, c.LocalAddr().String(), "", nil
	}
	raw, answer, err := probe.Dial(ctx, ep.Addr, 0) // bounded by ctx
	if err != nil {
		return nil, "", answer, err
	}
	local = raw.LocalAddr().String()
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	if conf == nil {
		return raw, local, "", nil
	}
	if conf.ServerName == "" {
		// As tls.Dial does: the name to verify is the host dialled, unless the endpoint says.
		if host, _, err := net.SplitHostPort(ep.Addr); err == nil {
			conf.ServerName = host
		}
	}
	tc := tls.Client(raw, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		// A server that refuses the client certificate alerts (tls-alert) or hangs up (closed);
		// a handshake this side gave up on (an unknown CA, a wrong name) is tls-failed.
		answer, _, _ := probe.ClassifyIOError(ctx, err, probe.AnswerTLSFailed)
		return nil, local, answer, err
	}
	return tc, local, "", nil
}

// wsAnswer sorts a failed WebSocket dial: at the TCP stage as probe.Dial does, a TLS failure (on
// wss only), an HTTP answer that is no upgrade, or a peer that does not speak HTTP at all.
func wsAnswer(ctx context.Context, ep Endpoint, err error, resp *http.Response) string {
	var op *net.OpError
	switch {
	case resp != nil:
		return probe.AnswerNotMQTT
	case errors.Is(err, syscall.ECONNREFUSED):
		return probe.AnswerRefusedTCP
	case errors.As(err, &op) && op.Op == "dial":
		if probe.Interrupted(ctx) {
			return probe.AnswerInterrupted
		}
		if probe.IsTimeout(err) {
			return probe.AnswerNoTCP
		}
		return probe.AnswerUnreachable
	}
	otherwise := probe.AnswerNotMQTT
	if ep.Secure() && tlsError(err) {
		otherwise = probe.AnswerTLSFailed
	}
	answer, _, _ := probe.ClassifyIOError(ctx, err, otherwise)
	return answer
}

func wsError(err error, resp *http.Response) error {
	if resp != nil {
		return fmt.Errorf("%w (HTTP %s: not a WebSocket MQTT endpoint)", err, resp.Status)
	}
	return err
}

// tlsError reports an error of this side's TLS handshake: a certificate it could not verify, a
// record that is not TLS, or an alert it sent.
func tlsError(err error) bool {
	var verify *tls.CertificateVerificationError
	var header tls.RecordHeaderError
	var alert tls.AlertError
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &verify) || errors.As(err, &header) || errors.As(err, &alert) ||
		errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid)
}

// ioAnswer sorts an error after the transport was up: a TLS alert (TLS 1.3 judges the client
// certificate after the handshake), nothing in time, bytes that are not MQTT, the run ending, or
// the peer closing.
func ioAnswer(ctx context.Context, err error) string {
	if errors.As(err, new(malformedError)) {
		return probe.AnswerNotMQTT
	}
	answer, _, _ := probe.ClassifyIOError(ctx, err, probe.AnswerClosed)
	return answer
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
		return pk, malformedError{fmt.Errorf("malformed fixed header 0x%02x: %w", hb, err)}
	}
	n, _, err := packets.DecodeLength(c.r)
	if err != nil {
		if Closed(err) || timedOut(err) {
			return pk, err
		}
		return pk, malformedError{fmt.Errorf("malformed remaining length: %w", err)}
	}
	if n > maxPacket {
		return pk, malformedError{fmt.Errorf("packet of %d bytes is over the probe's %d", n, maxPacket)}
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
	if err != nil {
		return pk, malformedError{err}
	}
	return pk, nil
}

// malformedError is bytes read that do not decode as the MQTT packet they claim to be.
type malformedError struct{ err error }

func (e malformedError) Error() string { return e.err.Error() }
func (e malformedError) Unwrap() error { return e.err }

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
		if len(c.received) < maxKept && c.kept+len(pk.Payload) <= maxKeptBytes {
			c.received = append(c.received, Message{Topic: pk.TopicName, Payload: pk.Payload, Retain: pk.FixedHeader.Retain, QoS: pk.FixedHeader.Qos})
			c.kept += len(pk.Payload)
		} else {
			c.unkept++
		}
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

// fail names the endpoint, the step and a remedy around err (kept for errors.Is and As).
func (c *Client) fail(step string, err error) error {
	var ne net.Error
	remedy := "see the broker's log for why"
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		remedy = fmt.Sprintf("the broker stayed silent for %s: check its load or raise the probe timeout (limits.probe_timeout)", c.timeout)
	case Closed(err):
		remedy = "the broker ended the session: see its log for why (an ACL, a limit or a takeover)"
	}
	return fmt.Errorf("mqtt %s: %s: %w (%s)", c.ep, step, err, remedy)
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
		return 0, fmt.Errorf("mqtt %s: encode PUBLISH to %q: %w (fix the topic or payload)", c.ep, topic, err)
	}
	if err := c.write(buf.Bytes()); err != nil {
		return 0, c.fail("send PUBLISH to "+topic, err)
	}
	if qos == 0 {
		return 0, nil
	}
	ack, err := c.await(packets.Puback)
	if err != nil {
		return 0, c.fail("PUBACK for "+topic, err)
	}
	return ack.ReasonCode, nil
}

// Subscribe subscribes to filter and returns the SUBACK code.
func (c *Client) Subscribe(filter string, qos byte) (byte, error) {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: c.id(), ProtocolVersion: c.version,
		Filters: packets.Subscriptions{{Filter: filter, Qos: qos}}}
	var buf bytes.Buffer
	if err := pk.SubscribeEncode(&buf); err != nil {
		return 0, fmt.Errorf("mqtt %s: encode SUBSCRIBE to %q: %w (fix the filter)", c.ep, filter, err)
	}
	if err := c.write(buf.Bytes()); err != nil {
		return 0, c.fail("send SUBSCRIBE to "+filter, err)
	}
	ack, err := c.await(packets.Suback)
	if err != nil {
		return 0, c.fail("SUBACK for "+filter, err)
	}
	if len(ack.ReasonCodes) != 1 {
		return 0, fmt.Errorf("mqtt %s: SUBACK with %d codes for the one filter %q: the broker breaks MQTT", c.ep, len(ack.ReasonCodes), filter)
	}
	return ack.ReasonCodes[0], nil
}

// Unsubscribe removes the subscription to filter.
func (c *Client) Unsubscribe(filter string) error {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe, Qos: 1}, PacketID: c.id(), ProtocolVersion: c.version,
		Filters: packets.Subscriptions{{Filter: filter}}}
	var buf bytes.Buffer
	if err := pk.UnsubscribeEncode(&buf); err != nil {
		return fmt.Errorf("mqtt %s: encode UNSUBSCRIBE from %q: %w (fix the filter)", c.ep, filter, err)
	}
	if err := c.write(buf.Bytes()); err != nil {
		return c.fail("send UNSUBSCRIBE from "+filter, err)
	}
	if _, err := c.await(packets.Unsuback); err != nil {
		return c.fail("UNSUBACK for "+filter, err)
	}
	return nil
}

// Ping sends PINGREQ and waits for PINGRESP: the session is alive, and the broker has handled
// every packet this client sent before (it reads one client's packets in order). It is no barrier
// for what the broker sends this client: mochi writes a PINGRESP past its outbound queue.
func (c *Client) Ping() error {
	if err := c.write([]byte{packets.Pingreq << 4, 0}); err != nil {
		return c.fail("send PINGREQ", err)
	}
	if _, err := c.await(packets.Pingresp); err != nil {
		return c.fail("PINGRESP", err)
	}
	return nil
}

// Timeout is the bound of each of the client's steps, given to Connect.
func (c *Client) Timeout() time.Duration { return c.timeout }

// Received returns the PUBLISHes received and kept so far (at most maxKept, maxKeptBytes).
func (c *Client) Received() []Message { return c.received }

// Unkept is the number of PUBLISHes read (and acknowledged) but not kept: past the client's
// bounds, or past Collect's max.
func (c *Client) Unkept() int { return c.unkept }

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
	if _, ok := c.Has(payload); ok {
		return true, nil
	}
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetReadDeadline(time.Now()) })
	defer stop()
	end := readEnd(ctx, d)
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		pk, err := c.next(end)
		switch {
		case err != nil && timedOut(err):
			return false, ctx.Err()
		case err != nil:
			return false, c.fail("wait for a message", err)
		case pk.FixedHeader.Type == packets.Publish && bytes.Equal(pk.Payload, payload):
			return true, nil
		}
	}
}

// Collect reads for up to d (or until ctx ends) and returns the PUBLISHes received and kept so
// far, also those that arrived before, at most max of them: it stops early once it holds max.
// The end of d is no error; a connection the broker ended is, returned with what was read.
func (c *Client) Collect(ctx context.Context, d time.Duration, max int) ([]Message, error) {
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetReadDeadline(time.Now()) })
	defer stop()
	end := readEnd(ctx, d)
	for len(c.received) < max {
		if err := ctx.Err(); err != nil {
			return c.upTo(max), err
		}
		if _, err := c.next(end); err != nil {
			if timedOut(err) {
				return c.upTo(max), ctx.Err()
			}
			return c.upTo(max), c.fail("collect messages", err)
		}
	}
	return c.upTo(max), nil
}

func (c *Client) upTo(max int) []Message {
	if len(c.received) > max {
		return c.received[:max]
	}
	return c.received
}

// readEnd is the end of a read of d that ctx's deadline may shorten.
func readEnd(ctx context.Context, d time.Duration) time.Time {
	end := time.Now().Add(d)
	if dl, ok := ctx.Deadline(); ok && dl.Before(end) {
		end = dl
	}
	return end
}

func timedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
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
