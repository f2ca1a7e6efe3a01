package selfcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pathrig/rig/rig/bench"
	"github.com/pathrig/rig/rig/bench/pi5"
	"github.com/pathrig/rig/rig/dut/serial"
	"github.com/pathrig/rig/rig/link"
)

const remedyUdev = "sudo udevadm control --reload && sudo udevadm trigger --subsystem-match=tty"

// Host is the Env of the machine the rig runs on: the real UART, GPIO lines on the Pi 5, udev,
// systemd, the clock and the filesystem.
func Host(b *bench.Config) Env {
	return Env{
		Bench:        b,
		OpenPort:     link.OpenSerialConfig,
		OpenLines:    serial.GPIO,
		GPIOFacts:    pi5.ReadFacts,
		Stat:         os.Stat,
		EvalSymlinks: filepath.EvalSymlinks,
		Run:          runCommand,
		Adjtimex:     adjtimex,
		Statfs:       statfs,
	}
}

// runCommand runs name with args; its output is returned even when it exits non-zero (systemctl
// is-enabled says "disabled" with exit 1), and stderr is in the error.
func runCommand(ctx context.Context, name string, args ...string) (string, error) {
	if _, err := exec.LookPath(name); err != nil {
		return "", fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "LC_ALL=C", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0")
	err := cmd.Run()
	if err != nil {
		msg := strings.Join(strings.Fields(strings.ReplaceAll(strings.TrimSpace(stderr.String()), "\n", "; ")), " ")
		err = fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
	}
	return stdout.String(), err
}

func checkUdevRule(ctx context.Context, e *Env, s *State) Result {
	rule := ""
	for _, f := range RuleFiles {
		if _, err := e.Stat(f); err == nil {
			rule = f
			break
		}
	}
	target, err := e.EvalSymlinks(e.Link)
	if err != nil {
		if rule == "" {
			return fail(remedyPackage+" (or copy deploy/99-rig-stm32.rules to /etc/udev/rules.d/); then "+remedyUdev,
				"%s does not exist and no udev rule names it (looked for %s)", e.Link, strings.Join(RuleFiles, ", "))
		}
		return fail("the rule matches no tty: for the header UART enable it (dtparam=uart0=on, so ttyAMA0 exists); for a USB-UART activate rule B with its idVendor and idProduct (udevadm info --attribute-walk --name=/dev/ttyACM0) in a copy under /etc/udev/rules.d; then "+remedyUdev,
			"%s does not exist although %s is installed", e.Link, rule)
	}
	out, err := e.Run(ctx, "udevadm", "info", "--query=property", "--name="+target)
	switch {
	case isNotFound(err):
		return errorResult("install udev (apt install udev)", "%s → %s, but udevadm is not installed: what udev applied cannot be read", e.Link, target)
	case err != nil:
		return errorResult("run the check on the bench's Pi, where udev runs", "%s → %s: %v", e.Link, target, err)
	}
	props := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			props[k] = v
		}
	}
	var missing []string
	if !strings.Contains(props["TAGS"], ":systemd:") {
		missing = append(missing, fmt.Sprintf("not tagged for systemd (TAGS=%q)", props["TAGS"]))
	}
	if !slices.Contains(strings.Fields(props["SYSTEMD_WANTS"]), e.Unit) {
		missing = append(missing, fmt.Sprintf("SYSTEMD_WANTS=%q does not name %s, so plugging the board in does not start the gateway", props["SYSTEMD_WANTS"], e.Unit))
	}
	if len(missing) > 0 {
		return fail("an older or edited rule is in force: the packaged 99-rig-stm32.rules carries TAG+=\"systemd\" and ENV{SYSTEMD_WANTS}+=\""+e.Unit+"\" (a copy of the same name under /etc/udev/rules.d overrides it); then "+remedyUdev,
			"%s → %s: %s", e.Link, target, strings.Join(missing, "; "))
	}
	detail := fmt.Sprintf("%s → %s, tagged for systemd, SYSTEMD_WANTS=%s", e.Link, target, props["SYSTEMD_WANTS"])
	if rule != "" {
		detail += " (" + rule + ")"
	}
	if p := e.Bench.Serial.Port; p != e.Link {
		if real, err := e.EvalSymlinks(p); err != nil || real != target {
			detail += fmt.Sprintf("; the bench file's serial.port %s is another device", p)
		}
	}
	return pass("%s", detail)
}

func checkGatewayUnit(ctx context.Context, e *Env, s *State) Result {
	out, err := e.Run(ctx, "systemctl", "is-enabled", e.Unit)
	if isNotFound(err) {
		return fail(remedyPackage, "not installed: this host has no systemctl, so no %s", e.Unit)
	}
	state := firstLine(out)
	switch state {
	case "enabled", "enabled-runtime":
		detail := fmt.Sprintf("%s is %s: the udev rule starts it when the board appears, and boot does too", e.Unit, state)
		if a, err := e.Run(ctx, "systemctl", "is-active", e.Unit); err == nil && firstLine(a) == "active" {
			detail += "; it is running and holds the port: stop it before rig run (sudo systemctl stop gateway)"
		}
		return pass("%s", detail)
	case "disabled":
		return fail("sudo systemctl enable gateway (configure /etc/rig/gateway.env, ca.pem and mqtt-password first: the unit starts only once they exist)", "%s is disabled: only the board appearing starts it, not boot", e.Unit)
	case "masked", "masked-runtime":
		return fail("sudo systemctl unmask gateway && sudo systemctl enable gateway", "%s is %s: nothing can start it", e.Unit, state)
	case "", "not-found":
		msg := state
		if err != nil {
			msg = err.Error()
		}
		return fail(remedyPackage, "%s is not installed (%s)", e.Unit, msg)
	}
	return fail("sudo systemctl enable gateway", "%s is %s, not enabled", e.Unit, state)
}

const remedyClock = "turn on time synchronisation (sudo timedatectl set-ntp true: systemd-timesyncd) and give the Pi a route to an NTP server: certificate validity, evidence times and the device-clock checks depend on the host's clock"

// Kernel clock state (adjtimex(2)).
const (
	timeError = 5      // TIME_ERROR: the clock is not synchronised
	staUnsync = 0x0040 // STA_UNSYNC
)

func checkClock(ctx context.Context, e *Env, s *State) Result {
	out, err := e.Run(ctx, "timedatectl", "show", "-p", "NTPSynchronized", "--value")
	if err == nil {
		switch v := strings.TrimSpace(out); v {
		case "yes":
			return pass("NTPSynchronized=yes (timedatectl)")
		case "no":
			return fail(remedyClock, "NTPSynchronized=no (timedatectl)")
		}
	}
	// No timedatectl, or no systemd to ask (a container): the kernel's own flag, which NTP
	// daemons clear once they discipline the clock.
	state, status, aerr := e.Adjtimex()
	if aerr != nil {
		return errorResult("install systemd-timesyncd or chrony", "timedatectl: %v; adjtimex: %v", err, aerr)
	}
	if state == timeError || status&staUnsync != 0 {
		return fail(remedyClock, "the kernel clock is not synchronised (adjtimex state %d, status %#x; timedatectl: %v)", state, status, errOrNone(err))
	}
	return pass("the kernel clock is synchronised (adjtimex state %d; timedatectl: %v)", state, errOrNone(err))
}

func errOrNone(err error) string {
	if err == nil {
		return "no answer"
	}
	if isNotFound(err) {
		return "not installed"
	}
	return err.Error()
}

func checkSpoolDisk(ctx context.Context, e *Env, s *State) Result {
	dir, note := e.StateDir, ""
	free, size, err := e.Statfs(dir)
	if errors.Is(err, fs.ErrNotExist) {
		dir, note = filepath.Dir(e.StateDir), " ("+e.StateDir+" not created yet: the gateway has not run)"
		free, size, err = e.Statfs(dir)
	}
	if err != nil {
		return errorResult("check that "+e.StateDir+"'s filesystem is mounted", "statfs %s: %v", dir, err)
	}
	if free < e.MinFree {
		return fail("free space on the filesystem of "+e.StateDir+" (old run folders, journalctl --vacuum-size=100M, apt-get clean): the gateway's spool buffers telemetry there while the broker is away",
			"%s free of %s on %s%s, below the %s the spool needs", bytesText(free), bytesText(size), dir, note, bytesText(e.MinFree))
	}
	return pass("%s free of %s on %s%s", bytesText(free), bytesText(size), dir, note)
}

func bytesText(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}
