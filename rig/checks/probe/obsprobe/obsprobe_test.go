package obsprobe

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/checks/probe/mqttclient"
	"github.com/pathrig/rig/rig/secevent"
)

// mosquittoLog is what Debian's Mosquitto 2.0.11 wrote for: a refused CONNECT (bad password), a
// refused anonymous CONNECT, an accepted one whose PUBLISH the ACL denied (log_type all), and a
// subscription; captured by running it with log_dest file, connection_messages true,
// log_timestamp true.
const mosquittoLog = `1796609797: mosquitto version 2.0.11 starting
1796609797: Config loaded from m.conf.
1796609797: Opening ipv4 listen socket on port 18831.
1796609797: mosquitto version 2.0.11 running
1796609797: New connection from 127.0.0.1:54796 on port 18831.
1796609797: Sending CONNACK to 127.0.0.1 (0, 5)
1796609797: Client <unknown> disconnected, not authorised.
1796609797: New connection from 127.0.0.1:54806 on port 18831.
1796609797: Sending CONNACK to 127.0.0.1 (0, 5)
1796609797: Client <unknown> disconnected, not authorised.
1796609798: New connection from 127.0.0.1:54814 on port 18831.
1796609798: New client connected from 127.0.0.1:54814 as probe-z (p2, c1, k60, u'dev1').
1796609798: No will message specified.
1796609798: Sending CONNACK to probe-z (0, 0)
1796609798: Denied PUBLISH from probe-z (d0, q1, r0, m1, 'other/x', ... (1 bytes))
1796609798: Sending PUBACK to probe-z (m1, rc135)
1796609798: Received DISCONNECT from probe-z
1796609798: Client probe-z disconnected.
1796609798: Received SUBSCRIBE from probe-s
1796609798: 	$SYS/# (QoS 0)
1796609798: probe-s 0 $SYS/#
`

func TestParseMosquitto(t *testing.T) {
	l := Parse([]byte(mosquittoLog), "broker")
	if l.Format != "mosquitto" || l.Unparsed != 0 {
		t.Fatalf("format %s, %d unparsed lines; want mosquitto, 0", l.Format, l.Unparsed)
	}
	want := []secevent.Event{
		{Time: time.Unix(1796609797, 0).UTC(), Source: "broker", Kind: secevent.AuthFailure, Remote: "127.0.0.1:54796", Outcome: secevent.Refused},
		{Time: time.Unix(1796609797, 0).UTC(), Source: "broker", Kind: secevent.AuthFailure, Remote: "127.0.0.1:54806", Outcome: secevent.Refused},
		{Time: time.Unix(1796609798, 0).UTC(), Source: "broker", Kind: secevent.AuthSuccess, Identity: "probe-z", Remote: "127.0.0.1:54814", Outcome: secevent.Accepted},
		{Time: time.Unix(1796609798, 0).UTC(), Source: "broker", Kind: secevent.ACLDeny, Identity: "probe-z", Outcome: secevent.Refused, Detail: "publish other/x"},
	}
	if len(l.Events) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(l.Events), len(want), l.Events)
	}
	for i, w := range want {
		g := l.Events[i]
		g.Detail = strings.TrimPrefix(g.Detail, "mosquitto: ")
		if w.Detail == "" {
			g.Detail = ""
		}
		if g != w {
			t.Errorf("event %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestParseFormats(t *testing.T) {
	ev := `{"time":"2026-12-07T02:00:00Z","source":"ingest","event":"ingest-refused","remote":"127.0.0.1:5000","outcome":"refused","detail":"401"}`
	for _, tc := range []struct {
		name, data, format string
		events, unparsed   int
	}{
		{"secevent", ev + "\n", "secevent", 1, 0},
		{"partial last line left out", ev + "\n" + ev[:20], "secevent", 1, 0},
		{"slog text is not an event", `time=2026-12-07T02:00:00Z level=DEBUG msg="mqtt connect" username=a password=b` + "\n", "unknown", 0, 1},
		{"json that is not an event", `{"level":"info","msg":"hello"}` + "\n", "unknown", 0, 1},
		{"mixed", ev + "\n" + "1796609797: New connection from 127.0.0.1:1 on port 1.\n1796609797: Client x disconnected, not authorised.\n", "mixed", 2, 0},
		{"mosquitto bad password wording", "1796609797: Client dev7 disconnected, bad username or password.\n", "mosquitto", 1, 0},
		{"iso timestamps", "2026-12-07T02:00:00: New connection from 127.0.0.1:9 on port 1883.\n2026-12-07T02:00:01: Client <unknown> disconnected, not authorised.\n", "mosquitto", 1, 0},
		{"empty", "", "empty", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := Parse([]byte(tc.data), "broker")
			if l.Format != tc.format || len(l.Events) != tc.events || l.Unparsed != tc.unparsed {
				t.Errorf("format %s, %d events, %d unparsed; want %s, %d, %d", l.Format, len(l.Events), l.Unparsed, tc.format, tc.events, tc.unparsed)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	at := time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)
	evs := []secevent.Event{
		{Time: at.Add(-5 * time.Second), Source: "broker", Kind: secevent.AuthFailure, Identity: "marker", Outcome: secevent.Refused},
		{Time: at.Add(time.Second), Source: "broker", Kind: secevent.ACLDeny, Identity: "marker", Outcome: secevent.Refused},
		{Time: at.Add(time.Second), Source: "broker", Kind: secevent.AuthFailure, Remote: "127.0.0.1:4000", Outcome: secevent.Refused},
		{Time: at.Add(time.Second), Kind: secevent.AuthFailure, Identity: "nosource", Outcome: secevent.Refused},
	}
	for _, tc := range []struct {
		name string
		w    Want
		ok   bool
	}{
		{"by remote", Want{Kind: secevent.AuthFailure, Identity: "marker", Remote: "127.0.0.1:4000", Since: at}, true},
		{"too early for the injection", Want{Kind: secevent.AuthFailure, Identity: "marker", Since: at}, false},
		{"slack admits a second-stamped log", Want{Kind: secevent.AuthFailure, Identity: "marker", Since: at.Add(-4 * time.Second), Slack: time.Second}, true},
		{"other kind", Want{Kind: secevent.Lockout, Since: at}, false},
		{"acl by identity", Want{Kind: secevent.ACLDeny, Identity: "marker", Since: at}, true},
		{"an event without a source is not evidence", Want{Kind: secevent.AuthFailure, Identity: "nosource", Since: at}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := Match(evs, tc.w); ok != tc.ok {
				t.Errorf("Match = %v, want %v", ok, tc.ok)
			}
		})
	}
}

func TestReadFromMark(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sec.log")
	if m, err := Mark(p); err != nil || m != 0 {
		t.Fatalf("Mark of a missing log = %d, %v; want 0, nil", m, err)
	}
	l, _ := secevent.Open(p, "broker")
	l.Record(secevent.Event{Kind: secevent.AuthFailure, Identity: "old", Outcome: secevent.Refused})
	mark, err := Mark(p)
	if err != nil || mark == 0 {
		t.Fatalf("Mark = %d, %v", mark, err)
	}
	l.Record(secevent.Event{Kind: secevent.AuthFailure, Identity: "new", Outcome: secevent.Refused})
	l.Close()
	got, err := Read(p, mark, MaxLogRead, "broker")
	if err != nil || len(got.Events) != 1 || got.Events[0].Identity != "new" {
		t.Fatalf("Read after the mark = %+v, %v; want the new event alone", got.Events, err)
	}
	// A rotated (shorter) log is read from its start.
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(p, mark, MaxLogRead, "broker"); err != nil || got.From != 0 {
		t.Errorf("rotated log read from %d (%v), want 0", got.From, err)
	}
	if _, err := Read(t.TempDir(), 0, MaxLogRead, "broker"); err == nil {
		t.Error("Read of a folder: no error")
	}
}

func TestSearch(t *testing.T) {
	// 17 bytes: base64 pads it and its standard and URL alphabets differ on it.
	s := Secret{Label: "probe-a password", Value: "pa ss/w0rd+x?~~~~", User: "probe-a"}
	for _, f := range Forms(s) {
		t.Logf("form %s", f.Encoding)
	}
	for _, tc := range []struct {
		name, data, enc string
	}{
		{"plain", "msg=connect password=pa ss/w0rd+x?~~~~", "plain"},
		{"base64", "creds " + base64.StdEncoding.EncodeToString([]byte(s.Value)), "base64"},
		{"base64url unpadded", "c=" + base64.RawURLEncoding.EncodeToString([]byte(s.Value)), "base64url-unpadded"},
		{"hex", fmt.Sprintf("payload=%x", s.Value), "hex"},
		{"hex upper", fmt.Sprintf("payload=%X", s.Value), "hex-upper"},
		{"url query", "GET /x?pw=pa+ss%2Fw0rd%2Bx%3F~~~~", "url-query"},
		{"url path", "GET /x/pa%20ss%2Fw0rd+x%3F~~~~", "url-path"},
		{"basic auth header", "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("probe-a:pa ss/w0rd+x?~~~~")), "basic-auth"},
		{"clean", "msg=connect username=probe-a", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaks := Search("broker.log", []byte("line one\n"+tc.data+"\n"), []Secret{s})
			if tc.enc == "" {
				if len(leaks) != 0 {
					t.Fatalf("leaks in clean data: %+v", leaks)
				}
				return
			}
			found := false
			for _, l := range leaks {
				if l.Encoding == tc.enc && l.Line == 2 && l.Secret == s.Label && l.Where == "broker.log" {
					found = true
				}
			}
			if !found {
				t.Errorf("leaks = %+v, want one in %s on line 2", leaks, tc.enc)
			}
		})
	}
	if leaks := Search("x", []byte("short"), []Secret{{Label: "short", Value: "short"}}); len(leaks) != 0 || Searchable(Secret{Value: "short"}) {
		t.Errorf("a secret under %d bytes was searched: %+v", MinSecretLen, leaks)
	}
}

func TestMetricsAndAlerts(t *testing.T) {
	body := "# HELP rig_auth_failures_total x\n# TYPE rig_auth_failures_total counter\nrig_auth_failures_total{source=\"broker\"} 3\nrig_auth_failures_total{source=\"ingest\"} 2\n"
	m, err := ParseMetrics([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := m.Value("rig_auth_failures_total", nil); !ok || v != 5 {
		t.Errorf("sum = %v %v, want 5", v, ok)
	}
	if v, ok := m.Value("rig_auth_failures_total", map[string]string{"source": "ingest"}); !ok || v != 2 {
		t.Errorf("ingest = %v %v, want 2", v, ok)
	}
	if _, err := ParseMetrics([]byte("<html>login</html>")); err == nil {
		t.Error("an HTML page parsed as metrics")
	}
	for _, tc := range []struct{ name, body string }{
		{"alertmanager v2", `[{"labels":{"alertname":"DeviceSilent","device":"ABC"},"startsAt":"2026-12-07T02:00:00Z","status":{"state":"active"}},{"labels":{"alertname":"Old","device":"abc"},"status":{"state":"suppressed"}}]`},
		{"prometheus v1", `{"status":"success","data":{"alerts":[{"labels":{"alertname":"DeviceSilent","device":"ABC"},"state":"firing","activeAt":"2026-12-07T02:00:00Z"},{"labels":{"device":"abc"},"state":"pending"}]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			al, err := ParseAlerts([]byte(tc.body))
			if err != nil || len(al) != 1 {
				t.Fatalf("alerts = %+v, %v; want the one active alert", al, err)
			}
			if a, ok := FindAlert(al, "abc"); !ok || a.Name != "DeviceSilent" || a.Since.IsZero() {
				t.Errorf("FindAlert = %+v %v", a, ok)
			}
		})
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "obs" || p != "metrics-secret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="metrics"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	ctx := context.Background()
	anon, err := Get(ctx, srv.Client(), srv.URL, Credentials{})
	if err != nil || anon.Status != 401 || anon.Auth != "none" || !strings.HasPrefix(anon.Challenge, "Basic") {
		t.Errorf("anonymous GET = %+v, %v", anon, err)
	}
	authed, err := Get(ctx, srv.Client(), srv.URL, Credentials{User: "obs", Password: "metrics-secret"})
	if err != nil || authed.Status != 200 || authed.Auth != "basic" {
		t.Fatalf("authenticated GET = %+v, %v", authed, err)
	}
	if _, err := ParseMetrics(authed.Body); err != nil {
		t.Error(err)
	}
	if _, err := Get(ctx, srv.Client(), "http://127.0.0.1:1/metrics", Credentials{}); err == nil {
		t.Error("GET of a closed port: no error")
	}
}

// TestMosquittoLogRealPeer runs Debian's Mosquitto with its log in a file, refuses a CONNECT with
// a wrong password sent from a known local port, and finds that refusal in the log by the
// probe's address; with the log in the file off, the same refusal is nowhere to be read.
func TestMosquittoLogRealPeer(t *testing.T) {
	mosq, err := exec.LookPath("mosquitto")
	if err != nil {
		t.Skip("mosquitto not installed: apt-get install -y mosquitto (.ci/run installs it in CI)")
	}
	for _, logging := range []bool{true, false} {
		t.Run(fmt.Sprintf("log_dest_file=%v", logging), func(t *testing.T) {
			dir := t.TempDir()
			logPath := filepath.Join(dir, "mosquitto.log")
			addr := StartMosquitto(t, mosq, dir, logPath, logging)
			mark, err := Mark(logPath)
			if err != nil {
				t.Fatal(err)
			}
			since := time.Now()
			ep := mqttclient.Endpoint{Label: "plain", Addr: addr}
			c, ca := mqttclient.Connect(context.Background(), ep, mqttclient.ConnectOpts{Version: 4, ClientID: "probe-marker-1", Username: "probe-marker-1", Password: "wrong-password-1"}, 2*time.Second)
			c.Disconnect()
			if ca.Answer != mqttclient.AnswerRefused {
				t.Fatalf("CONNECT with a wrong password: %s (%s); want a refusal", ca.Answer, ca.Detail)
			}
			local := ca.Local
			var got Log
			deadline := time.Now().Add(3 * time.Second)
			for {
				if _, err := os.Stat(logPath); err == nil {
					if got, err = Read(logPath, mark, MaxLogRead, "broker"); err != nil {
						t.Fatal(err)
					}
				}
				_, ok := Match(got.Events, Want{Kind: secevent.AuthFailure, Identity: "probe-marker-1", Remote: local, Since: since, Slack: time.Second})
				if ok || time.Now().After(deadline) {
					if ok != logging {
						t.Fatalf("refusal of %s found = %v, want %v; log:\n%s", local, ok, logging, got.Raw)
					}
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
