// Package trust owns the telemetry-trust run: it builds the reference path for a fault scenario —
// emulated devices behind a faulty UART line (link.Noisy) with their reset and power lines, the
// gateway (the real binary as a child process, or in process for a fleet), an in-process network
// emulator (rig/netem) between gateway and broker, the broker, the bridge and the ingest — plays
// the scenario's fault timeline against it, then accounts for every frame per device and boot
// against the device's own counters read over the UART.
package trust

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/pathrig/rig/firmware/emulator"
	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/gateway"
	"github.com/pathrig/rig/rig/bridge"
	"github.com/pathrig/rig/rig/broker"
	"github.com/pathrig/rig/rig/ingest"
	"github.com/pathrig/rig/rig/lines"
	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/netem"
	"github.com/pathrig/rig/rig/pki"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/rig/stack"
)

// Config of a trust run.
type Config struct {
	Plan       *scenario.Plan
	WorkDir    string       // scratch: stores, spool, key files, gateway logs; the caller removes it
	GatewayBin string       // the gateway binary, for trust.gateway: process
	Log        *slog.Logger // nil discards
	Seed       uint64       // line noise; 0 = from the clock
	// Secret, when set, is told every secret the run creates (passwords, token, private keys) as
	// soon as it exists, so the evidence store redacts them from everything it writes.
	Secret func(string)
}

// Runner implements checks.TrustRunner.
type Runner struct{ cfg Config }

// New returns a runner for cfg; nothing starts before RunTrust.
func New(cfg Config) *Runner { return &Runner{cfg: cfg} }

// path is the running reference path of one trust run.
type path struct {
	cfg  Config
	log  *slog.Logger
	prof scenario.Profile
	ctx  context.Context

	pki       *pki.PKI
	brokerCfg broker.Config
	mu        sync.Mutex // broker, bridge, ingest change on restarts
	broker    *broker.Broker
	bridge    *bridge.Bridge
	ingest    *ingest.Server
	proxy     *netem.Proxy
	token     string
	secrets   []string
	devices   []*device
	clientTLS func(id string) *tls.Config
	passwords map[string]string
	certFiles map[string][2]string // device → cert, key paths (child gateway)
	caFile    string
	net       netCond
	retired   []bridge.Stats // bridges replaced by a broker restart
	lineRec   *lines.Recorder
	// gatewayExits lists gateway processes that ended without being killed or stopped.
	gatewayExits []string
}

// retireBridge closes the current bridge and keeps its counters (caller holds p.mu).
func (p *path) retireBridge() {
	_ = p.bridge.Close()
	p.retired = append(p.retired, p.bridge.Stats())
}

// device is one emulated device with its line and its gateway.
type device struct {
	uid       string
	firstBoot uint32
	emu       *emulator.Device
	noisy     *link.Noisy
	reset     lines.ResetLine
	power     lines.Line
	devCancel context.CancelFunc
	devDone   chan error

	// in-process gateway
	fifo   *link.Fifo
	host   link.Port
	conn   net.Conn
	gw     *gateway.Gateway
	gwStop context.CancelFunc
	gwDone chan error

	// child-process gateway
	pty     *link.PtyPair
	proc    *exec.Cmd
	procEnd chan error
	args    []string
	logFile *os.File
	spool   string
}

// addSecret keeps a secret of the run and hands it to the caller's redaction at once.
func (p *path) addSecret(v string) {
	p.secrets = append(p.secrets, v)
	if p.cfg.Secret != nil {
		p.cfg.Secret(v)
	}
}

func secret() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// startPath brings the path up: stack side first, then devices and gateways.
func startPath(ctx context.Context, cfg Config) (_ *path, err error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &path{cfg: cfg, log: log, prof: cfg.Plan.Profile, ctx: ctx, passwords: map[string]string{}, certFiles: map[string][2]string{}, lineRec: &lines.Recorder{}}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	sc := cfg.Plan.Scenario
	prof := p.prof
	if p.pki, err = pki.New(pki.Options{}); err != nil {
		return nil, err
	}
	p.addSecret(string(p.pki.CA().KeyPEM))
	keyDir := filepath.Join(cfg.WorkDir, "keys")
	p.caFile = filepath.Join(keyDir, "ca.crt")
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.caFile, p.pki.CAPEM(), 0o644); err != nil {
		return nil, err
	}

	uids, err := fleetUIDs(sc.Device.UID, sc.Fleet.Devices)
	if err != nil {
		return nil, err
	}
	certs := map[string]tls.Certificate{}
	needCert := prof.Broker.TLS.Enabled && prof.Broker.TLS.ClientAuth == "require"
	var shared *pki.Issued
	for _, id := range uids {
		pw := secret()
		p.passwords[id] = pw
		p.addSecret(pw)
		if !needCert {
			continue
		}
		opts := pki.ClientOpts{}
		if shared != nil {
			opts.Key = shared.Key // one key pair for the fleet's certificates: the fleet is about load, not identity
		}
		c, err := p.pki.IssueClient(id, opts)
		if err != nil {
			return nil, err
		}
		if shared == nil {
			shared = c
			p.addSecret(string(c.KeyPEM))
		}
		certs[id] = c.Cert
		if sc.Trust.Gateway == "process" {
			if err := c.WriteFiles(keyDir, id); err != nil {
				return nil, err
			}
			p.certFiles[id] = [2]string{filepath.Join(keyDir, id+".crt"), filepath.Join(keyDir, id+".key")}
		}
	}

	// Broker: the profile's listener the gateway uses, its authentication and ACL.
	bc := broker.Config{
		AllowAnonymous:   prof.Broker.Anonymous,
		DeviceACL:        prof.Broker.ACL == "per-device",
		CertIdentity:     prof.Broker.DeviceAuth == "password+cert",
		MaxPacketSize:    prof.Broker.MaxPacketSize,
		MaxPendingWrites: 64, // devices never subscribe; small per-client queues keep a fleet cheap
		Log:              quiet(log),
	}
	if prof.Broker.DeviceAuth != "none" {
		bc.Users = p.passwords
	}
	useTLS := prof.Gateway.Transport == "tls"
	if useTLS {
		bc.TLSAddr = "127.0.0.1:0"
		srv, err := p.pki.IssueServer(pki.ServerOpts{DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
		if err != nil {
			return nil, err
		}
		p.addSecret(string(srv.KeyPEM))
		bc.TLS = &tls.Config{Certificates: []tls.Certificate{srv.Cert}, MinVersion: tls.VersionTLS12}
		if needCert {
			bc.TLS.ClientAuth = tls.RequireAndVerifyClientCert
			bc.TLS.ClientCAs = p.pki.CAPool()
		}
	} else {
		bc.PlainAddr = "127.0.0.1:0"
	}
	p.brokerCfg = bc
	if p.broker, err = broker.Start(ctx, bc); err != nil {
		return nil, err
	}
	target := p.broker.PlainAddr()
	if useTLS {
		target = p.broker.TLSAddr()
	}
	if p.proxy, err = netem.Start(ctx, "127.0.0.1:0", target, quiet(log)); err != nil {
		return nil, err
	}

	ic := ingest.Config{Addr: "127.0.0.1:0", StorePath: filepath.Join(cfg.WorkDir, "ingest.db"), MaxBody: prof.Ingest.MaxBody, Log: quiet(log)}
	if prof.Ingest.Auth == "bearer" {
		p.token = secret()
		p.addSecret(p.token)
		ic.Tokens = []string{p.token}
	}
	if p.ingest, err = ingest.Start(ctx, ic); err != nil {
		return nil, err
	}
	if err := p.startBridge(); err != nil {
		return nil, err
	}

	p.clientTLS = func(id string) *tls.Config {
		if !useTLS {
			return nil
		}
		t := &tls.Config{RootCAs: p.pki.CAPool(), ServerName: "localhost", MinVersion: tls.VersionTLS12}
		if c, ok := certs[id]; ok {
			t.Certificates = []tls.Certificate{c}
		}
		return t
	}
	for i, id := range uids {
		if i > 0 && len(uids) > 50 {
			// A fleet powers up over a ramp (2 s per 1,000 devices), as a site does, instead of
			// 1,000 TLS handshakes in the same millisecond.
			time.Sleep(2 * time.Millisecond)
		}
		d, err := p.startDevice(ctx, i, id)
		if err != nil {
			return nil, err
		}
		p.devices = append(p.devices, d)
	}
	return p, nil
}

// fleetUIDs derives n device UIDs from the scenario's: the first is the scenario's own.
func fleetUIDs(base string, n int) ([]string, error) {
	b, err := hex.DecodeString(base)
	if err != nil || len(b) != 12 {
		return nil, fmt.Errorf("trust: device uid %q is not 24 hex digits", base)
	}
	out := make([]string, n)
	for i := range n {
		u := append([]byte(nil), b...)
		u[10] ^= byte(i >> 8)
		u[11] ^= byte(i)
		out[i] = hex.EncodeToString(u)
	}
	return out, nil
}

func (p *path) startBridge() error {
	b, err := bridge.Start(p.ctx, p.broker.Server(), bridge.Config{IngestURL: p.ingest.URL(), Token: p.token, Log: quiet(p.log), MaxBackoff: 500 * time.Millisecond})
	if err != nil {
		return err
	}
	p.bridge = b
	return nil
}

func (p *path) brokerURL() string {
	if p.prof.Gateway.Transport == "tls" {
		return "ssl://" + p.proxy.Addr()
	}
	return "tcp://" + p.proxy.Addr()
}

func (p *path) startDevice(ctx context.Context, i int, id string) (*device, error) {
	sc := p.cfg.Plan.Scenario
	uid, err := protocol.ParseUID(id)
	if err != nil {
		return nil, err
	}
	var fw protocol.FWVersion
	fmt.Sscanf(sc.Device.Firmware, "%d.%d.%d", &fw.Major, &fw.Minor, &fw.Patch)
	d := &device{uid: id, firstBoot: sc.Device.Boot}
	d.emu = emulator.New(emulator.Config{UID: uid, FW: fw, Boot: sc.Device.Boot, Interval: sc.Device.TelemetryInterval.D(), Log: quiet(p.log)})
	d.reset = lines.ResetLine{Name: "reset:" + id, Pin: d.emu.ResetPin(), Rec: p.lineRec}
	d.power = lines.Line{Name: "power:" + id, Pin: d.emu.PowerPin(), Rec: p.lineRec}
	seed := p.cfg.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	var devSide io.ReadWriter
	if sc.Trust.Gateway == "process" {
		if d.pty, err = link.NewPtyPair(); err != nil {
			return nil, err
		}
		devSide = d.pty.Device()
	} else {
		d.conn, d.host = link.NewPipe(fmt.Sprintf("pipe:%s", id))
		d.fifo = link.NewFifo(d.conn, 4096) // the receive buffer a tty gives the pty path
		devSide = d.fifo
	}
	d.noisy = link.NewNoisy(devSide, seed+uint64(i))
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.devCancel = cancel
	d.devDone = make(chan error, 1)
	go func() { d.devDone <- d.emu.Run(dctx, d.noisy) }()

	if sc.Trust.Gateway == "process" {
		if err := p.startChild(d); err != nil {
			return nil, err
		}
		return d, nil
	}
	if err := p.startInProcess(d); err != nil {
		return nil, err
	}
	return d, nil
}

func (p *path) gatewayConfig(d *device) gateway.Config {
	g := p.prof.Gateway
	c := gateway.Config{
		Link: d.host, BrokerURL: p.brokerURL(), TLS: p.clientTLS(d.uid), QoS: g.QoS, Log: quiet(p.log),
		PublishTimeout: 5 * time.Second,
		Backoff:        gateway.Backoff{Min: g.Backoff.Min.D(), Max: g.Backoff.Max.D(), Jitter: g.Backoff.Jitter},
	}
	if p.prof.Broker.DeviceAuth != "none" {
		c.Username, c.Password = d.uid, p.passwords[d.uid]
	}
	if g.Spool {
		c.SpoolPath = filepath.Join(p.cfg.WorkDir, "spool-"+d.uid+".db")
		c.SpoolMax = g.SpoolMax
	}
	return c
}

func (p *path) startInProcess(d *device) error {
	gw, err := gateway.New(p.gatewayConfig(d))
	if err != nil {
		return err
	}
	d.gw = gw
	ctx, cancel := context.WithCancel(context.WithoutCancel(p.ctx))
	d.gwStop = cancel
	d.gwDone = make(chan error, 1)
	go func() { d.gwDone <- gw.Run(ctx) }()
	return nil
}

// startChild runs the real gateway binary on the pty, configured like the in-process one.
func (p *path) startChild(d *device) error {
	if p.cfg.GatewayBin == "" {
		return errors.New("trust: trust.gateway is process but no gateway binary was given (run `make build`; the rig looks for bin/gateway next to itself)")
	}
	if _, err := os.Stat(p.cfg.GatewayBin); err != nil {
		return fmt.Errorf("trust: gateway binary: %w (run `make build`)", err)
	}
	g := p.prof.Gateway
	args := []string{"--port", d.pty.Path(), "--broker", p.brokerURL(), "--qos", fmt.Sprint(g.QoS),
		"--log-format", "json", "--log-level", "info",
		"--backoff-min", g.Backoff.Min.String(), "--backoff-max", g.Backoff.Max.String(), "--backoff-jitter", fmt.Sprint(g.Backoff.Jitter)}
	if p.prof.Gateway.Transport == "tls" {
		args = append(args, "--ca", p.caFile)
		if f, ok := p.certFiles[d.uid]; ok {
			args = append(args, "--cert", f[0], "--key", f[1])
		}
	}
	if p.prof.Broker.DeviceAuth != "none" {
		pwFile := filepath.Join(p.cfg.WorkDir, "keys", d.uid+".password")
		if err := os.WriteFile(pwFile, []byte(p.passwords[d.uid]+"\n"), 0o600); err != nil {
			return err
		}
		args = append(args, "--username", d.uid, "--password-file", pwFile)
	}
	if g.Spool {
		d.spool = filepath.Join(p.cfg.WorkDir, "spool-"+d.uid+".db")
		args = append(args, "--spool", d.spool)
		if g.SpoolMax > 0 {
			args = append(args, "--spool-max", fmt.Sprint(g.SpoolMax))
		}
	}
	d.args = args
	f, err := os.Create(filepath.Join(p.cfg.WorkDir, "gateway-"+d.uid+".log"))
	if err != nil {
		return err
	}
	d.logFile = f
	return p.spawn(d)
}

func (p *path) spawn(d *device) error {
	cmd := exec.Command(p.cfg.GatewayBin, d.args...)
	cmd.Stdout, cmd.Stderr = d.logFile, d.logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("trust: start gateway %s: %w", p.cfg.GatewayBin, err)
	}
	d.proc = cmd
	d.procEnd = make(chan error, 1)
	go func() { d.procEnd <- cmd.Wait() }()
	p.log.Info("gateway process started", "pid", cmd.Process.Pid, "device", d.uid)
	return nil
}

// kill SIGKILLs the gateway process and waits for it to be gone.
func (p *path) kill(d *device) error {
	if d.proc == nil {
		return errors.New("trust: no gateway process to kill")
	}
	if err := d.proc.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("trust: SIGKILL gateway pid %d: %w", d.proc.Process.Pid, err)
	}
	<-d.procEnd
	d.proc = nil
	return nil
}

// stopChild ends the gateway process gracefully (SIGTERM, then SIGKILL after a grace).
func (p *path) stopChild(d *device) {
	if d.proc == nil {
		return
	}
	select {
	case err := <-d.procEnd: // it ended on its own: a gateway failure, not a fault of the timeline
		p.mu.Lock()
		p.gatewayExits = append(p.gatewayExits, fmt.Sprintf("device %s: gateway pid %d exited by itself: %v (see its log)", d.uid, d.proc.Process.Pid, err))
		p.mu.Unlock()
		p.log.Error("gateway process exited by itself", "device", d.uid, "err", err)
		d.proc = nil
		return
	default:
	}
	_ = d.proc.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.procEnd:
	case <-time.After(5 * time.Second):
		_ = d.proc.Process.Kill()
		<-d.procEnd
	}
	d.proc = nil
}

func (p *path) close() {
	// Gateways first, all at once: each disconnect waits for its MQTT session to close.
	var wg sync.WaitGroup
	for _, d := range p.devices {
		wg.Go(func() {
			if d.gwStop != nil {
				d.gwStop()
				<-d.gwDone
			}
			p.stopChild(d)
		})
	}
	wg.Wait()
	for _, d := range p.devices {
		if d.logFile != nil {
			d.logFile.Close()
		}
		d.devCancel()
		if d.fifo != nil {
			d.fifo.Close()
		}
		if d.conn != nil {
			d.conn.Close()
		}
		if d.host != nil {
			d.host.Close()
		}
		<-d.devDone
		if d.pty != nil {
			d.pty.Close()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proxy != nil {
		p.proxy.Close()
	}
	if p.bridge != nil {
		p.bridge.Close()
	}
	if p.ingest != nil {
		p.ingest.Close()
	}
	if p.broker != nil {
		p.broker.Close()
	}
}

// quiet keeps the components' chatter out of the operator log unless it asked for debug: the
// faults make them warn on purpose, so only errors show.
func quiet(log *slog.Logger) *slog.Logger { return stack.QuietLog(log, slog.LevelError) }
