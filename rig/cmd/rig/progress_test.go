package main

import (
	"bytes"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

func TestProgressLine(t *testing.T) {
	var b bytes.Buffer
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := newProgress(&b, slog.LevelInfo, func() time.Time { return clock })
	log := slog.New(p.Handler()).With("scenario", "s")
	log.Info("starting stack")
	clock = clock.Add(1500 * time.Millisecond)
	chk := log.With("check", "transport")
	chk.Info("check started")
	chk.Info("control evaluated", "control", "TRANSPORT-PLAINTEXT", "status", "fail", "reason", "r")
	chk.Warn("probe retried", "endpoint", "tls")
	chk.Debug("hidden at info")
	p.Close()
	out := b.String()
	for _, want := range []string{
		"\r\x1b[K[  0.0s] starting stack",
		"\r\x1b[K[  1.5s] evaluating checks · check transport",
		"[  1.5s] evaluating checks · check transport · TRANSPORT-PLAINTEXT fail",
		"level=WARN msg=\"probe retried\" scenario=s check=transport endpoint=tls\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("progress output lacks %q:\n%q", want, out)
		}
	}
	if strings.Contains(out, "hidden at info") {
		t.Error("a debug line reached the display at info level")
	}
	if !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("Close left the status line on screen: %q", out[max(0, len(out)-40):])
	}
	// The warning scrolls: the line is cleared before it and redrawn after it.
	if !strings.Contains(out, "fail\r\x1b[Ktime=") {
		t.Errorf("the warning was not printed on a cleared line: %q", out)
	}
}

func TestIsTerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	if !isTerminal(tty) {
		t.Error("a pty is not a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("a file is a terminal")
	}
}
