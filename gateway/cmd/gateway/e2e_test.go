package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pathrig/rig/firmware/emulator"
	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/telemetry"
)

// credentials lets in only user "dev" with password "s3cret", or the test's subscriber.
type credentials struct{ mochi.HookBase }

func (h *credentials) ID() string { return "credentials" }
func (h *credentials) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}
func (h *credentials) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	u, p := string(pk.Connect.Username), string(pk.Connect.Password)
	return (u == "dev" && p == "s3cret") || u == "sub"
}
func (h *credentials) OnACLCheck(*mochi.Client, string, bool) bool { return true }

// lockedBuffer is the binary's stderr: written by its loggers, read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestBinaryEndToEnd runs the command's run() against an emulator on a pty and a mochi broker
// that checks the password read from --password-file, then stops it with SIGINT like an operator.
func TestBinaryEndToEnd(t *testing.T) {
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	srv.AddHook(new(credentials), nil)
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := srv.AddListener(l); err != nil {
		t.Fatal(err)
	}
	srv.Serve()
	defer srv.Close()

	got := make(chan string, 1000)
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + l.Address()).SetUsername("sub").SetClientID("sub"))
	if tok := sub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	if tok := sub.Subscribe(telemetry.Topic("bench", "+"), 1, func(_ mqtt.Client, m mqtt.Message) { got <- m.Topic() }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	pp, err := link.NewPtyPair()
	if err != nil {
		t.Fatal(err)
	}
	defer pp.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	uid := protocol.UID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	dev := emulator.New(emulator.Config{UID: uid, Interval: 5 * time.Millisecond})
	go dev.Run(ctx, pp.Device())

	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	var stderr lockedBuffer
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"--port", pp.Path(), "--broker", "tcp://" + l.Address(), "--username", "dev",
			"--password-file", pw, "--topic-prefix", "bench", "--log-format", "json"}, &stderr)
	}()
	select {
	case topic := <-got:
		if topic != "bench/"+uid.String()+"/telemetry" {
			t.Fatalf("topic %s", topic)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no telemetry; gateway stderr:\n%s", stderr.String())
	}
	// run() is inside Run, so its signal.NotifyContext is registered: SIGINT stops it, not us.
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	select {
	case c := <-code:
		if c != exitOK {
			t.Fatalf("exit %d; stderr:\n%s", c, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("gateway did not stop on SIGINT")
	}
	if out := stderr.String(); strings.Contains(out, "s3cret") || !strings.Contains(out, `"msg":"gateway stopped"`) {
		t.Fatalf("stderr:\n%s", out)
	}
}

// TestBinaryReconnect: with --reconnect the gateway survives the device being unplugged (the pty
// master closed, the stable name gone) and picks it up again when it comes back under the same
// name, publishing the new boot's telemetry in the same process; without it the port failure
// ends the process with exit 1, as before.
func TestBinaryReconnect(t *testing.T) {
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	srv.AddHook(new(credentials), nil)
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := srv.AddListener(l); err != nil {
		t.Fatal(err)
	}
	srv.Serve()
	defer srv.Close()
	type msg struct{ topic, payload string }
	got := make(chan msg, 10000)
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + l.Address()).SetUsername("sub").SetClientID("sub"))
	if tok := sub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	if tok := sub.Subscribe(telemetry.Topic("bench", "+"), 1, func(_ mqtt.Client, m mqtt.Message) { got <- msg{m.Topic(), string(m.Payload())} }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	name := filepath.Join(t.TempDir(), "rig-stm32")
	uid := protocol.UID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}

	// plug starts an emulated device with the given first boot behind the stable name.
	plug := func(boot uint32) (*link.PtyPair, context.CancelFunc) {
		pp, err := link.NewPtyPair()
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(name)
		if err := os.Symlink(pp.Path(), name); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		dev := emulator.New(emulator.Config{UID: uid, Boot: boot, Interval: 5 * time.Millisecond})
		go dev.Run(ctx, pp.Device())
		return pp, cancel
	}
	waitBoot := func(boot uint32, stderr *lockedBuffer) {
		t.Helper()
		want := `"boot":` + strconv.FormatUint(uint64(boot), 10) + `,`
		deadline := time.After(5 * time.Second)
		for {
			select {
			case m := <-got:
				if strings.Contains(m.payload, want) {
					return
				}
			case <-deadline:
				t.Fatalf("no telemetry of boot %d; gateway stderr:\n%s", boot, stderr.String())
			}
		}
	}
	unplug := func(pp *link.PtyPair, stop context.CancelFunc) {
		stop()
		pp.Close()
		os.Remove(name)
	}

	// Without --reconnect: the unplug ends the process with exit 1.
	pp, stop := plug(0)
	var stderr lockedBuffer
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"--port", name, "--broker", "tcp://" + l.Address(), "--username", "dev",
			"--password-file", pw, "--topic-prefix", "bench", "--log-format", "json"}, &stderr)
	}()
	waitBoot(0, &stderr)
	unplug(pp, stop)
	select {
	case c := <-code:
		if c != exitFailure {
			t.Fatalf("exit %d after the unplug, want %d", c, exitFailure)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the gateway without --reconnect did not exit on the unplug; stderr:\n%s", stderr.String())
	}

	// With --reconnect: the same process carries on across the unplug.
	pp, stop = plug(10)
	stderr = lockedBuffer{}
	go func() {
		code <- run([]string{"--port", name, "--reconnect", "--broker", "tcp://" + l.Address(), "--username", "dev",
			"--password-file", pw, "--topic-prefix", "bench", "--log-format", "json"}, &stderr)
	}()
	waitBoot(10, &stderr)
	unplug(pp, stop)
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(stderr.String(), "serial device disconnected"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("unplug not detected; stderr:\n%s", stderr.String())
		}
	}
	pp, stop = plug(11)
	defer func() { stop(); pp.Close() }()
	waitBoot(11, &stderr)
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	select {
	case c := <-code:
		if c != exitOK {
			t.Fatalf("exit %d; stderr:\n%s", c, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("gateway did not stop on SIGINT")
	}
	out := stderr.String()
	for _, want := range []string{"serial device disconnected", "serial device reconnected", `"disconnects":1`, `"reconnects":1`} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %q:\n%s", want, out)
		}
	}
}
