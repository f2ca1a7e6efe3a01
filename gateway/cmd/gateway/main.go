// Command gateway is the gateway service under test: it reads protocol v1 frames from the device
// on a serial port and publishes its telemetry to an MQTT broker. See package gateway.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pathrig/rig/gateway"
	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/telemetry"
)

// Exit codes.
const (
	exitOK      = 0 // stopped by a signal
	exitFailure = 1 // the serial port failed
	exitUsage   = 2 // bad flags or configuration
)

const usage = `gateway: bridge one device's UART to an MQTT broker.

Reads protocol v1 frames (firmware/PROTOCOL.md) from --port, learns the device identity (HELLO, or
an IDENTIFY command), and publishes each TELEMETRY frame as JSON to
<topic-prefix>/<device-uid>/telemetry. Bad frames are counted by reason and skipped. Stops on
SIGINT/SIGTERM.

Usage:
  gateway --port /dev/ttyAMA0 --broker tcp://127.0.0.1:1883
  gateway --port /dev/rig-stm32 --reconnect --broker tcp://127.0.0.1:1883
  gateway --port /dev/ttyAMA0 --broker ssl://broker.example:8883 --ca ca.pem \
          --cert device.pem --key device.key --username dev1 --password-file /run/secrets/mqtt

Flags (one or two dashes):
`

type options struct {
	port, broker, ca, cert, key, username, passwordFile, clientID, topicPrefix, logFormat, logLevel string
	baud, qos                                                                                       int
	reconnect                                                                                       bool
	spool                                                                                           string
	spoolMax, spoolCommitFrames                                                                     int
	spoolCommitInterval                                                                             time.Duration
	backoffMin, backoffMax                                                                          time.Duration
	backoffJitter                                                                                   float64
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.port, "port", "/dev/ttyAMA0", "serial device of the device's UART (a pty path in CI)")
	fs.IntVar(&o.baud, "baud", gateway.DefaultBaud, "UART baud rate")
	fs.BoolVar(&o.reconnect, "reconnect", false, "survive the device being unplugged: reopen --port (best a stable udev name such as /dev/rig-stm32) until it is back, keeping the counters; without it the gateway exits 1 when the port fails")
	fs.StringVar(&o.broker, "broker", "", "broker URL: tcp://host:port (plaintext) or ssl://host:port (TLS) (required)")
	fs.StringVar(&o.ca, "ca", "", "PEM file of the CA(s) that sign the broker certificate (ssl:// only; default: system roots)")
	fs.StringVar(&o.cert, "cert", "", "PEM client certificate for mTLS (with --key)")
	fs.StringVar(&o.key, "key", "", "PEM private key of --cert")
	fs.StringVar(&o.username, "username", "", "MQTT username (optional)")
	fs.StringVar(&o.passwordFile, "password-file", "", "file holding the MQTT password (never pass a password on the command line)")
	fs.StringVar(&o.clientID, "client-id", "", "MQTT client id (default: the device UID)")
	fs.IntVar(&o.qos, "qos", 1, "MQTT QoS of telemetry publishes: 0, 1 or 2")
	fs.StringVar(&o.topicPrefix, "topic-prefix", telemetry.TopicPrefix, "topic root; telemetry goes to <prefix>/<uid>/telemetry")
	fs.StringVar(&o.spool, "spool", "", "crash-safe store-and-forward buffer file (bbolt); records stay on disk until the broker acknowledges them and survive a crash, and on start the device is asked to REPLAY what came after the last record committed (default: none, memory only)")
	fs.IntVar(&o.spoolMax, "spool-max", gateway.DefaultSpoolMax, "records the spool holds before evicting the oldest")
	fs.IntVar(&o.spoolCommitFrames, "spool-commit-frames", gateway.DefaultSpoolCommitFrames, "group commit: the spool commits (one fsync) once this many records wait, or after --spool-commit-interval, whichever comes first; records are published only once committed")
	fs.DurationVar(&o.spoolCommitInterval, "spool-commit-interval", gateway.DefaultSpoolCommitInterval, "group commit: the longest a record read off the UART waits for its commit (at most 1s; keep it well under the time the tty buffer lasts at the line rate)")
	fs.DurationVar(&o.backoffMin, "backoff-min", gateway.DefaultBackoffMin, "first broker reconnect delay")
	fs.DurationVar(&o.backoffMax, "backoff-max", gateway.DefaultBackoffMax, "longest broker reconnect delay")
	fs.Float64Var(&o.backoffJitter, "backoff-jitter", 0, "random fraction (0..1) taken off each reconnect delay, so gateways do not reconnect in lockstep")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format on stderr: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gateway: unexpected argument %q; all settings are flags (see --help)\n", fs.Arg(0))
		return exitUsage
	}
	log, err := newLogger(stderr, o.logFormat, o.logLevel)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	cfg, err := config(o, log)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	g, err := gateway.New(cfg) // validates the configuration; nothing is opened yet
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var sup *link.Supervised
	if o.reconnect {
		sup, err = link.Supervise(ctx, link.SerialConfig{Path: o.port, Baud: o.baud}, link.SuperviseOptions{Log: log})
		if err != nil {
			log.Error("gateway failed", "err", err)
			return exitFailure
		}
		defer sup.Close()
		cfg.Link = sup
		if g, err = gateway.New(cfg); err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
	}

	err = g.Run(ctx)
	if sup != nil {
		log.Info("gateway stopped", "stats", g.Stats(), "link", sup.Stats())
	} else {
		log.Info("gateway stopped", "stats", g.Stats())
	}
	if err != nil {
		log.Error("gateway failed", "err", err)
		return exitFailure
	}
	return exitOK
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("gateway: --log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("gateway: --log-format %q: use text or json", format)
}

// config turns flags into a gateway.Config, reading the CA, client key pair and password files.
func config(o options, log *slog.Logger) (gateway.Config, error) {
	cfg := gateway.Config{
		Port: o.port, Baud: o.baud, BrokerURL: o.broker, Username: o.username,
		ClientID: o.clientID, TopicPrefix: o.topicPrefix, Log: log,
		SpoolPath: o.spool, SpoolMax: o.spoolMax, SpoolCommitFrames: o.spoolCommitFrames, SpoolCommitInterval: o.spoolCommitInterval,
		Backoff: gateway.Backoff{Min: o.backoffMin, Max: o.backoffMax, Jitter: o.backoffJitter},
	}
	if o.broker == "" {
		return cfg, errors.New("gateway: --broker is required, e.g. --broker tcp://127.0.0.1:1883 (see --help)")
	}
	if o.baud <= 0 {
		return cfg, fmt.Errorf("gateway: --baud %d: give a positive rate such as 115200", o.baud)
	}
	if o.qos < 0 || o.qos > 2 {
		return cfg, fmt.Errorf("gateway: --qos %d: use 0, 1 or 2", o.qos)
	}
	cfg.QoS = byte(o.qos)
	if o.passwordFile != "" {
		pw, err := readPassword(o.passwordFile, log)
		if err != nil {
			return cfg, err
		}
		cfg.Password = pw
	}
	if (o.cert == "") != (o.key == "") {
		return cfg, errors.New("gateway: --cert and --key go together (client certificate and its key)")
	}
	if o.ca == "" && o.cert == "" {
		return cfg, nil // ssl:// without flags: gateway.New defaults to the system roots
	}
	if !strings.HasPrefix(o.broker, "ssl://") && !strings.HasPrefix(o.broker, "tls://") && !strings.HasPrefix(o.broker, "mqtts://") {
		return cfg, fmt.Errorf("gateway: --ca/--cert/--key given but --broker %q is not TLS; use ssl://host:port", o.broker)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.ca != "" {
		pem, err := os.ReadFile(o.ca)
		if err != nil {
			return cfg, fmt.Errorf("gateway: --ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return cfg, fmt.Errorf("gateway: --ca %s: no PEM certificate found; give the CA certificate in PEM form", o.ca)
		}
		tc.RootCAs = pool
	}
	if o.cert != "" {
		kp, err := tls.LoadX509KeyPair(o.cert, o.key)
		if err != nil {
			return cfg, fmt.Errorf("gateway: --cert %s / --key %s: %w", o.cert, o.key, err)
		}
		tc.Certificates = []tls.Certificate{kp}
	}
	cfg.TLS = tc
	return cfg, nil
}

// readPassword reads the first line of a password file.
func readPassword(path string, log *slog.Logger) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("gateway: --password-file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		log.Warn("password file is readable by group or others; chmod 600 it", "file", path, "mode", fi.Mode().Perm().String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("gateway: --password-file: %w", err)
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimRight(pw, "\r")
	if pw == "" {
		return "", fmt.Errorf("gateway: --password-file %s is empty; put the password on its first line", path)
	}
	return pw, nil
}
