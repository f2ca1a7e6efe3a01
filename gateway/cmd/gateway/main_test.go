package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunUsage(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("s3cret\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"help", []string{"--help"}, exitOK, "--password-file"},
		{"no broker", []string{"--port", "/dev/null"}, exitUsage, "--broker is required"},
		{"stray argument", []string{"--broker", "tcp://127.0.0.1:1", "extra"}, exitUsage, `unexpected argument "extra"`},
		{"bad qos", []string{"--broker", "tcp://127.0.0.1:1", "--qos", "3"}, exitUsage, "--qos 3"},
		{"bad log format", []string{"--broker", "tcp://127.0.0.1:1", "--log-format", "xml"}, exitUsage, "--log-format"},
		{"cert without key", []string{"--broker", "ssl://127.0.0.1:1", "--cert", "c.pem"}, exitUsage, "--cert and --key"},
		{"ca on plaintext", []string{"--broker", "tcp://127.0.0.1:1", "--ca", "ca.pem"}, exitUsage, "not TLS"},
		{"missing ca file", []string{"--broker", "ssl://127.0.0.1:1", "--ca", filepath.Join(dir, "nope.pem")}, exitUsage, "--ca"},
		{"ca not PEM", []string{"--broker", "ssl://127.0.0.1:1", "--ca", pwFile}, exitUsage, "no PEM certificate"},
		{"empty password file", []string{"--broker", "tcp://127.0.0.1:1", "--password-file", empty}, exitUsage, "is empty"},
		{"bad scheme", []string{"--broker", "http://127.0.0.1:1"}, exitUsage, `scheme "http"`},
		{"port missing", []string{"--broker", "tcp://127.0.0.1:1", "--port", filepath.Join(dir, "ttyNOPE")}, exitFailure, "no such port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := run(tt.args, &out); code != tt.code {
				t.Fatalf("exit %d, want %d; output:\n%s", code, tt.code, out.String())
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Fatalf("output does not say %q:\n%s", tt.want, out.String())
			}
		})
	}
}

func TestPasswordFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "pw")
	os.WriteFile(f, []byte("s3cret\r\nignored\n"), 0o644)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	cfg, err := config(options{broker: "tcp://127.0.0.1:1", baud: 115200, qos: 1, passwordFile: f}, log)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Password != "s3cret" {
		t.Fatalf("password %q", cfg.Password)
	}
	if !strings.Contains(logs.String(), "chmod 600") || strings.Contains(logs.String(), "s3cret") {
		t.Fatalf("logs: %s", logs.String())
	}
}
