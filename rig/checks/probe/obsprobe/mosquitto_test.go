package obsprobe

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// StartMosquitto starts Debian's mosquitto on a free loopback port with password
// authentication; with logFile it logs to logPath as an auditor would ask (log_dest file,
// connection_messages, log_timestamp), else to stderr alone. It is stopped by its own pid when
// the test ends.
func StartMosquitto(t *testing.T, mosq, dir, logPath string, logFile bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	ln.Close()
	pw := filepath.Join(dir, "passwd")
	if out, err := exec.Command("mosquitto_passwd", "-b", "-c", pw, "dev1", "dev1-password").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v %s", err, out)
	}
	conf := "user root\npersistence false\nallow_anonymous false\npassword_file " + pw + "\nlistener " + port + " 127.0.0.1\n"
	if logFile {
		conf += "log_dest file " + logPath + "\nconnection_messages true\nlog_timestamp true\n"
	} else {
		conf += "log_dest stderr\nconnection_messages false\n"
	}
	cf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(mosq, "-c", cf)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return addr
		}
		select {
		case <-done:
			t.Fatalf("mosquitto exited: %s", out.String())
		default:
		}
	}
	t.Fatalf("mosquitto not listening on %s", addr)
	return ""
}
