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

// RefusedConnect sends an MQTT 3.1.1 CONNECT with username and password, reads the CONNACK and
// returns the local address the broker saw.
func RefusedConnect(t *testing.T, addr, id, password string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
	vh := append(str("MQTT"), 4, 0xC2, 0, 30)
	body := append(append(append(vh, str(id)...), str(id)...), str(password)...)
	pkt := append([]byte{0x10, byte(len(body))}, body...)
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(pkt); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 4)
	if _, err := c.Read(ack); err != nil || ack[0] != 0x20 || ack[3] == 0 {
		t.Fatalf("CONNACK % x (%v), want a refusal", ack, err)
	}
	return c.LocalAddr().String()
}
