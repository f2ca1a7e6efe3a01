// Package stack assembles the reference path a scenario describes — the one assembly that both
// the audit and the fault runs use — in process and on loopback: a per-run PKI, the mochi broker
// from the hardening profile, the ingest API with its store, the broker→ingest bridge, the
// devices under test (rig/dut: the emulator, the firmware in QEMU or a board on a UART, each
// behind the rig's UART relay) and a gateway per device (in process, or the real binary as a
// child process that a fault can SIGKILL). For a fault run the gateways reach the broker through
// the network emulator (rig/netem). It hands the checks only targets and credentials — never the
// profile.
package stack

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pathrig/rig/gateway"
	"github.com/pathrig/rig/rig/bridge"
	"github.com/pathrig/rig/rig/broker"
	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/ingest"
	"github.com/pathrig/rig/rig/lines"
	"github.com/pathrig/rig/rig/netem"
	"github.com/pathrig/rig/rig/pki"
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
	WorkDir string // scratch folder for the store, spools, key files and gateway logs; removed by the caller
	Log     *slog.Logger
	// Secret, when set, is told every secret the stack creates (passwords, token, private keys)
	// as soon as it exists, so the evidence store redacts it from everything written after.
	Secret func(string)
	// Faults builds the path a fault timeline needs: the scenario's fleet of devices, the network
	// emulator between the gateways and the broker, and the gateway as trust.gateway says (the
	// real binary as a child process, or in process).
	Faults     bool
	GatewayBin string // the gateway binary, for trust.gateway: process
	Seed       uint64 // UART line noise; 0 = from the clock
	// MinFree is the free space the work folder must keep (0: DefaultMinFree); see OwnFailures.
	MinFree int64
	// GatewayHook, when set, adjusts each in-process gateway's configuration before it starts
	// (tests: a gateway that alters readings).
	GatewayHook func(*gateway.Config)
	// DevicePeriod, when set, runs the emulated devices at this telemetry period, which may be
	// finer than the 1 ms SET_INTERVAL can carry (benchmarks offering the path more than it
	// carries), instead of setting the scenario's device.telemetry_interval over the protocol.
	DevicePeriod time.Duration
}

// started counts the brokers and ingests Start brought up in this process (restarts of a fault
// excluded), so a test can show that a run assembles its path once.
var started struct{ brokers, ingests atomic.Int64 }

// Started returns how many brokers and ingests Start has brought up in this process.
func Started() (brokers, ingests int64) { return started.brokers.Load(), started.ingests.Load() }

// Stack is a running reference path.
type Stack struct {
	cfg  Config
	log  *slog.Logger
	clog *slog.Logger // components' log (quiet unless debug)
	plan *scenario.Plan
	prof scenario.Profile
	ctx  context.Context // lives until Close

	pki         *pki.PKI
	passwords   map[string]string
	clientCerts map[string]*pki.Issued
	keyDir      string
	caFile      string
	token       string
	secretsMu   sync.Mutex
	secrets     []string

	mu          sync.Mutex // broker, bridge and ingest change on a fault's restart
	brokerCfg   broker.Config
	broker      *broker.Broker
	bridge      *bridge.Bridge
	ingest      *ingest.Server
	retired     []bridge.Stats // bridges replaced by a broker restart
	storeErrors uint64         // store write failures of ingests replaced by a restart
	proxy       *netem.Proxy

	units    []*Unit
	groups   map[string][]string        // gateway identity → its devices (gateways.go)
	sessions map[string]*gateway.Shared // a group's MQTT session
	lineRec  *lines.Recorder
	targets  check.Targets

	exitsMu      sync.Mutex
	gatewayExits []string // gateway processes that ended without being killed or stopped

	obs observability // observability.go

	cancel context.CancelFunc
	closed bool
}

// Start brings the whole path up. On error everything already started is stopped.
func Start(ctx context.Context, cfg Config) (_ *Stack, err error) {
	if cfg.DevicePeriod > 0 && cfg.Plan.Scenario.Device.Kind != scenario.DeviceEmulated {
		return nil, fmt.Errorf("stack: a device period of %s is set on emulated devices only, and device kind %s is a board or QEMU (set device.telemetry_interval in whole milliseconds instead)", cfg.DevicePeriod, cfg.Plan.Scenario.Device.Kind)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Stack{cfg: cfg, log: log, plan: cfg.Plan, prof: cfg.Plan.Profile, ctx: bg, cancel: cancel,
		passwords: map[string]string{}, clientCerts: map[string]*pki.Issued{}, lineRec: &lines.Recorder{}}
	s.clog = QuietLog(log, slog.LevelWarn)
	if cfg.Faults {
		s.clog = QuietLog(log, slog.LevelError) // the faults make components warn on purpose
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	specs, err := s.deviceSpecs()
	if err != nil {
		return nil, err
	}
	of, groups, err := s.gatewayGroups(specs)
	if err != nil {
		return nil, err
	}
	for i := range specs {
		specs[i].session = of[i]
	}
	s.groups = groups
	if err := ensureDescriptors(s.descriptorsNeeded(len(specs))); err != nil {
		return nil, err
	}
	if err := s.credentials(specs); err != nil {
		return nil, err
	}
	if err := s.openObservability(); err != nil {
		return nil, err
	}
	if err := s.startBroker(ctx); err != nil {
		return nil, err
	}
	if err := s.startIngest(); err != nil {
		return nil, err
	}
	if cfg.Faults && s.networkFaults() {
		if s.proxy, err = netem.Start(bg, "127.0.0.1:0", s.gatewayTarget(), s.clog); err != nil {
			return nil, err
		}
	}
	if err := s.startSessions(groups); err != nil {
		return nil, err
	}
	if err := s.startUnits(ctx, specs); err != nil {
		return nil, err
	}
	if err := s.startMetrics(); err != nil {
		return nil, err
	}
	if err := s.makeTargets(); err != nil {
		return nil, err
	}
	return s, nil
}

// addSecret keeps a secret of the run and hands it to the caller's redaction at once.
func (s *Stack) addSecret(v string) {
	s.secretsMu.Lock()
	s.secrets = append(s.secrets, v)
	s.secretsMu.Unlock()
	if s.cfg.Secret != nil {
		s.cfg.Secret(v)
	}
}

// Secrets returns every secret of the stack (passwords, tokens, private keys) for redaction.
func (s *Stack) Secrets() []string {
	s.secretsMu.Lock()
	defer s.secretsMu.Unlock()
	return append([]string(nil), s.secrets...)
}

// credentials makes the PKI, a password and a client certificate per device and probe identity,
// and the key files a gateway process reads.
func (s *Stack) credentials(specs []unitSpec) (err error) {
	if s.pki, err = pki.New(pki.Options{}); err != nil {
		return err
	}
	s.addSecret(string(s.pki.CA().KeyPEM))
	s.keyDir = filepath.Join(s.cfg.WorkDir, "keys")
	if err := os.MkdirAll(s.keyDir, 0o700); err != nil {
		return fmt.Errorf("stack: key folder: %w", err)
	}
	s.caFile = filepath.Join(s.keyDir, "ca.crt")
	if err := os.WriteFile(s.caFile, s.pki.CAPEM(), 0o644); err != nil {
		return fmt.Errorf("stack: write %s: %w", s.caFile, err)
	}
	ids := append([]string(nil), probeIDs...)
	for _, u := range specs {
		ids = append(ids, u.id)
	}
	ids = append(ids, slices.Sorted(maps.Keys(s.groups))...)
	// A fleet is about load, not identity: its certificates share one key pair so that a
	// thousand devices do not cost a thousand key generations.
	shareKey := len(specs) > 50
	var shared *pki.Issued
	for _, id := range ids {
		pw := secret()
		s.passwords[id] = pw
		s.addSecret(pw)
		opts := pki.ClientOpts{}
		if shareKey && shared != nil {
			opts.Key = shared.Key
		}
		c, err := s.pki.IssueClient(id, opts)
		if err != nil {
			return err
		}
		if shared == nil || !shareKey {
			s.addSecret(string(c.KeyPEM))
		}
		if shared == nil {
			shared = c
		}
		s.clientCerts[id] = c
	}
	return nil
}

// startBroker starts the broker the profile describes.
func (s *Stack) startBroker(ctx context.Context) error {
	b := s.prof.Broker
	bc := broker.Config{
		AllowAnonymous: b.Anonymous,
		DeviceACL:      b.ACL == scenario.ACLPerDevice,
		CertIdentity:   b.DeviceAuth == scenario.AuthPasswordCert,
		MaxPacketSize:  b.MaxPacketSize,
		Log:            s.clog,
	}
	if s.cfg.Faults && s.plan.Scenario.Fleet.Devices > 50 {
		bc.MaxPendingWrites = 64 // devices never subscribe; small per-client queues keep a fleet cheap
	}
	if b.DeviceAuth != scenario.AuthNone {
		bc.Users = s.passwords
	}
	if b.Plaintext {
		bc.PlainAddr = "127.0.0.1:0"
	}
	s.observeBroker(&bc)
	if b.TLS.Enabled {
		bc.TLSAddr = "127.0.0.1:0"
		var err error
		if bc.TLS, err = s.brokerTLS(b.TLS); err != nil {
			return err
		}
	}
	bc.Gateways = s.groups
	identityConfig(&bc, b)
	s.brokerCfg = bc
	br, err := broker.Start(context.WithoutCancel(ctx), bc)
	if err != nil {
		return err
	}
	started.brokers.Add(1)
	s.broker = br
	return nil
}

// brokerTLS builds the broker's TLS configuration and certificate from the profile.
func (s *Stack) brokerTLS(t scenario.TLSProfile) (*tls.Config, error) {
	o := pki.ServerOpts{SelfSigned: t.Certificate == scenario.CertSelfSigned, CNOnly: t.CNOnly, RSABits: t.Key.RSABits()}
	o.ValidFor = t.Validity.D()
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
	s.addSecret(string(cert.KeyPEM))
	cfg := &tls.Config{Certificates: []tls.Certificate{cert.Cert}, MinVersion: t.MinVersion.TLS()}
	if t.ClientAuth == scenario.ClientAuthRequire {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = s.pki.CAPool()
	}
	return cfg, nil
}

// startIngest starts the ingest and the bridge that feeds it.
func (s *Stack) startIngest() error {
	ic := ingest.Config{Addr: "127.0.0.1:0", StorePath: filepath.Join(s.cfg.WorkDir, "ingest.db"), MaxBody: s.prof.Ingest.MaxBody, Log: s.clog}
	if s.prof.Ingest.Auth == scenario.IngestBearer {
		s.token = secret()
		s.addSecret(s.token)
		ic.Tokens = []string{s.token}
	}
	s.observeIngest(&ic)
	in, err := ingest.Start(s.ctx, ic)
	if err != nil {
		return err
	}
	started.ingests.Add(1)
	s.ingest = in
	return s.startBridge()
}

// startBridge starts a bridge from the current broker to the current ingest (caller holds s.mu
// or runs before anything else does).
func (s *Stack) startBridge() error {
	bc := bridge.Config{IngestURL: s.ingest.URL(), Token: s.token, Log: s.clog}
	if s.cfg.Faults {
		bc.MaxBackoff = 500 * time.Millisecond
	}
	b, err := bridge.Start(s.ctx, s.broker.Server(), bc)
	if err != nil {
		return err
	}
	s.bridge = b
	return nil
}

// gatewayTarget is the broker listener the gateways use.
func (s *Stack) gatewayTarget() string {
	if s.prof.Gateway.Transport == scenario.TransportTLS {
		return s.broker.TLSAddr()
	}
	return s.broker.PlainAddr()
}

// brokerURL is what a gateway connects to: the broker, or the network emulator in front of it.
func (s *Stack) brokerURL() string {
	addr := s.gatewayTarget()
	if s.proxy != nil {
		addr = s.proxy.Addr()
	}
	if s.prof.Gateway.Transport == scenario.TransportTLS {
		return "ssl://" + addr
	}
	return "tcp://" + addr
}

// makeTargets records what the checks may probe: what a consultant would write into a scenario
// for a client's path. A path without a plaintext listener still names the address one would
// use, so that the probe can show nothing answers there.
func (s *Stack) makeTargets() error {
	plain := s.broker.PlainAddr()
	if plain == "" {
		var err error
		if plain, err = unusedAddr(); err != nil {
			return err
		}
	}
	s.targets = check.Targets{
		Broker: check.Broker{Plain: plain, TLS: s.broker.TLSAddr(), ServerName: ServerName, Trust: s.pki.CAPool(), Anchors: []*x509.Certificate{s.pki.CA().Leaf}, WebSocket: webSocketTargets(s.broker)},
		Ingest: check.Ingest{URL: s.ingest.URL() + "/v1/telemetry", Token: s.token, Sample: sample(probeIDs[0])},
	}
	s.targets.Observability = s.obsTargets()
	for i, id := range probeIDs {
		c := s.clientCerts[id].Cert
		s.targets.Probes = append(s.targets.Probes, check.Identity{
			Name: fmt.Sprintf("probe-%c", 'a'+i), ClientID: id, Username: id, Password: s.passwords[id],
			Cert: &c, Topic: telemetry.TopicPrefix + "/" + id + "/probe",
		})
	}
	return nil
}

// Targets returns what the checks may probe. The fleet is the certificates clients presented
// to the broker (read when the device-certs check runs) and the identity the rig read from the
// device over UART.
func (s *Stack) Targets() check.Targets {
	t := s.targets
	t.Fleet = check.Fleet{Presented: s.presentedCerts, Trust: s.pki.CAPool()}
	if d := s.Device(); d != nil {
		t.Fleet.UID = d.UID
	}
	return t
}

func (s *Stack) presentedCerts() []check.DeviceCert {
	var out []check.DeviceCert
	for _, pc := range s.currentBroker().PresentedCerts() {
		out = append(out, check.DeviceCert{Source: "presented:" + pc.Listener, ClientID: pc.ClientID, Cert: pc.Leaf})
	}
	return out
}

func (s *Stack) currentBroker() *broker.Broker {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.broker
}

// Store is the ingest's store (the current one: an ingest-down fault replaces the server).
func (s *Stack) Store() *ingest.Store {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ingest.Store()
}

// Endpoints lists the bound addresses (volatile: they change every run).
func (s *Stack) Endpoints() map[string]string {
	b := s.currentBroker()
	m := map[string]string{"broker_plain": b.PlainAddr(), "broker_tls": b.TLSAddr(), "ingest": s.ingest.URL()}
	if len(s.units) > 0 {
		m["serial"] = s.units[0].portName()
		if p := s.units[0].gatewayPort(); p != "" {
			m["gateway_serial"] = p
		}
	}
	if s.proxy != nil {
		m["network_emulator"] = s.proxy.Addr()
	}
	return m
}

// Device returns the identity the rig read from the first device over its UART.
func (s *Stack) Device() *record.Device {
	if len(s.units) == 0 {
		return nil
	}
	f := s.units[0].Dev.Found()
	if f == nil {
		return nil
	}
	return &record.Device{UID: f.UID, Firmware: f.FW, Boot: f.Boot}
}

// Units are the devices of the path with their gateways.
func (s *Stack) Units() []*Unit { return s.units }

// Lines returns every transition the rig drove on a control line.
func (s *Stack) Lines() []lines.Transition { return s.lineRec.Transitions() }

// WaitReady waits until telemetry of every device has reached the store, then lets it flow for
// warmup more.
func (s *Stack) WaitReady(ctx context.Context, warmup time.Duration) error {
	within := 30*time.Second + time.Duration(len(s.units))*20*time.Millisecond
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	// Each poll decodes the store's counters of every device: a fleet polls less often (10,000
	// devices: every 220 ms, not 20).
	tick := time.NewTicker(20*time.Millisecond + time.Duration(len(s.units))*20*time.Microsecond)
	defer tick.Stop()
	for {
		if err := s.failure(); err != nil {
			return err
		}
		st, err := s.Store().Stats()
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, row := range st {
			seen[row.Device] = true
		}
		if len(seen) >= len(s.units) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("telemetry of %d of %d devices reached the ingest store (%s): %w", len(seen), len(s.units), s.units[0].describe(), ctx.Err())
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

// failure reports a gateway that stopped on its own.
func (s *Stack) failure() error {
	var errs []error
	for _, u := range s.units {
		if err := u.failure(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// StopBroker stops the broker (its clients are disconnected, its port refuses connections) after
// the bridge beside it forwarded what the broker acknowledged. RestartBroker undoes it.
func (s *Stack) StopBroker(ctx context.Context) (detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.broker.Close()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := s.bridge.Drain(dctx)
	cancel()
	_ = s.bridge.Close()
	s.retired = append(s.retired, s.bridge.Stats())
	detail = "broker stopped on " + s.broker.TLSAddr() + s.broker.PlainAddr()
	if err != nil {
		detail += "; bridge drain: " + err.Error()
	}
	return detail
}

// RestartBroker starts the broker again on the same ports, and a bridge beside it.
func (s *Stack) RestartBroker() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	nb, err := s.broker.Restart(s.ctx)
	if err != nil {
		return err
	}
	s.broker = nb
	return s.startBridge()
}

// StopIngest stops the ingest (the bridge retries); RestartIngest brings it back on its port.
func (s *Stack) StopIngest() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.storeErrors += s.ingest.Rejected()[ingest.ReasonStoreError]
	return s.ingest.Close()
}

// RestartIngest restarts the ingest on the same port and store.
func (s *Stack) RestartIngest() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns, err := s.ingest.Restart(s.ctx)
	if err != nil {
		return err
	}
	s.ingest = ns
	return nil
}

// Proxy is the network emulator between the gateways and the broker; nil outside a fault path
// and on a fault path whose timeline has no network fault.
func (s *Stack) Proxy() *netem.Proxy { return s.proxy }

// FaultPath reports whether the stack was assembled for a fault timeline (Config.Faults).
func (s *Stack) FaultPath() bool { return s.cfg.Faults }

// networkFaults reports whether the timeline has a fault the network emulator plays. Without one
// the gateways dial the broker directly: the emulator would be a perfect network that costs two
// descriptors, four goroutines and their buffers per device (a fleet has thousands).
func (s *Stack) networkFaults() bool {
	for _, f := range s.plan.Scenario.Faults {
		switch f.Kind {
		case scenario.FaultNetworkCut, scenario.FaultNetworkLatency, scenario.FaultNetworkLoss, scenario.FaultNetworkBandwidth:
			return true
		}
	}
	return false
}

// Close stops everything in data-path order: gateways (all at once) and devices first, then the
// network emulator, the bridge (after a bounded drain, so nothing the broker accepted is left in
// its queue), the ingest and the broker.
func (s *Stack) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	// The relays stop forwarding first, so each gateway publishes what it has read before it is
	// stopped, rather than being stopped with a frame half in its queue.
	for _, u := range s.units {
		u.Dev.Relay().Pause()
	}
	if len(s.units) > 0 {
		time.Sleep(150 * time.Millisecond)
	}
	var wg sync.WaitGroup
	for _, u := range s.units {
		wg.Go(func() { u.stopGateway() })
	}
	wg.Wait()
	s.closeSessions() // after every gateway of a group returned: their last tokens used it
	// Devices: each leaves its device as it found it (in parallel, bounded: a fleet has many, and
	// each mostly waits for its device's answer).
	var emu sync.Mutex
	sem := make(chan struct{}, closeConcurrency)
	for _, u := range s.units {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := u.close(ctx); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
			}
		})
	}
	wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proxy != nil {
		s.proxy.Close()
	}
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
	s.closeObservability()
	s.cancel()
	return errors.Join(errs...)
}

// closeConcurrency bounds the devices closed at once.
const closeConcurrency = 256

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
