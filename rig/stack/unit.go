package stack

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pathrig/rig/gateway"
	"github.com/pathrig/rig/rig/dut"
	"github.com/pathrig/rig/rig/relay"
	"github.com/pathrig/rig/rig/scenario"
)

// Unit is one device of the path with its relay and its gateway.
type Unit struct {
	ID      string
	Dev     *dut.Device
	session string // the gateway identity whose session it publishes through; "" = its own
	drv     dut.Driver
	s       *Stack

	mu sync.Mutex
	// in-process gateway
	gw     *gateway.Gateway
	gwStop context.CancelFunc
	gwDone chan error
	gwErr  error
	// child-process gateway
	proc    *exec.Cmd
	procEnd chan error
	args    []string
	logFile *os.File
	spool   string
}

type unitSpec struct {
	id      string
	spec    dut.Spec
	session string // gateway identity of its group (gateways.go); "" = a session of its own
}

// deviceSpecs derives the devices of the run: the scenario's one, or in a fault run its fleet
// (emulated devices whose UIDs derive from the scenario's).
func (s *Stack) deviceSpecs() ([]unitSpec, error) {
	sc := s.plan.Scenario
	n := 1
	if s.cfg.Faults && sc.Fleet.Devices > 1 {
		n = sc.Fleet.Devices
		if sc.Device.Kind != scenario.DeviceEmulated {
			return nil, fmt.Errorf("stack: a fleet of %d devices is emulated; device kind %s is one board (set fleet.devices: 1)", n, sc.Device.Kind)
		}
	}
	uids, err := fleetUIDs(sc.Device.UID, n)
	if err != nil {
		return nil, err
	}
	out := make([]unitSpec, n)
	for i, id := range uids {
		dev := sc.Device
		dev.UID = id
		out[i] = unitSpec{id: id, spec: dut.Spec{Device: dev, InMemory: n > 1, Period: s.cfg.DevicePeriod, Rec: s.lineRec, Log: QuietLog(s.log, slog.LevelWarn)}}
	}
	return out, nil
}

// fleetUIDs derives n device UIDs from the scenario's: the first is the scenario's own.
func fleetUIDs(base string, n int) ([]string, error) {
	b, err := hex.DecodeString(base)
	if err != nil || len(b) != 12 {
		return nil, fmt.Errorf("stack: device uid %q is not 24 hex digits", base)
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

// memoryBroker reports whether the gateways reach the broker over in-memory connections: a
// fleet of in-process gateways with no network emulator between them and the broker. Each is
// still a TLS session with the device's certificate, through the broker's listener; it only
// holds no descriptor (two per device over loopback TCP).
func (s *Stack) memoryBroker() bool {
	return s.cfg.Faults && s.plan.Scenario.Fleet.Devices > 1 && !s.processGateway() && !s.networkFaults()
}

// processGateway reports whether the gateways run as child processes.
func (s *Stack) processGateway() bool {
	return s.cfg.Faults && s.plan.Scenario.Trust.Gateway == "process"
}

// Fleet start-up: how many devices are brought up at once (each until its gateway holds its
// broker session, so the TLS handshakes in flight are bounded too: an unbounded backlog of them
// starves the devices' own goroutines past their link's write timeout), the ramp between two
// devices' starts, and how long one waits for its gateway's session before the next one goes.
const (
	startConcurrency = 128
	fleetRamp        = time.Millisecond
	sessionWait      = 30 * time.Second
)

// startUnits opens each device through its kind's driver behind a relay, brings it to ready (the
// rig reads where the run's window starts), then starts its gateway. A fleet's devices come up
// in parallel (bounded) over a ramp; the first failure stops the rest, and every unit opened so
// far is kept for Close.
func (s *Stack) startUnits(ctx context.Context, specs []unitSpec) error {
	seed := s.cfg.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	units := make([]*Unit, len(specs))
	defer func() {
		for _, u := range units {
			if u != nil {
				s.units = append(s.units, u) // in device order: units[0] is the scenario's device
			}
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(startConcurrency)
	t0 := time.Now()
	for i, us := range specs {
		if len(specs) > 50 {
			if !sleepUntil(gctx, t0.Add(time.Duration(i)*fleetRamp)) {
				break
			}
		}
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := s.startUnit(gctx, us, seed+uint64(i), &units[i]); err != nil {
				return err
			}
			if len(specs) > 50 {
				units[i].awaitSession(gctx, sessionWait)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// startUnit brings up one device and its gateway; *out is set as soon as there is a unit to close.
func (s *Stack) startUnit(ctx context.Context, us unitSpec, seed uint64, out **Unit) error {
	kind, err := dut.Lookup(us.spec.Device.Kind)
	if err != nil {
		return err
	}
	drv, err := kind.Open(ctx, us.spec)
	if err != nil {
		return fmt.Errorf("stack: open the %s device: %w", us.spec.Device.Kind, err)
	}
	var host relay.HostSide
	if us.spec.InMemory && !s.processGateway() {
		host = relay.NewPipeHost("relay:" + us.id)
	} else if host, err = relay.NewPtyHost(); err != nil {
		drv.Close()
		return err
	}
	r := relay.New(relay.Config{Name: us.id, Host: host, Seed: seed, Log: s.clog})
	u := &Unit{ID: us.id, drv: drv, s: s, Dev: dut.New(us.id, drv, r, us.spec), session: us.session}
	*out = u
	if err := u.Dev.PowerOn(ctx); err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	interval := s.plan.Scenario.Device.TelemetryInterval.D()
	if s.cfg.DevicePeriod > 0 {
		interval = 0 // the device runs its own period, finer than SET_INTERVAL carries: leave it
	}
	if err := u.Dev.MakeReady(ctx, us.id, interval); err != nil {
		return fmt.Errorf("stack: %w (%s)", err, u.describe())
	}
	return u.startGateway()
}

// awaitSession waits until the unit's in-process gateway is connected to the broker, its gateway
// failed, or within passed. It judges nothing: WaitReady does, once every device is up.
func (u *Unit) awaitSession(ctx context.Context, within time.Duration) {
	gw := u.Gateway()
	if gw == nil {
		return
	}
	deadline := time.Now().Add(within)
	for !gw.Stats().Connected && u.failure() == nil && time.Now().Before(deadline) {
		if !sleepUntil(ctx, time.Now().Add(20*time.Millisecond)) {
			return
		}
	}
}

// sleepUntil waits until t or ctx ends; false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// gatewayTLS is the TLS a device's gateway uses toward the broker.
func (s *Stack) gatewayTLS(id string) *tls.Config {
	if s.prof.Gateway.Transport != scenario.TransportTLS {
		return nil
	}
	t := s.prof.Broker.TLS
	c := &tls.Config{RootCAs: s.pki.CAPool(), ServerName: ServerName, MinVersion: tls.VersionTLS12}
	if t.ClientAuth == scenario.ClientAuthRequire {
		c.Certificates = []tls.Certificate{s.clientCerts[id].Cert}
	}
	if s.badBrokerCert() {
		// The gateway of a path with a bad broker certificate is typically configured to accept
		// it; the broker-cert check reports the certificate, the gateway keeps the path running.
		c.InsecureSkipVerify = true
		c.MinVersion = tls.VersionTLS10
	}
	return c
}

func (s *Stack) badBrokerCert() bool {
	t := s.prof.Broker.TLS
	return t.Certificate != scenario.CertCAIssued || len(t.SAN) > 0 || t.CNOnly
}

func (u *Unit) gatewayConfig() gateway.Config {
	s := u.s
	g := s.prof.Gateway
	c := gateway.Config{
		BrokerURL: s.brokerURL(), TLS: s.gatewayTLS(u.ID), QoS: g.QoS, Baud: s.plan.Scenario.Device.Baud,
		Log:     s.clog.With("component", "gateway"),
		Backoff: gateway.Backoff{Min: g.Backoff.Min.D(), Max: g.Backoff.Max.D(), Jitter: g.Backoff.Jitter},
	}
	if s.cfg.Faults {
		c.PublishTimeout = 5 * time.Second
	}
	if s.memoryBroker() {
		tlsOn := g.Transport == scenario.TransportTLS
		c.Dial = func(context.Context) (net.Conn, error) { return s.currentBroker().Dial(tlsOn) }
	}
	host := u.Dev.Relay().Host()
	if p := host.Path(); p != "" {
		c.Port = p
	} else {
		c.Link = host.Port()
	}
	if s.prof.Broker.DeviceAuth != scenario.AuthNone {
		c.Username, c.Password = u.ID, s.passwords[u.ID]
	}
	if u.session != "" {
		c.Session = s.sessions[u.session]
	}
	if g.Spool {
		// One file for the in-process gateways: they share its group committer, so commits
		// per second do not grow with the fleet (a gateway process has its own, below).
		c.SpoolPath = filepath.Join(s.cfg.WorkDir, "spool.db")
		c.SpoolMax = g.SpoolMax
	}
	s.observeGateway(&c)
	if s.cfg.GatewayHook != nil {
		s.cfg.GatewayHook(&c)
	}
	return c
}

// startGateway starts the device's gateway: in process, or the real binary as a child process.
func (u *Unit) startGateway() error {
	if u.s.processGateway() {
		return u.startChild()
	}
	gw, err := gateway.New(u.gatewayConfig())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(u.s.ctx)
	u.mu.Lock()
	u.gw, u.gwStop, u.gwDone = gw, cancel, make(chan error, 1)
	u.mu.Unlock()
	go func() {
		err := gw.Run(ctx)
		if err != nil && ctx.Err() == nil {
			u.s.log.Error("gateway stopped", "device", u.ID, "error", err)
			u.mu.Lock()
			u.gwErr = err
			u.mu.Unlock()
		}
		u.gwDone <- err
	}()
	return nil
}

// Gateway is the device's in-process gateway (nil for a gateway process).
func (u *Unit) Gateway() *gateway.Gateway {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.gw
}

func (u *Unit) failure() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.gwErr != nil {
		return fmt.Errorf("gateway of %s: %w", u.ID, u.gwErr)
	}
	return nil
}

// startChild runs the real gateway binary on the relay's tty, configured like the in-process one.
func (u *Unit) startChild() error {
	s := u.s
	bin := s.cfg.GatewayBin
	if bin == "" {
		return errors.New("stack: trust.gateway is process but no gateway binary was given (run `make build`; the rig looks for bin/gateway next to itself)")
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("stack: gateway binary: %w (run `make build`)", err)
	}
	g := s.prof.Gateway
	args := []string{"--port", u.Dev.Relay().Host().Path(), "--broker", s.brokerURL(), "--qos", fmt.Sprint(g.QoS),
		"--log-format", "json", "--log-level", "info",
		"--backoff-min", g.Backoff.Min.String(), "--backoff-max", g.Backoff.Max.String(), "--backoff-jitter", fmt.Sprint(g.Backoff.Jitter)}
	if g.Transport == scenario.TransportTLS {
		args = append(args, "--ca", s.caFile)
		if s.prof.Broker.TLS.ClientAuth == scenario.ClientAuthRequire {
			if err := s.clientCerts[u.ID].WriteFiles(s.keyDir, u.ID); err != nil {
				return err
			}
			args = append(args, "--cert", filepath.Join(s.keyDir, u.ID+".crt"), "--key", filepath.Join(s.keyDir, u.ID+".key"))
		}
		if s.badBrokerCert() {
			return fmt.Errorf("stack: the gateway process verifies the broker certificate and profile %s gives the broker a bad one: run this scenario with trust.gateway: in-process", s.prof.Name)
		}
	}
	if s.prof.Broker.DeviceAuth != scenario.AuthNone {
		pwFile := filepath.Join(s.keyDir, u.ID+".password")
		if err := os.WriteFile(pwFile, []byte(s.passwords[u.ID]+"\n"), 0o600); err != nil {
			return err
		}
		args = append(args, "--username", u.ID, "--password-file", pwFile)
	}
	if g.Spool {
		u.spool = filepath.Join(s.cfg.WorkDir, "spool-"+u.ID+".db")
		args = append(args, "--spool", u.spool)
		if g.SpoolMax > 0 {
			args = append(args, "--spool-max", fmt.Sprint(g.SpoolMax))
		}
	}
	u.args = args
	f, err := os.Create(filepath.Join(s.cfg.WorkDir, "gateway-"+u.ID+".log"))
	if err != nil {
		return err
	}
	u.logFile = f
	return u.spawn()
}

func (u *Unit) spawn() error {
	cmd := exec.Command(u.s.cfg.GatewayBin, u.args...)
	cmd.Stdout, cmd.Stderr = u.logFile, u.logFile
	dieWithParent(cmd) // a killed rig leaves no gateway running on its work folder
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("stack: start gateway %s: %w", u.s.cfg.GatewayBin, err)
	}
	u.mu.Lock()
	u.proc = cmd
	u.procEnd = make(chan error, 1)
	end := u.procEnd
	u.mu.Unlock()
	go func() { end <- cmd.Wait() }()
	u.s.log.Info("gateway process started", "pid", cmd.Process.Pid, "device", u.ID)
	return nil
}

// KillGateway SIGKILLs the gateway process and waits until it is gone (the gateway-crash fault).
func (u *Unit) KillGateway() error {
	u.mu.Lock()
	proc, end := u.proc, u.procEnd
	u.mu.Unlock()
	if proc == nil {
		return errors.New("stack: no gateway process to kill (gateway-crash needs trust.gateway: process)")
	}
	if err := proc.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("stack: SIGKILL gateway pid %d: %w", proc.Process.Pid, err)
	}
	<-end
	u.mu.Lock()
	u.proc = nil
	u.mu.Unlock()
	return nil
}

// RestartGateway starts the killed gateway process again with the same arguments.
func (u *Unit) RestartGateway() error { return u.spawn() }

// GatewayExited records a gateway process that ended by itself (a gateway failure, not a fault).
func (u *Unit) checkExited() {
	u.mu.Lock()
	proc, end := u.proc, u.procEnd
	u.mu.Unlock()
	if proc == nil {
		return
	}
	select {
	case err := <-end:
		msg := fmt.Sprintf("device %s: gateway pid %d exited by itself: %v (see its log)", u.ID, proc.Process.Pid, err)
		u.s.exitsMu.Lock()
		u.s.gatewayExits = append(u.s.gatewayExits, msg)
		u.s.exitsMu.Unlock()
		u.s.log.Error("gateway process exited by itself", "device", u.ID, "err", err)
		u.mu.Lock()
		u.proc = nil
		u.mu.Unlock()
	default:
	}
}

// GatewayExits lists the gateway processes that ended by themselves so far.
func (s *Stack) GatewayExits() []string {
	for _, u := range s.units {
		u.checkExited()
	}
	s.exitsMu.Lock()
	defer s.exitsMu.Unlock()
	return append([]string(nil), s.gatewayExits...)
}

// stopGateway ends the gateway: in process by its context, a process gracefully (SIGTERM, then
// SIGKILL after a grace).
func (u *Unit) stopGateway() {
	u.mu.Lock()
	stop, done := u.gwStop, u.gwDone
	u.gwStop = nil
	u.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	u.checkExited()
	u.mu.Lock()
	proc, end := u.proc, u.procEnd
	u.proc = nil
	u.mu.Unlock()
	if proc != nil {
		_ = proc.Process.Signal(syscall.SIGTERM)
		select {
		case <-end:
		case <-time.After(5 * time.Second):
			_ = proc.Process.Kill()
			<-end
		}
	}
	if u.logFile != nil {
		u.logFile.Close()
	}
}

// GatewayLogs returns the log of every gateway process, by device (bounded to the last 1 MiB
// each): evidence of what the gateway saw through the faults.
func (s *Stack) GatewayLogs() map[string][]byte {
	out := map[string][]byte{}
	for _, u := range s.units {
		if u.logFile == nil {
			continue
		}
		b, err := os.ReadFile(u.logFile.Name())
		if err != nil {
			continue
		}
		if len(b) > 1<<20 {
			b = b[len(b)-1<<20:]
		}
		out[u.ID] = b
	}
	return out
}

// close leaves the device as the rig found it and releases it.
func (u *Unit) close(ctx context.Context) error { return u.Dev.Close(ctx) }

func (u *Unit) portName() string {
	if f := u.Dev.Steps(); len(f) > 0 {
		return f[0].Detail
	}
	return ""
}

func (u *Unit) gatewayPort() string { return u.Dev.Relay().Host().Path() }

// describe names the device and where it is reached, for errors.
func (u *Unit) describe() string {
	return fmt.Sprintf("device %s (%s) on %s, state %s", u.ID, u.Dev.Kind(), u.portName(), u.Dev.State())
}
