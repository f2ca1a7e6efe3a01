// Package mqttprobe speaks MQTT to a broker under audit: the few bytes of MQTT 3.1.1 the
// transport and anonymous-access probes need, by hand (wire.go), and a paho client for the
// probes that subscribe and publish as a device identity (paho.go).
package mqttprobe

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pathrig/rig/rig/checks/probe"
)

// The transport and anonymous-access probes speak the few bytes of MQTT 3.1.1 they need by hand,
// rather than through paho, so the evidence holds exactly what went over the wire: the CONNACK's
// raw return code, or the TLS alert and the stage at which the broker refused.

// ConnectPacket encodes an MQTT 3.1.1 CONNECT: clean session, no will, no username, no password.
func ConnectPacket(clientID string, keepAlive uint16) []byte {
	id := []byte(clientID)
	vh := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, byte(keepAlive >> 8), byte(keepAlive)}
	body := append(vh, byte(len(id)>>8), byte(len(id)))
	body = append(body, id...)
	return append(append([]byte{0x10}, remainingLength(len(body))...), body...)
}

// DisconnectPacket is an MQTT 3.1.1 DISCONNECT.
var DisconnectPacket = []byte{0xE0, 0x00}

func remainingLength(n int) []byte {
	var out []byte
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			return out
		}
	}
}

// Connack is a decoded CONNACK.
type Connack struct {
	SessionPresent bool
	ReturnCode     byte
}

// ConnackMeaning names the MQTT 3.1.1 return codes (MQTT 3.1.1 §3.2.2.3).
func ConnackMeaning(rc byte) string {
	switch rc {
	case 0:
		return "connection accepted"
	case 1:
		return "unacceptable protocol version"
	case 2:
		return "identifier rejected"
	case 3:
		return "server unavailable"
	case 4:
		return "bad user name or password"
	case 5:
		return "not authorized"
	}
	return fmt.Sprintf("unknown return code 0x%02x", rc)
}

// maxConnackBody bounds what a peer can make the probe read: a 3.1.1 CONNACK has 2 bytes, an MQTT 5
// one a few more for properties.
const maxConnackBody = 4096

var (
	ErrNotConnack = errors.New("peer answered with something other than a CONNACK")
	ErrMalformed  = errors.New("malformed MQTT packet")
)

// ReadConnack reads one control packet from r and decodes it as a CONNACK. raw holds every byte
// read, for the evidence, also when the packet is not a CONNACK.
func ReadConnack(r io.Reader) (ca Connack, raw []byte, err error) {
	var hdr [1]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return ca, nil, err
	}
	raw = append(raw, hdr[0])
	if hdr[0]>>4 != 2 {
		return ca, raw, fmt.Errorf("%w: first byte 0x%02x", ErrNotConnack, hdr[0])
	}
	if hdr[0]&0x0F != 0 {
		return ca, raw, fmt.Errorf("%w: CONNACK flags 0x%x must be 0", ErrMalformed, hdr[0]&0x0F)
	}
	n, mult := 0, 1
	for i := 0; ; i++ {
		if i == 4 {
			return ca, raw, fmt.Errorf("%w: remaining length longer than 4 bytes", ErrMalformed)
		}
		var b [1]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return ca, raw, unexpectedEOF(err)
		}
		raw = append(raw, b[0])
		n += int(b[0]&0x7F) * mult
		mult *= 128
		if b[0]&0x80 == 0 {
			break
		}
	}
	if n < 2 || n > maxConnackBody {
		return ca, raw, fmt.Errorf("%w: CONNACK remaining length %d (want 2)", ErrMalformed, n)
	}
	body := make([]byte, n)
	got, err := io.ReadFull(r, body)
	raw = append(raw, body[:got]...)
	if err != nil {
		return ca, raw, unexpectedEOF(err)
	}
	if body[0]&^0x01 != 0 {
		return ca, raw, fmt.Errorf("%w: CONNACK acknowledge flags 0x%02x", ErrMalformed, body[0])
	}
	return Connack{SessionPresent: body[0]&1 == 1, ReturnCode: body[1]}, raw, nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Exchange is the record of one hand-written CONNECT/CONNACK exchange; it is written to the
// evidence as is, so its fields carry JSON names.
type Exchange struct {
	Endpoint    string    `json:"endpoint"`
	TLS         bool      `json:"tls"`
	ServerName  string    `json:"server_name,omitempty"`
	ClientID    string    `json:"client_id"`
	Started     time.Time `json:"started"`
	DurationMs  float64   `json:"duration_ms"`
	Stage       string    `json:"stage"` // dial, tls-handshake, write-connect, read-connack, done
	Answer      string    `json:"answer"`
	TLSVersion  string    `json:"tls_version,omitempty"`
	Alert       string    `json:"tls_alert,omitempty"`
	ReturnCode  *byte     `json:"connack_return_code,omitempty"`
	Meaning     string    `json:"connack_meaning,omitempty"`
	SentHex     string    `json:"sent_hex,omitempty"`
	ReceivedHex string    `json:"received_hex,omitempty"`
	Error       string    `json:"error,omitempty"`
	// CertRequested: the server sent a CertificateRequest. CertSent: the probe answered it with a
	// certificate (it holds one the request accepts).
	CertRequested bool `json:"client_cert_requested,omitempty"`
	CertSent      bool `json:"client_cert_sent,omitempty"`
}

// RefusedAfterCertRequest reports a session the server ended without a CONNACK after asking for
// a client certificate. Under TLS 1.3 a server judges the client's certificate (or its absence)
// after the handshake, and its alert (certificate_required, bad_certificate) races the CONNECT the
// probe writes: the CONNECT reaching a socket the server has closed makes its host answer with a
// reset, and the alert may be lost with it. Such a close is that refusal, not a peer without MQTT
// nor a network failure. Every probe that meets it decides with this one rule.
func (x Exchange) RefusedAfterCertRequest() bool {
	return x.CertRequested && x.Answer == probe.AnswerClosed
}

// Connect dials addr (over TLS when tlsConf is not nil), sends an anonymous CONNECT and
// reads the answer, all within timeout. On CONNACK 0 it says DISCONNECT before closing.
func Connect(ctx context.Context, addr string, tlsConf *tls.Config, timeout time.Duration) (x Exchange) {
	return ConnectAs(ctx, addr, tlsConf, timeout, "")
}

// ConnectAs is Connect with a client id ("" for a fresh random one): a probe
// presenting an identity's certificate connects under that identity's client id, so that the
// broker's record of presented certificates stays true to the fleet.
func ConnectAs(ctx context.Context, addr string, tlsConf *tls.Config, timeout time.Duration, clientID string) (x Exchange) {
	if clientID == "" {
		clientID = "rig-probe-" + probe.RandomHex(6)
	}
	x = Exchange{Endpoint: addr, TLS: tlsConf != nil, ClientID: clientID, Started: time.Now().UTC(), Stage: "dial"}
	if tlsConf != nil {
		x.ServerName = tlsConf.ServerName
	}
	defer func() { x.DurationMs = probe.MsSince(x.Started) }()
	ctx, cancel := probe.Context(ctx, timeout)
	defer cancel()

	conn, answer, err := probe.Dial(ctx, addr, timeout)
	if err != nil {
		x.Answer, x.Error = answer, err.Error()
		return x
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		x.Answer, x.Error = probe.AnswerLocalError, err.Error()
		return x
	}
	var rw io.ReadWriter = conn
	if tlsConf != nil {
		x.Stage = "tls-handshake"
		// Note whether the server asks for a certificate and whether the probe sends one: under
		// TLS 1.3 the server's refusal comes after the handshake and may race the CONNECT as a
		// bare close (see RefusedAfterCertRequest).
		inner, certs := tlsConf.GetClientCertificate, tlsConf.Certificates
		tlsConf = tlsConf.Clone()
		tlsConf.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			x.CertRequested = true
			c, err := chooseClientCert(cri, inner, certs)
			x.CertSent = err == nil && c != nil && len(c.Certificate) > 0
			return c, err
		}
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			x.Answer, x.Alert, x.Error = probe.ClassifyIOError(ctx, err, probe.AnswerTLSFailed)
			return x
		}
		x.TLSVersion = tls.VersionName(tc.ConnectionState().Version)
		rw = tc
	}
	x.Stage = "write-connect"
	pkt := ConnectPacket(x.ClientID, 10)
	x.SentHex = hex.EncodeToString(pkt)
	if _, err := rw.Write(pkt); err != nil {
		x.Answer, x.Alert, x.Error = probe.ClassifyIOError(ctx, err, probe.AnswerClosed)
		return x
	}
	x.Stage = "read-connack"
	ca, raw, err := ReadConnack(bufio.NewReader(rw))
	x.ReceivedHex = hex.EncodeToString(raw)
	switch {
	case errors.Is(err, ErrNotConnack):
		x.Answer, x.Error = probe.AnswerNotMQTT, err.Error()
		return x
	case errors.Is(err, ErrMalformed):
		x.Answer, x.Error = probe.AnswerMalformed, err.Error()
		return x
	case err != nil:
		x.Answer, x.Alert, x.Error = probe.ClassifyIOError(ctx, err, probe.AnswerClosed)
		return x
	}
	x.Stage, x.Answer = "done", probe.AnswerConnack
	rc := ca.ReturnCode
	x.ReturnCode, x.Meaning = &rc, ConnackMeaning(rc)
	if rc == 0 {
		_, _ = rw.Write(DisconnectPacket) // polite: the broker should not see a dropped client
	}
	return x
}

// chooseClientCert answers a CertificateRequest as crypto/tls would without a callback: inner
// when the config has one, else the first of certs the request accepts, else no certificate.
func chooseClientCert(cri *tls.CertificateRequestInfo, inner func(*tls.CertificateRequestInfo) (*tls.Certificate, error), certs []tls.Certificate) (*tls.Certificate, error) {
	if inner != nil {
		return inner(cri)
	}
	for i := range certs {
		if cri.SupportsCertificate(&certs[i]) == nil {
			return &certs[i], nil
		}
	}
	return &tls.Certificate{}, nil
}
