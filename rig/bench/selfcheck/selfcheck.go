// Package selfcheck owns `rig bench check`: the self-check of a wired bench before an audit. It
// is a list of items (Items), each a small function over injected facts and interfaces (Env):
// the serial port, the device's answer over it, the GPIO chip, the NRST, BOOT0 and power lines,
// the udev rule, the gateway unit, the clock and the spool's disk. Each item reports what it saw
// and, when it fails, the remedy. An item that needs one that failed is skipped with the reason,
// so one wiring mistake is one failure; an item that could not look is an error, never a pass.
//
// The real bench's Env is Host (the UART through go.bug.st/serial, the lines through periph's
// gpioioctl on the Pi 5, udevadm, systemctl, timedatectl, adjtimex, statfs); tests build theirs
// from the Go emulator on a pty, fake pins, recorded traces (rig/trace) and canned command output.
package selfcheck

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pathrig/rig/rig/bench"
	"github.com/pathrig/rig/rig/bench/pi5"
	"github.com/pathrig/rig/rig/device"
	"github.com/pathrig/rig/rig/dut"
	"github.com/pathrig/rig/rig/lines"
	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/trace"
)

// Schema names the JSON report.
const Schema = "rig.bench-check/v1"

// Status of one item.
type Status string

// Statuses: fail is a finding with a remedy; error means the item could not look (never a pass);
// skip means it does not apply to this bench, or needs an item that failed.
const (
	Pass  Status = "pass"
	Fail  Status = "fail"
	Error Status = "error"
	Skip  Status = "skip"
)

// Defaults of an Env.
const (
	DefaultPings    = 5
	DefaultUnit     = "gateway.service"
	DefaultStateDir = "/var/lib/rig-gateway" // gateway.service's StateDirectory=, where its spool lives
	DefaultLink     = "/dev/rig-stm32"       // the udev rule's stable name
	// DefaultMinFree: the spool at its default bound (1,048,576 records) takes about 120 MiB, and
	// bbolt grows its file in steps; below this the gateway could not buffer an outage.
	DefaultMinFree = 256 << 20
	// silence is how long a device with its supply cut, or held in the ROM bootloader, must send
	// nothing the rig decodes.
	silence = 500 * time.Millisecond
)

// RuleFiles are where the udev rule is looked for: the package's, then an administrator's copy.
var RuleFiles = []string{"/usr/lib/udev/rules.d/99-rig-stm32.rules", "/lib/udev/rules.d/99-rig-stm32.rules", "/etc/udev/rules.d/99-rig-stm32.rules"}

// ErrNotFound is what Env.Run returns when the command is not installed.
var ErrNotFound = exec.ErrNotFound

// Env is everything the items look at. Host fills it for the real bench; tests fill it with fakes.
type Env struct {
	Bench *bench.Config
	// OpenPort opens the device's UART (link.OpenSerialConfig on the bench).
	OpenPort func(ctx context.Context, cfg link.SerialConfig) (link.Port, error)
	// OpenLines opens the bench's GPIO lines (rig/dut/serial's Pi5 on the bench); rec logs levels.
	OpenLines func(ctx context.Context, g bench.GPIO, rec *lines.Recorder) (*dut.BenchLines, func(), error)
	// GPIOFacts is what the kernel and periph say about the GPIO chips (pi5.ReadFacts).
	GPIOFacts func() (pi5.Facts, error)
	// Stat and EvalSymlinks look at device nodes and files (os.Stat, filepath.EvalSymlinks).
	Stat         func(path string) (fs.FileInfo, error)
	EvalSymlinks func(path string) (string, error)
	// Run runs a command and returns its standard output; ErrNotFound (wrapped) when it is not
	// installed. A non-zero exit is an error that still returns the output.
	Run func(ctx context.Context, name string, args ...string) (string, error)
	// Adjtimex is the kernel clock's state and status word (adjtimex(2)).
	Adjtimex func() (state int, status int32, err error)
	// Statfs is the free bytes (for an unprivileged user) and the size of the filesystem at path.
	Statfs func(path string) (free, size uint64, err error)

	Pings    int           // PINGs of device-answers; 0 = DefaultPings
	Unit     string        // the gateway's unit; "" = DefaultUnit
	StateDir string        // the unit's StateDirectory; "" = DefaultStateDir
	Link     string        // the udev rule's symlink; "" = DefaultLink
	MinFree  uint64        // bytes the spool's filesystem needs free; 0 = DefaultMinFree
	Command  time.Duration // bound on one device command; 0 = device.DefaultCommandTimeout
	Log      *slog.Logger
	// Record, if set, logs every UART byte and line level of the check (rig/trace).
	Record *trace.Recorder
}

// Result is what one item observed.
type Result struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Status Status `json:"status"`
	Detail string `json:"detail"`           // what was seen
	Remedy string `json:"remedy,omitempty"` // what to do, for fail and error
}

// Summary counts the results.
type Summary struct {
	Pass  int  `json:"pass"`
	Fail  int  `json:"fail"`
	Error int  `json:"error"`
	Skip  int  `json:"skip"`
	OK    bool `json:"ok"` // nothing failed and nothing could not be evaluated
}

// Report is a whole check.
type Report struct {
	Schema  string   `json:"schema"`
	Bench   string   `json:"bench"`
	File    string   `json:"file,omitempty"`
	Port    string   `json:"port"`
	Items   []Result `json:"items"`
	Summary Summary  `json:"summary"`
}

// Item is one check's definition: an ID stable across releases, a title, the items it needs
// (skipped when one of them did not pass), and the function.
type Item struct {
	ID    string
	Title string
	Needs []string
	Check func(ctx context.Context, e *Env, s *State) Result
}

// State is what items hand on to later ones: the open port and its client, the device's identity,
// the opened lines.
type State struct {
	port    link.Port
	client  *device.Client
	bytesIn atomic.Uint64
	stop    func()

	UID      string
	Boot     uint32
	lines    *dut.BenchLines
	linesErr error
	closeFns []func()
	opened   bool
	results  map[string]Status
}

func (s *State) close() {
	if s.stop != nil {
		s.stop()
	}
	for i := len(s.closeFns) - 1; i >= 0; i-- {
		s.closeFns[i]()
	}
}

// Items is the check, in order: the UART first (nothing else can be learnt from a silent
// device), then the control lines, then the host.
var Items = []Item{
	{ID: "serial-port", Title: "serial port present and openable", Check: checkSerialPort},
	{ID: "device-answers", Title: "device answers over the UART (TX/RX crossed, common ground)", Needs: []string{"serial-port"}, Check: checkDeviceAnswers},
	{ID: "gpio-chip", Title: "GPIO chip is the Pi 5's (pinctrl-rp1, no bcm283x)", Check: checkGPIOChip},
	{ID: "reset-line", Title: "NRST toggles and the device reboots (boot + 1)", Needs: []string{"device-answers", "gpio-chip"}, Check: checkResetLine},
	{ID: "boot0-line", Title: "BOOT0 line drives the boot mode", Needs: []string{"gpio-chip"}, Check: checkBoot0Line},
	{ID: "power-line", Title: "power line cuts and restores the supply", Needs: []string{"device-answers", "gpio-chip"}, Check: checkPowerLine},
	{ID: "udev-rule", Title: "udev rule applied (stable name, tagged for systemd)", Check: checkUdevRule},
	{ID: "gateway-unit", Title: "gateway unit enabled", Check: checkGatewayUnit},
	{ID: "clock", Title: "clock synchronised", Check: checkClock},
	{ID: "spool-disk", Title: "free disk for the gateway's spool", Check: checkSpoolDisk},
}

// Run checks the bench item by item and returns the report; it stops early only when ctx ends
// (the remaining items are errors then).
func Run(ctx context.Context, e Env) Report {
	e.defaults()
	rep := Report{Schema: Schema, Bench: e.Bench.Name, Port: e.Bench.Serial.Port}
	s := &State{results: map[string]Status{}}
	defer s.close()
	for _, it := range Items {
		r := run(ctx, &e, s, it)
		r.ID, r.Title = it.ID, it.Title
		s.results[it.ID] = r.Status
		e.Log.Debug("bench check", "step", it.ID, "status", r.Status, "detail", r.Detail)
		rep.Items = append(rep.Items, r)
		switch r.Status {
		case Pass:
			rep.Summary.Pass++
		case Fail:
			rep.Summary.Fail++
		case Error:
			rep.Summary.Error++
		case Skip:
			rep.Summary.Skip++
		}
	}
	rep.Summary.OK = rep.Summary.Fail == 0 && rep.Summary.Error == 0
	return rep
}

func run(ctx context.Context, e *Env, s *State, it Item) Result {
	if err := ctx.Err(); err != nil {
		return Result{Status: Error, Detail: "not checked: " + err.Error(), Remedy: "give the check more time (--timeout)"}
	}
	for _, n := range it.Needs {
		if st := s.results[n]; st != Pass {
			if st == Skip && n == "gpio-chip" {
				return Result{Status: Skip, Detail: "the bench file names no GPIO line"}
			}
			return Result{Status: Skip, Detail: fmt.Sprintf("not checked: needs %s, which did not pass", n)}
		}
	}
	return it.Check(ctx, e, s)
}

func (e *Env) defaults() {
	if e.Pings <= 0 {
		e.Pings = DefaultPings
	}
	if e.Unit == "" {
		e.Unit = DefaultUnit
	}
	if e.StateDir == "" {
		e.StateDir = DefaultStateDir
	}
	if e.Link == "" {
		e.Link = DefaultLink
	}
	if e.MinFree == 0 {
		e.MinFree = DefaultMinFree
	}
	if e.Command <= 0 {
		e.Command = device.DefaultCommandTimeout
	}
	if e.Log == nil {
		e.Log = slog.New(slog.DiscardHandler)
	}
}

func pass(format string, args ...any) Result {
	return Result{Status: Pass, Detail: fmt.Sprintf(format, args...)}
}

func fail(remedy, format string, args ...any) Result {
	return Result{Status: Fail, Detail: fmt.Sprintf(format, args...), Remedy: remedy}
}

func errorResult(remedy, format string, args ...any) Result {
	return Result{Status: Error, Detail: fmt.Sprintf(format, args...), Remedy: remedy}
}

func skip(format string, args ...any) Result {
	return Result{Status: Skip, Detail: fmt.Sprintf(format, args...)}
}

// countPort counts the bytes read, so "nothing came back" and "bytes but no frame" differ.
type countPort struct {
	link.Port
	n *atomic.Uint64
}

func (p countPort) Read(b []byte) (int, error) {
	n, err := p.Port.Read(b)
	p.n.Add(uint64(n))
	return n, err
}

// startClient runs a protocol client over the port until the check ends.
func (s *State) startClient(e *Env, port link.Port) {
	s.port = port
	s.client = device.NewClient(countPort{port, &s.bytesIn}, e.Log)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { s.client.Run(ctx) })
	s.stop = func() {
		cancel()
		wg.Wait()
		port.Close()
	}
}

// openLines opens the bench's lines once; later items reuse them or their error.
func (s *State) openLines(ctx context.Context, e *Env) (*dut.BenchLines, error) {
	if s.opened {
		return s.lines, s.linesErr
	}
	s.opened = true
	l, closeFn, err := e.OpenLines(ctx, e.Bench.GPIO, nil)
	if err != nil {
		s.linesErr = err
		return nil, err
	}
	if closeFn != nil {
		s.closeFns = append(s.closeFns, closeFn)
	}
	if e.Record != nil {
		l = recordLines(e.Record, l)
	}
	s.lines = l
	return l, nil
}

// recordLines routes the lines' levels through the recorder under the names a trace uses.
func recordLines(rec *trace.Recorder, l *dut.BenchLines) *dut.BenchLines {
	out := *l
	if l.Reset != nil {
		r := *l.Reset
		r.Pin = rec.Pin("reset", r.Pin)
		out.Reset = &r
	}
	for _, p := range []struct {
		name string
		src  *lines.Line
		dst  **lines.Line
	}{{"boot0", l.Boot0, &out.Boot0}, {"power", l.Power, &out.Power}} {
		if p.src != nil {
			c := *p.src
			c.Pin = rec.Pin(p.name, c.Pin)
			*p.dst = &c
		}
	}
	return &out
}

// ping sends one PING bounded by the Env's command timeout.
func (s *State) ping(ctx context.Context, e *Env) error {
	ctx, cancel := context.WithTimeout(ctx, e.Command)
	defer cancel()
	_, err := s.client.Command(ctx, pingOp, nil)
	return err
}

// settle waits until the device answers a PING (after a line was opened, which may have pulsed
// NRST once), at most d.
func (s *State) settle(ctx context.Context, e *Env, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		err := s.ping(ctx, e)
		if err == nil || !time.Now().Before(deadline) || ctx.Err() != nil {
			return err
		}
	}
}

// quietFor reports whether no frame at all was decoded for d.
func (s *State) quietFor(ctx context.Context, d time.Duration) bool {
	before := s.client.Stats()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return false
	}
	after := s.client.Stats()
	return after.FramesOK == before.FramesOK
}

// waitHello waits up to d for a HELLO on hellos.
func waitHello(ctx context.Context, hellos <-chan device.Hello, d time.Duration) (device.Hello, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case h := <-hellos:
		return h, true
	case <-t.C:
	case <-ctx.Done():
	}
	return device.Hello{}, false
}

func drain(ch <-chan device.Hello) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
