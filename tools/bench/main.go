// Command bench measures the rig's transport and broker-certificate checks on one TLS broker
// port side by side with testssl.sh (`testssl --quiet -p -S`, protocols and certificate) and nmap
// (`--script ssl-enum-ciphers,ssl-cert`), in one run, and prints wall times, the ratios and
// whether the protocol-version verdicts agree.
//
//	go run ./tools/bench                      # starts Debian's mosquitto (TLS 1.1+, every suite) on a free loopback port
//	go run ./tools/bench --target 127.0.0.1:8883 --server-name broker.example
//	go run ./tools/bench -tls=false -fleet 100,1000    # only the fleet table
//
// Then the fleet table: `rig run` (-rig, bin/rig by default) on the fleet-10000 scenario at each
// -fleet size as a child process, with its wall time, peak RSS (the child's rusage) and RSS per
// device, and the frames sent, stored and lost.
//
// It needs mosquitto (or openssl s_server as fallback), openssl, nmap and testssl (Debian package
// testssl.sh); .ci/run installs them. It exits 1 when the verdicts disagree or the rig is not at
// least 10 times faster than testssl.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/evidence"
)

var versions = []string{"SSLv3", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"}

func main() {
	target := flag.String("target", "", "host:port of a TLS listener to scan (default: start mosquitto on a free loopback port)")
	serverName := flag.String("server-name", "", "the name devices use (SNI)")
	runs := flag.Int("runs", 5, "rig runs (the median is reported)")
	rigBin := flag.String("rig", "bin/rig", "rig binary the fleet table runs (make build)")
	fleet := flag.String("fleet", "100,1000,10000", "fleet sizes to run through `rig run` (comma-separated device counts; empty: none)")
	tlsScan := flag.Bool("tls", true, "compare the TLS scan with testssl.sh and nmap")
	flag.Parse()
	sizes, err := parseSizes(*fleet)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	var errs []error
	if *tlsScan {
		errs = append(errs, bench(*target, *serverName, *runs))
	}
	errs = append(errs, benchFleet(*rigBin, sizes))
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type row struct {
	tool     string
	wall     time.Duration
	accepted map[string]bool
	err      error
}

func bench(target, serverName string, runs int) error {
	dir, err := os.MkdirTemp("", "rig-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	what := "named target"
	if target == "" {
		var stop func()
		target, what, stop, err = startBroker(dir)
		if err != nil {
			return err
		}
		defer stop()
	}
	fmt.Printf("target: %s %s\n\n", what, target)

	var rows []row
	// The rig: transport + broker-cert, median of runs.
	var walls []time.Duration
	var rigAcc map[string]bool
	var rigErr error
	for i := 0; i < runs; i++ {
		d, acc, err := runRig(dir, i, target, serverName)
		walls = append(walls, d)
		rigAcc, rigErr = acc, err
	}
	slices.Sort(walls)
	rows = append(rows, row{fmt.Sprintf("rig transport+broker-cert (median of %d)", runs), walls[len(walls)/2], rigAcc, rigErr})
	rows = append(rows, runNmap(target))
	rows = append(rows, runTestssl(dir, target))

	fmt.Printf("%-44s %10s  %s\n", "tool", "wall", strings.Join(versions, "  "))
	for _, r := range rows {
		if r.err != nil {
			fmt.Printf("%-44s %10s  error: %v\n", r.tool, r.wall.Round(time.Millisecond), r.err)
			continue
		}
		var cells []string
		for _, v := range versions {
			cells = append(cells, fmt.Sprintf("%-*s", len(v), yesNo(r.accepted[v])))
		}
		fmt.Printf("%-44s %10s  %s\n", r.tool, r.wall.Round(time.Millisecond), strings.Join(cells, "  "))
	}
	rig := rows[0]
	fmt.Println()
	failed := rig.err != nil
	for _, r := range rows[1:] {
		if r.err != nil || rig.err != nil {
			failed = true
			continue
		}
		ratio := float64(r.wall) / float64(rig.wall)
		agree := sameVersions(rig.accepted, r.accepted)
		fmt.Printf("%s / rig = %.0f×, protocol versions agree: %v\n", strings.Fields(r.tool)[0], ratio, agree)
		failed = failed || !agree
		if strings.HasPrefix(r.tool, "testssl") && ratio < 10 {
			fmt.Println("target missed: the rig must be at least 10× faster than testssl -p -S")
			failed = true
		}
	}
	if failed {
		return fmt.Errorf("a tool failed or the verdicts disagree (see above)")
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func sameVersions(a, b map[string]bool) bool {
	for _, v := range versions {
		if a[v] != b[v] {
			return false
		}
	}
	return true
}

func runRig(dir string, i int, target, serverName string) (time.Duration, map[string]bool, error) {
	store, err := evidence.NewStore(filepath.Join(dir, fmt.Sprintf("rig-%d", i)))
	if err != nil {
		return 0, nil, err
	}
	env := &check.Env{Targets: check.Targets{Broker: check.Broker{TLS: target, ServerName: serverName}}, Evidence: store}
	start := time.Now()
	results, err := checks.Evaluate(context.Background(), env, []string{"transport", "broker-cert"})
	d := time.Since(start)
	if err != nil {
		return d, nil, err
	}
	acc := map[string]bool{}
	for _, r := range results {
		if r.Control != "TRANSPORT-TLS-LEGACY" {
			continue
		}
		vs, ok := r.Observed["versions"].(map[string]any)
		if !ok {
			return d, nil, fmt.Errorf("TRANSPORT-TLS-LEGACY: %s: %s", r.Status, r.Reason)
		}
		for v, s := range vs {
			acc[v] = s == "accepted"
		}
	}
	return d, acc, nil
}

var nmapTable = regexp.MustCompile(`<table key="(SSLv3|TLSv1\.[0-3])">`)

func runNmap(target string) row {
	r := row{tool: "nmap ssl-enum-ciphers,ssl-cert"}
	host, port, _ := net.SplitHostPort(target)
	start := time.Now()
	out, err := command(5*time.Minute, "nmap", "-n", "-Pn", "-p", port, "--script", "ssl-enum-ciphers,ssl-cert", "-oX", "-", host)
	r.wall = time.Since(start)
	if err != nil {
		r.err = err
		return r
	}
	r.accepted = map[string]bool{}
	for _, m := range nmapTable.FindAllStringSubmatch(out, -1) {
		r.accepted[strings.Replace(m[1], "TLSv", "TLS ", 1)] = true
	}
	return r
}

func runTestssl(dir, target string) row {
	r := row{tool: "testssl --quiet -p -S"}
	jf := filepath.Join(dir, "testssl.json")
	start := time.Now()
	_, err := command(10*time.Minute, "testssl", "--quiet", "-p", "-S", "--jsonfile", jf, target)
	r.wall = time.Since(start)
	if err != nil {
		r.err = err
		return r
	}
	data, err := os.ReadFile(jf)
	if err != nil {
		r.err = err
		return r
	}
	var findings []struct{ ID, Finding string }
	if err := json.Unmarshal(data, &findings); err != nil {
		r.err = fmt.Errorf("testssl JSON: %w", err)
		return r
	}
	ids := map[string]string{"SSLv3": "SSLv3", "TLS1": "TLS 1.0", "TLS1_1": "TLS 1.1", "TLS1_2": "TLS 1.2", "TLS1_3": "TLS 1.3"}
	r.accepted = map[string]bool{}
	for _, f := range findings {
		if v, ok := ids[f.ID]; ok {
			r.accepted[v] = strings.HasPrefix(f.Finding, "offered")
		}
	}
	return r
}

// command runs a tool with a deadline. testssl exits non-zero when it finds problems, so only a
// missing binary or a timeout is an error.
func command(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return string(out), fmt.Errorf("%s: no result within %s", name, timeout)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return string(out), fmt.Errorf("%s: %w (install it: see .ci/run)", name, err)
	}
	return string(out), nil
}

// startBroker makes a certificate with the openssl CLI and starts Debian's mosquitto with one TLS
// listener (TLS 1.1 and up, every OpenSSL suite) on a free loopback port, or openssl s_server
// when mosquitto is missing.
func startBroker(dir string) (addr, what string, stop func(), err error) {
	if _, err := command(time.Minute, "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", filepath.Join(dir, "k.pem"), "-out", filepath.Join(dir, "c.pem"), "-subj", "/CN=broker.bench.test",
		"-addext", "subjectAltName=DNS:broker.bench.test,IP:127.0.0.1", "-days", "90"); err != nil {
		return "", "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", nil, err
	}
	addr = ln.Addr().String()
	_ = ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	var cmd *exec.Cmd
	if mosq, err := exec.LookPath("mosquitto"); err == nil {
		conf := filepath.Join(dir, "mosquitto.conf")
		body := fmt.Sprintf("user root\npersistence false\nallow_anonymous true\nlog_dest stderr\nlog_type error\nlistener %s 127.0.0.1\ncertfile %s\nkeyfile %s\ntls_version tlsv1.1\nciphers ALL:@SECLEVEL=0\n",
			port, filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"))
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			return "", "", nil, err
		}
		cmd, what = exec.Command(mosq, "-c", conf), "mosquitto TLS listener (tls_version tlsv1.1, ciphers ALL:@SECLEVEL=0)"
	} else {
		cmd, what = exec.Command("openssl", "s_server", "-accept", addr, "-cert", filepath.Join(dir, "c.pem"), "-key", filepath.Join(dir, "k.pem"), "-cipher", "ALL:@SECLEVEL=0", "-quiet"), "openssl s_server (mosquitto not installed)"
		if cmd.Stdin, err = os.Open(os.DevNull); err != nil {
			return "", "", nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		return "", "", nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return addr, what, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", "", nil, fmt.Errorf("%s not listening on %s", cmd.Path, addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
