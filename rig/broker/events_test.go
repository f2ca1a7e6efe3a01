package broker

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/pathrig/rig/rig/secevent"
)

// syncBuffer is a bytes.Buffer safe for the broker's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSecurityEvents: the hardened broker records a refused CONNECT (identity, the client's
// address, the reason, never the password) and the ACL's refusals of a subscription and a
// publish, as OBS-AUTH-EVENTS and OBS-ACL-EVENTS read them; the credential log of the exposed
// profile writes the password it saw, which is the finding OBS-LOG-SECRETS looks for.
func TestSecurityEvents(t *testing.T) {
	f := newFixture(t)
	var events, creds syncBuffer
	cfg := f.hardened(t)
	cfg.Events = secevent.New(&events, "broker")
	cfg.CredentialLog = slog.New(slog.NewTextHandler(&creds, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b := start(t, cfg)
	url := "ssl://" + b.TLSAddr()
	tc := func() *tls.Config {
		return &tls.Config{RootCAs: f.pki.CAPool(), Certificates: []tls.Certificate{f.certA.Cert}}
	}
	if _, err := connect(t, dial{url: url, id: devA, user: devA, pass: "wrong-password-7", tls: tc()}); err == nil {
		t.Fatal("a wrong password connected")
	}
	a := mustConnect(t, dial{url: url, id: devA, user: devA, pass: "pw-a", tls: tc()})
	if code := subscribe(t, a, "#", func(paho.Client, paho.Message) {}); code != 0x80 {
		t.Fatalf("SUBACK for # = %#x, want 0x80", code)
	}
	a.Publish("rig/devices/"+devB+"/telemetry", 0, false, "x").WaitTimeout(wait)

	var got []secevent.Event
	deadline := time.Now().Add(wait)
	for {
		evs, err := secevent.Decode(strings.NewReader(events.String()), 100)
		if err != nil {
			t.Fatal(err)
		}
		got = evs
		if len(got) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := []struct {
		kind    secevent.Kind
		outcome secevent.Outcome
		detail  string
	}{
		{secevent.AuthFailure, secevent.Refused, "bad username or password"},
		{secevent.ACLDeny, secevent.Refused, "subscribe #"},
		{secevent.ACLDeny, secevent.Refused, "publish rig/devices/" + devB},
	}
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		e := got[i]
		if e.Kind != w.kind || e.Outcome != w.outcome || e.Identity != devA || e.Source != "broker" ||
			!strings.HasPrefix(e.Remote, "127.0.0.1:") || !strings.Contains(e.Detail, w.detail) || e.Time.IsZero() {
			t.Errorf("event %d = %+v, want %s/%s by %s from 127.0.0.1 with %q", i, e, w.kind, w.outcome, devA, w.detail)
		}
	}
	if strings.Contains(events.String(), "wrong-password-7") || strings.Contains(events.String(), "pw-a") {
		t.Error("a password is in the security events")
	}
	if !strings.Contains(creds.String(), "password=wrong-password-7") {
		t.Errorf("the credential log did not write the password it saw:\n%s", creds.String())
	}
}
