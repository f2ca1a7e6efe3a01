// Package stack starts the reference path a scenario describes, in process and on loopback: a
// per-run PKI, the mochi broker, the ingest API with its store, the broker→ingest bridge, the
// emulated STM32 on one side of a pty pair and the gateway on the other side, all configured from
// the hardening profile. It hands the checks only targets and credentials — never the profile.
package stack

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/pathrig/rig/firmware/emulator"
	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/gateway"
	"github.com/pathrig/rig/rig/bridge"
	"github.com/pathrig/rig/rig/broker"
	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/ingest"
	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/pki"
	"github.com/pathrig/rig/rig/qemu"
	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/rig/telemetry"
)

// ServerName is the name devices use to reach the reference broker.
const ServerName = "localhost"

// Probe identities: device ids the guardrail probes connect as (24 hex digits, "probe-a-0001"
// and "probe-b-0001" in ASCII), registered with the broker like real devices.
var probeIDs = []string{"70726f62652d612d30303031", "70726f62652d622d30303031"}

// Config of a stack.
type Config struct {
	Plan    *scenario.Plan
	WorkDir string // scratch folder for the store and key files; removed by the caller
	Log     *slog.Logger
}

// Stack is a running reference path.
type Stack struct {
	log     *slog.Logger
	plan    *scenario.Plan
	pki     *pki.PKI
	broker  *broker.Broker
	ingest  *ingest.Server
	bridge  *bridge.Bridge
	pty     *link.PtyPair
	device  *emulator.Device
	qemu    *qemu.Machine // device kind qemu
	port    link.Port     // the open UART of a qemu device
	gateway *gateway.Gateway

	targets checks.Targets
	secrets []string
	token   string

	cancel    context.CancelFunc // ends broker, ingest and bridge
	cancelDev context.CancelFunc // ends device and gateway
	wg        sync.WaitGroup
	errMu     sync.Mutex
	errs      []error // background failures (device, gateway)
	closed    bool
}

// Start brings the whole path up. On error everything already started is stopped.
func Start(ctx context.Context, cfg Config) (_ *Stack, err error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// The stack outlives the caller's context only until Close; device and gateway get their own
	// context so that Close can stop them before the broker and ingest they talk to.
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	devCtx, cancelDev := context.WithCancel(bg)
	clog := componentLog(log)
	s := &Stack{log: log, plan: cfg.Plan, cancel: cancel, cancelDev: cancelDev}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	prof := cfg.Plan.Profile
	dev := cfg.Plan.Scenario.Device

	if s.pki, err = pki.New(pki.Options{}); err != nil {
		return nil, err
	}
	// Per-device and probe credentials.
	ids := append([]string{dev.UID}, probeIDs...)
	passwords := map[string]string{}
	clientCerts := map[string]*pki.Issued{}
	for _, id := range ids {
		pw := secret()
		passwords[id] = pw
		s.secrets = append(s.secrets, pw)
		c, err := s.pki.IssueClient(id, pki.ClientOpts{})
		if err != nil {
			return nil, err
		}
		clientCerts[id] = c
		s.secrets = append(s.secrets, string(c.KeyPEM))
	}
	s.secrets = append(s.secrets, string(s.pki.CA().KeyPEM))

	// Broker.
	bc := broker.Config{
		AllowAnonymous: prof.Broker.Anonymous,
		DeviceACL:      prof.Broker.ACL == "per-device",
		CertIdentity:   prof.Broker.DeviceAuth == "password+cert",
		MaxPacketSize:  prof.Broker.MaxPacketSize,
		Log:            clog,
	}
	if prof.Broker.DeviceAuth != "none" {
		bc.Users = passwords
	}
	if prof.Broker.Plaintext {
		bc.PlainAddr = "127.0.0.1:0"
	}
	if prof.Broker.TLS.Enabled {
		bc.TLSAddr = "127.0.0.1:0"
		if bc.TLS, err = s.brokerTLS(prof.Broker.TLS); err != nil {
			return nil, err
		}
	}
	// Not bg: Close stops the gateway first (cancel, wait) and the broker after it, so the
	// gateway disconnects cleanly rather than racing a broker that closes on the same cancel.
	if s.broker, err = broker.Start(context.WithoutCancel(ctx), bc); err != nil {
		return nil, err
	}

	// Ingest and the bridge that feeds it.
	ic := ingest.Config{Addr: "127.0.0.1:0", StorePath: filepath.Join(cfg.WorkDir, "ingest.db"), MaxBody: prof.Ingest.MaxBody, Log: clog}
	if prof.Ingest.Auth == "bearer" {
		s.token = secret()
		s.secrets = append(s.secrets, s.token)
		ic.Tokens = []string{s.token}
	}
	if s.ingest, err = ingest.Start(bg, ic); err != nil {
		return nil, err
	}
	if s.bridge, err = bridge.Start(bg, s.broker.Server(), bridge.Config{IngestURL: s.ingest.URL(), Token: s.token, Log: clog}); err != nil {
		return nil, err
	}

	// The device (device.kind, see device.go), the gateway reading it through go.bug.st/serial.
	gc := gateway.Config{Baud: dev.Baud, QoS: prof.Gateway.QoS, Log: clog.With("component", "gateway")}
	if err := s.startDevice(ctx, devCtx, dev, clog, &gc); err != nil {
		return nil, err
	}
	if prof.Broker.DeviceAuth != "none" {
		gc.Username, gc.Password = dev.UID, passwords[dev.UID]
	}
	switch prof.Gateway.Transport {
	case "tls":
		gc.BrokerURL = "ssl://" + s.broker.TLSAddr()
		gc.TLS = &tls.Config{RootCAs: s.pki.CAPool(), ServerName: ServerName, MinVersion: tls.VersionTLS12}
		if prof.Broker.TLS.ClientAuth == "require" {
			gc.TLS.Certificates = []tls.Certificate{clientCerts[dev.UID].Cert}
		}
		if prof.Broker.TLS.Certificate != "ca-issued" || len(prof.Broker.TLS.SAN) > 0 || prof.Broker.TLS.CNOnly {
			// The gateway of a path with a bad broker certificate is typically configured to accept
			// it; the broker-cert check reports the certificate, the gateway keeps the path running.
			gc.TLS.InsecureSkipVerify = true
			gc.TLS.MinVersion = tls.VersionTLS10
		}
	default:
		gc.BrokerURL = "tcp://" + s.broker.PlainAddr()
	}
	if s.gateway, err = gateway.New(gc); err != nil {
		return nil, err
	}
	s.goBackground("gateway", s.gateway.Run, devCtx)

	// Targets: what a consultant would write into a scenario for a client's path. A path without a
	// plaintext listener still names the address one would use, so that the probe can show
	// nothing answers there (a real broker host has 1883 whether or not it is served).
	plain := s.broker.PlainAddr()
	if plain == "" {
		if plain, err = unusedAddr(); err != nil {
			return nil, err
		}
	}
	s.targets = checks.Targets{
		Broker: checks.Broker{Plain: plain, TLS: s.broker.TLSAddr(), ServerName: ServerName, Trust: s.pki.CAPool()},
		Ingest: checks.Ingest{URL: s.ingest.URL() + "/v1/telemetry", Token: s.token, Sample: sample(probeIDs[0])},
	}
	for i, id := range probeIDs {
		c := clientCerts[id].Cert
		s.targets.Probes = append(s.targets.Probes, checks.Identity{
			Name: fmt.Sprintf("probe-%c", 'a'+i), ClientID: id, Username: id, Password: passwords[id],
			Cert: &c, Topic: telemetry.TopicPrefix + "/" + id + "/probe",
		})
	}
	return s, nil
}

func (s *Stack) goBackground(name string, run func(context.Context) error, ctx context.Context) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := run(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("component stopped", "component", name, "error", err)
			s.errMu.Lock()
			s.errs = append(s.errs, fmt.Errorf("%s: %w", name, err))
			s.errMu.Unlock()
		}
	}()
}

func (s *Stack) failure() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return errors.Join(s.errs...)
}

// brokerTLS builds the broker's TLS configuration and certificate from the profile.
func (s *Stack) brokerTLS(t scenario.TLSProfile) (*tls.Config, error) {
	o := pki.ServerOpts{SelfSigned: t.Certificate == "self-signed", CNOnly: t.CNOnly}
	o.ValidFor = t.Validity.D()
	switch t.Key {
	case "rsa-1024":
		o.RSABits = 1024
	case "rsa-2048":
		o.RSABits = 2048
	case "rsa-3072":
		o.RSABits = 3072
	}
	switch {
	case t.CNOnly:
		o.CommonName = ServerName
	case len(t.SAN) > 0:
		for _, n := range t.SAN {
			if ip := net.ParseIP(n); ip != nil {
				o.IPs = append(o.IPs, ip)
			} else {
				o.DNSNames = append(o.DNSNames, n)
			}
		}
	default:
		o.DNSNames = []string{ServerName}
		o.IPs = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	cert, err := s.pki.IssueServer(o)
	if err != nil {
		return nil, err
	}
	s.secrets = append(s.secrets, string(cert.KeyPEM))
	cfg := &tls.Config{Certificates: []tls.Certificate{cert.Cert}}
	cfg.MinVersion = map[string]uint16{"1.0": tls.VersionTLS10, "1.1": tls.VersionTLS11, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}[t.MinVersion]
	if t.ClientAuth == "require" {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = s.pki.CAPool()
	}
	return cfg, nil
}

// WaitReady waits until the gateway knows the device and telemetry has reached the store, then
// lets telemetry flow for warmup more.
func (s *Stack) WaitReady(ctx context.Context, warmup time.Duration) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	checked := false
	for {
		if err := s.failure(); err != nil {
			return err
		}
		if _, _, _, ok := s.gateway.Identity(); ok {
			if !checked {
				if err := s.checkDevice(ctx); err != nil {
					return err
				}
				checked = true
			}
			if st, err := s.storeStats(ctx); err == nil && len(st) > 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no telemetry reached the ingest store (gateway stats: %+v): %w", s.gateway.Stats(), ctx.Err())
		case <-tick.C:
		}
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(warmup):
	}
	return s.failure()
}

// Targets returns what the checks may probe. The fleet is the certificates clients presented
// to the broker (read when the device-certs check runs) and the identity the gateway read from
// the device over UART.
func (s *Stack) Targets() checks.Targets {
	t := s.targets
	t.Fleet = checks.Fleet{Presented: s.presentedCerts, Trust: s.pki.CAPool()}
	if d := s.Device(); d != nil {
		t.Fleet.UID = d.UID
	}
	return t
}

// Inject writes b onto the UART from the device's side of the pty pair, in one write, so that it
// lands between the emulator's frames (which it also writes whole).
func (s *Stack) Inject(ctx context.Context, b []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.pty == nil {
		return checks.ErrNoUART
	}
	_ = s.pty.Device().SetWriteDeadline(time.Now().Add(time.Second))
	_, err := s.pty.Device().Write(b)
	return err
}

// Frames returns the gateway's valid and rejected frame counts.
func (s *Stack) Frames() (ok, bad uint64) {
	st := s.gateway.Stats()
	for _, n := range st.BadFrames {
		bad += n
	}
	return st.FramesOK, bad
}

// Ping sends PING to the device through the gateway and waits for the RESPONSE.
func (s *Stack) Ping(ctx context.Context) error {
	_, err := s.gateway.Command(ctx, protocol.OpPing, nil)
	return err
}

func (s *Stack) presentedCerts() []checks.DeviceCert {
	var out []checks.DeviceCert
	for _, pc := range s.broker.PresentedCerts() {
		out = append(out, checks.DeviceCert{Source: "presented:" + pc.Listener, ClientID: pc.ClientID, Cert: pc.Leaf})
	}
	return out
}

// Secrets returns every secret of the stack (passwords, tokens, private keys) for redaction.
func (s *Stack) Secrets() []string { return s.secrets }

// Device returns the identity the gateway read from the device, nil before it has one.
func (s *Stack) Device() *record.Device {
	uid, fw, boot, ok := s.gateway.Identity()
	if !ok {
		return nil
	}
	return &record.Device{UID: uid, Firmware: fw, Boot: boot}
}

// Endpoints lists the bound addresses (volatile: they change every run).
func (s *Stack) Endpoints() map[string]string {
	return map[string]string{
		"broker_plain": s.broker.PlainAddr(),
		"broker_tls":   s.broker.TLSAddr(),
		"ingest":       s.ingest.URL(),
		"serial":       s.devicePort(),
	}
}

// GatewayStats returns the gateway's counters.
func (s *Stack) GatewayStats() gateway.Stats { return s.gateway.Stats() }

// Account implements checks.Telemetry: it stops the device's telemetry over the UART, reads the
// device's own STATS counters, and waits up to drain for the ingest store to hold every frame.
func (s *Stack) Account(ctx context.Context, drain time.Duration) (checks.Accounting, error) {
	stop := protocol.SetIntervalCommand(0)
	if _, err := s.gateway.Command(ctx, stop.Op, stop.Args); err != nil {
		return checks.Accounting{}, fmt.Errorf("stop device telemetry over the UART: %w", err)
	}
	ds, err := s.gateway.DeviceStats(ctx)
	if err != nil {
		return checks.Accounting{}, fmt.Errorf("read device STATS over the UART: %w", err)
	}
	uid, _, _, _ := s.gateway.Identity()
	want := checks.DeviceAccount{Device: uid, Boot: ds.Boot, Sent: uint64(ds.TelemetrySent)}
	deadline := time.Now().Add(drain)
	for {
		st, err := s.storeStats(ctx)
		if err != nil {
			return checks.Accounting{}, err
		}
		got := want
		for _, row := range st {
			if row.Device == uid && row.Boot == ds.Boot {
				got.Stored, got.Duplicates = row.Stored, row.Duplicates
			}
		}
		if got.Stored >= got.Sent || time.Now().After(deadline) {
			return checks.Accounting{Devices: []checks.DeviceAccount{got}}, nil
		}
		select {
		case <-ctx.Done():
			return checks.Accounting{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// storeStats asks the live ingest API for its per-device counters.
func (s *Stack) storeStats(ctx context.Context) ([]ingest.DeviceStats, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.ingest.URL()+"/v1/stats", nil)
	if err != nil {
		return nil, err
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ingest stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("ingest stats: HTTP %d", resp.StatusCode)
	}
	var out ingest.StatsResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("ingest stats: %w", err)
	}
	return out.Devices, nil
}

// Close stops everything in data-path order: device and gateway first (and what connects them: the
// pty pair, QEMU), then the bridge (after a bounded drain, so nothing accepted by the broker is
// left in its queue), the ingest and the broker.
func (s *Stack) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.cancelDev()
	s.wg.Wait()
	errs := s.closeDevice()
	if s.bridge != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := s.bridge.Drain(ctx); err != nil {
			s.log.Warn("bridge did not drain before shutdown", "error", err)
		}
		cancel()
		errs = append(errs, s.bridge.Close())
	}
	if s.ingest != nil {
		errs = append(errs, s.ingest.Close())
	}
	if s.broker != nil {
		errs = append(errs, s.broker.Close())
	}
	s.cancel()
	return errors.Join(errs...)
}

// unusedAddr returns a loopback address nothing listens on: an ephemeral port bound and released.
func unusedAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("stack: reserve a loopback port: %w", err)
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

func secret() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}

// sample is a valid ingest request body for the probes.
func sample(device string) []byte {
	b, _ := json.Marshal(telemetry.Record{Device: device, Boot: 1, Seq: 0, DeviceTimeMs: 1000, GatewayTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), TempCentiC: 2150, SupplyMv: 3300})
	return b
}

// componentLog returns the logger for a stack component: its chatter (listeners attached, hooks
// added, clients connected) only shows when the operator asked for debug detail; warnings and
// errors always do.
func componentLog(log *slog.Logger) *slog.Logger { return QuietLog(log, slog.LevelWarn) }

// QuietLog returns log as it is when the operator asked for debug detail, else a logger that drops
// records below min: components started in process keep their chatter out of the operator log.
func QuietLog(log *slog.Logger, min slog.Level) *slog.Logger {
	if log.Enabled(context.Background(), slog.LevelDebug) {
		return log
	}
	return slog.New(floor{log.Handler(), min})
}

// floor is a slog.Handler that drops records below min.
type floor struct {
	slog.Handler
	min slog.Level
}

func (f floor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

func (f floor) WithAttrs(a []slog.Attr) slog.Handler { return floor{f.Handler.WithAttrs(a), f.min} }
func (f floor) WithGroup(n string) slog.Handler      { return floor{f.Handler.WithGroup(n), f.min} }
