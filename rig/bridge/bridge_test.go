package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/pathrig/rig/rig/broker"
	"github.com/pathrig/rig/rig/ingest"
	"github.com/pathrig/rig/rig/telemetry"
)

const (
	token = "bridge-test-token"
	wait  = 30 * time.Second // generous: fsync under a loaded CI disk dominates; typical runs take well under a second
)

var devices = []string{"0123456789abcdef00000001", "0123456789abcdef00000002", "0123456789abcdef00000003"}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startBroker(t *testing.T) *broker.Broker {
	t.Helper()
	b, err := broker.Start(context.Background(), broker.Config{PlainAddr: "127.0.0.1:0", AllowAnonymous: true, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func startIngest(t *testing.T, addr, path string) *ingest.Server {
	t.Helper()
	s, err := ingest.Start(context.Background(), ingest.Config{Addr: addr, Tokens: []string{token}, StorePath: path, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func startBridge(t *testing.T, b *broker.Broker, cfg Config) *Bridge {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = quiet()
	}
	br, err := Start(context.Background(), b.Server(), cfg)
	if err != nil {
		t.Fatalf("bridge Start: %v", err)
	}
	t.Cleanup(func() { _ = br.Close() })
	return br
}

func publisher(t *testing.T, b *broker.Broker) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker("tcp://" + b.PlainAddr()).SetClientID("gateway").
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(wait).SetWriteTimeout(wait)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func record(dev string, seq uint32) []byte {
	b, _ := json.Marshal(telemetry.Record{Device: dev, Boot: 1, Seq: seq, GatewayTime: time.Now().UTC(), SupplyMv: 3300})
	return b
}

// publishAll publishes n records per device at QoS 1 without waiting in between, then waits for
// every PUBACK. It returns an error rather than failing the test so it can run in a goroutine.
func publishAll(c paho.Client, n int) error {
	var toks []paho.Token
	for seq := 0; seq < n; seq++ {
		for _, d := range devices {
			toks = append(toks, c.Publish(telemetry.Topic(telemetry.TopicPrefix, d), 1, false, record(d, uint32(seq))))
		}
	}
	for i, tok := range toks {
		if !tok.WaitTimeout(wait) {
			return fmt.Errorf("publish %d: no PUBACK within %v", i, wait)
		}
		if err := tok.Error(); err != nil {
			return fmt.Errorf("publish %d: %w", i, err)
		}
	}
	return nil
}

func drain(t *testing.T, br *Bridge) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := br.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v (stats %+v)", err, br.Stats())
	}
}

func assertStored(t *testing.T, s *ingest.Server, perDevice int) {
	t.Helper()
	stats, err := s.Store().Stats()
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != len(devices) {
		t.Fatalf("streams = %d, want %d: %+v", len(stats), len(devices), stats)
	}
	for _, st := range stats {
		if st.Stored != uint64(perDevice) || st.MinSeq != 0 || st.MaxSeq != uint32(perDevice-1) {
			t.Errorf("device %s: stored %d seq %d..%d, want %d distinct 0..%d", st.Device, st.Stored, st.MinSeq, st.MaxSeq, perDevice, perDevice-1)
		}
	}
}

func TestForwardsEveryMessage(t *testing.T) {
	const perDevice = 200
	b := startBroker(t)
	s := startIngest(t, "127.0.0.1:0", filepath.Join(t.TempDir(), "store.db"))
	br := startBridge(t, b, Config{IngestURL: s.URL(), Token: token})
	c := publisher(t, b)

	if err := publishAll(c, perDevice); err != nil {
		t.Fatal(err)
	}
	// Not telemetry: counted and dropped, and the stream carries on.
	for _, p := range []struct{ topic, payload string }{
		{telemetry.Topic(telemetry.TopicPrefix, devices[0]), "not json"},
		{telemetry.Topic(telemetry.TopicPrefix, devices[0]), string(record(devices[1], 999))},   // device ≠ topic
		{telemetry.Topic(telemetry.TopicPrefix, devices[0]), `{"device":"` + devices[0] + `"}`}, // no gateway_time
	} {
		if tok := c.Publish(p.topic, 1, false, p.payload); !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	drain(t, br)

	assertStored(t, s, perDevice)
	n := uint64(perDevice * len(devices))
	got := br.Stats()
	want := Stats{Received: n + 3, Malformed: 3, Forwarded: n}
	got.Retries = 0 // not asserted: timing
	if got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
}

func TestRedeliveryIsADuplicate(t *testing.T) {
	b := startBroker(t)
	s := startIngest(t, "127.0.0.1:0", filepath.Join(t.TempDir(), "store.db"))
	br := startBridge(t, b, Config{IngestURL: s.URL(), Token: token})
	c := publisher(t, b)
	payload := record(devices[0], 5)
	for range 2 {
		if tok := c.Publish(telemetry.Topic(telemetry.TopicPrefix, devices[0]), 1, false, payload); !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	drain(t, br)
	if n, _ := s.Store().Count(); n != 1 {
		t.Errorf("stored = %d, want 1", n)
	}
	if st := br.Stats(); st.Forwarded != 2 || st.Duplicates != 1 {
		t.Errorf("stats = %+v, want forwarded 2, duplicates 1", st)
	}
}

func TestSurvivesIngestDown(t *testing.T) {
	const perDevice = 100
	// Reserve a loopback port for the ingest that is not there yet.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	b := startBroker(t)
	// Small queues: the publisher is held back by the bridge (backpressure), nothing is dropped.
	br := startBridge(t, b, Config{IngestURL: "http://" + addr, Token: token, Workers: 2, QueueSize: 8, BatchMax: 16,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	c := publisher(t, b)

	done := make(chan error, 1)
	go func() { done <- publishAll(c, perDevice) }()
	deadline := time.Now().Add(wait)
	for br.Stats().Retries < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("bridge did not retry against the missing ingest: %+v", br.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Backpressure, not buffering: while the ingest is down the bridge holds at most its queues,
	// the batches in retry and the one message its blocked handler is trying to queue.
	if got, limit := br.Stats().Received, uint64(2*8+2*16+1); got > limit {
		t.Errorf("received %d while the ingest was down, want ≤ %d (the publisher held back)", got, limit)
	}
	s := startIngest(t, addr, filepath.Join(t.TempDir(), "store.db"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	drain(t, br)

	assertStored(t, s, perDevice)
	st := br.Stats()
	if st.Forwarded != uint64(perDevice*len(devices)) || st.Abandoned != 0 || st.Rejected != 0 {
		t.Errorf("stats = %+v, want every record forwarded", st)
	}
	if st.Retries == 0 {
		t.Errorf("retries = 0, want > 0")
	}
}

func TestRefusedRecordDoesNotWedge(t *testing.T) {
	// A fake ingest that refuses any batch holding seq 13 of device 0: the bridge isolates it.
	var stored atomic.Int64
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Records []telemetry.Record }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, `{"error":"bad"}`, http.StatusBadRequest)
			return
		}
		for _, rec := range body.Records {
			if rec.Seq == 13 && rec.Device == devices[0] {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"error":"records: seq 13 is cursed"}`)
				return
			}
		}
		stored.Add(int64(len(body.Records)))
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"accepted":%d,"duplicates":0}`, len(body.Records))
	}))
	t.Cleanup(fake.Close)

	b := startBroker(t)
	br := startBridge(t, b, Config{IngestURL: fake.URL, Workers: 1, BatchMax: 64})
	c := publisher(t, b)
	if err := publishAll(c, 30); err != nil {
		t.Fatal(err)
	}
	drain(t, br)
	st := br.Stats()
	if st.Rejected != 1 || st.Forwarded != 89 || stored.Load() != 89 {
		t.Errorf("stats = %+v stored %d, want 1 rejected and 89 forwarded", st, stored.Load())
	}
}

func TestWrongTokenIsRetriedThenAbandoned(t *testing.T) {
	b := startBroker(t)
	s := startIngest(t, "127.0.0.1:0", filepath.Join(t.TempDir(), "store.db"))
	br, err := Start(context.Background(), b.Server(), Config{IngestURL: s.URL(), Token: "wrong", Log: quiet(),
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c := publisher(t, b)
	if tok := c.Publish(telemetry.Topic(telemetry.TopicPrefix, devices[0]), 1, false, record(devices[0], 0)); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	deadline := time.Now().Add(wait)
	for br.Stats().Retries < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no retries: %+v", br.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := br.Drain(ctx); err == nil || !strings.Contains(err.Error(), "1 records not yet accepted") {
		t.Errorf("Drain = %v, want a deadline error naming 1 pending record", err)
	}
	br.Close()
	if st := br.Stats(); st.Abandoned != 1 || st.Pending != 0 || st.Forwarded != 0 {
		t.Errorf("after Close: %+v, want 1 abandoned, 0 pending", st)
	}
	if got := s.Rejected()[ingest.ReasonUnauthorized]; got < 2 {
		t.Errorf("ingest saw %d unauthorized requests, want ≥ 2", got)
	}
}

func TestConfigErrors(t *testing.T) {
	b := startBroker(t)
	for name, cfg := range map[string]Config{
		"no URL":      {},
		"bad scheme":  {IngestURL: "ftp://x"},
		"no host":     {IngestURL: "http://"},
		"neg workers": {IngestURL: "http://127.0.0.1:1", Workers: -1},
		"bad filter":  {IngestURL: "http://127.0.0.1:1", Filter: "a/#/b"},
	} {
		if br, err := Start(context.Background(), b.Server(), cfg); err == nil {
			br.Close()
			t.Errorf("%s: nil error, want one", name)
		} else if !strings.HasPrefix(err.Error(), "bridge: ") {
			t.Errorf("%s: error %q does not name the bridge", name, err)
		}
	}
	if _, err := Start(context.Background(), nil, Config{IngestURL: "http://127.0.0.1:1"}); err == nil {
		t.Errorf("nil broker: nil error, want one")
	}
}

func TestTelemetryEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":                "http://127.0.0.1:8080/v1/telemetry",
		"http://127.0.0.1:8080/":               "http://127.0.0.1:8080/v1/telemetry",
		"https://ingest:443/v1/telemetry":      "https://ingest:443/v1/telemetry",
		"http://127.0.0.1:8080/tenant-a":       "http://127.0.0.1:8080/tenant-a/v1/telemetry",
		"http://127.0.0.1:8080/x/v1/telemetry": "http://127.0.0.1:8080/x/v1/telemetry",
	} {
		got, err := telemetryEndpoint(in)
		if err != nil || got != want {
			t.Errorf("telemetryEndpoint(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestDecodeForwards: the gateway's own encoding is forwarded byte for byte; anything else the
// strict rules accept is encoded again, so that what a publisher wrote beyond the record (spaces,
// a trailing bracket encoding/json's decoder stops before) never reaches a batch.
func TestDecodeForwards(t *testing.T) {
	dev := "0123456789abcdef01234567"
	topic := telemetry.Topic(telemetry.TopicPrefix, dev)
	r := telemetry.Record{Device: dev, Boot: 1, Seq: 7, GatewayTime: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), TempCentiC: -40, SupplyMv: 3300}
	canon, _ := r.AppendJSON(nil)
	for _, tc := range []struct {
		name, payload string
		want          string // the bytes forwarded
	}{
		{"canonical as it came", string(canon), string(canon)},
		{"spaces encoded again", " " + strings.Replace(string(canon), `,"seq"`, `, "seq"`, 1) + "\n", string(canon)},
		{"trailing bracket encoded again", string(canon) + "]", string(canon)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := decode(topic, []byte(tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			if string(q.raw) != tc.want || q.Record != r {
				t.Errorf("decode(%q) forwards %s (%+v), want %s (%+v)", tc.payload, q.raw, q.Record, tc.want, r)
			}
		})
	}
	body := batchBody([]queued{{Record: r, raw: canon}, {Record: r, raw: canon}})
	var got struct{ Records []telemetry.Record }
	if err := json.Unmarshal(body, &got); err != nil || len(got.Records) != 2 || got.Records[1] != r {
		t.Errorf("batchBody = %s: %v, %+v", body, err, got)
	}
}
