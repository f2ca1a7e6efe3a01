// Package bridge owns the hop from the broker to the ingest: an inline subscription on the mochi
// broker hands every telemetry message to bounded per-device-shard queues, and workers POST
// batches to the ingest with a bearer token, retrying with backoff until the ingest accepts them.
//
// Loss and its limits:
//   - the inline handler runs synchronously in mochi's publish path, on the publishing client's
//     read goroutine; a full queue blocks it (backpressure on that client), nothing is dropped;
//   - mochi sends the QoS 1 PUBACK before subscribers are called, and the queues live in memory:
//     a crash of the process loses what was acknowledged but not yet accepted by the ingest. The
//     rig runs broker and bridge in one process, so "broker up" and "bridge up" fail together;
//   - a payload that is not a valid telemetry record (or names another device than its topic) is
//     not telemetry: it is counted as malformed, logged and dropped;
//   - a record the ingest refuses with 400 after isolation is counted as rejected and dropped, so
//     one bad record cannot wedge a queue.
//
// Records of one device go through one queue and one worker, so the bridge does not reorder a
// device's telemetry.
package bridge

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pathrig/rig/rig/telemetry"
)

// Defaults for the optional Config fields.
const (
	DefaultFilter         = telemetry.TopicPrefix + "/+/telemetry"
	DefaultWorkers        = 4
	DefaultQueueSize      = 1024 // per worker
	DefaultBatchMax       = 100  // ~20 KB of JSON, well under the ingest's 64 KiB default body limit
	DefaultRequestTimeout = 10 * time.Second
	DefaultMinBackoff     = 50 * time.Millisecond
	DefaultMaxBackoff     = 2 * time.Second
)

// Config configures the bridge.
type Config struct {
	IngestURL string         // base URL of the ingest (…/v1/telemetry is appended unless present)
	Token     string         // bearer token; "" = send none
	Trust     *x509.CertPool // roots for an https ingest; nil = system roots
	Log       *slog.Logger   // nil = discard

	Filter         string        // topic filter; DefaultFilter if empty
	Workers        int           // 0 = DefaultWorkers
	QueueSize      int           // per worker; 0 = DefaultQueueSize
	BatchMax       int           // records per POST; 0 = DefaultBatchMax
	RequestTimeout time.Duration // per POST; 0 = DefaultRequestTimeout
	MinBackoff     time.Duration // 0 = DefaultMinBackoff
	MaxBackoff     time.Duration // 0 = DefaultMaxBackoff
}

// Stats are the bridge's counters.
type Stats struct {
	Received   uint64 // messages the broker handed to the bridge
	Malformed  uint64 // not a telemetry record; dropped
	Forwarded  uint64 // records the ingest acknowledged (accepted or duplicate)
	Duplicates uint64 // of Forwarded, those the ingest already had
	Retries    uint64 // failed POST attempts that were retried
	Rejected   uint64 // records the ingest refused permanently (400/413 for a single record)
	Abandoned  uint64 // records still queued or in retry when the bridge stopped
	Pending    int64  // queued or in flight now
}

// Bridge forwards telemetry from an in-process mochi broker to the ingest.
type Bridge struct {
	cfg      Config
	endpoint string
	srv      *mqtt.Server
	subID    int
	client   *http.Client
	log      *slog.Logger
	queues   []chan queued
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	once     sync.Once

	received, malformed, forwarded, duplicates atomic.Uint64
	retries, rejected, abandoned               atomic.Uint64
	pending                                    atomic.Int64
}

// subscriptionIDs keeps inline subscription identifiers unique per process: mochi keys inline
// subscriptions by (id, filter), and two bridges must not unsubscribe each other.
var subscriptionIDs atomic.Int64

func init() { subscriptionIDs.Store(1 << 20) }

// Start subscribes the bridge on srv (which needs Options.InlineClient) and runs its workers
// until Close or until ctx ends.
func Start(ctx context.Context, srv *mqtt.Server, cfg Config) (*Bridge, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = log.With("component", "bridge")
	if srv == nil {
		return nil, errors.New("bridge: no broker (pass the mochi server of the broker, e.g. broker.Server())")
	}
	endpoint, err := telemetryEndpoint(cfg.IngestURL)
	if err != nil {
		return nil, err
	}
	if cfg.Filter == "" {
		cfg.Filter = DefaultFilter
	}
	setDefault(&cfg.Workers, DefaultWorkers)
	setDefault(&cfg.QueueSize, DefaultQueueSize)
	setDefault(&cfg.BatchMax, DefaultBatchMax)
	setDefault(&cfg.RequestTimeout, DefaultRequestTimeout)
	setDefault(&cfg.MinBackoff, DefaultMinBackoff)
	setDefault(&cfg.MaxBackoff, DefaultMaxBackoff)
	if cfg.Workers < 0 || cfg.QueueSize < 0 || cfg.BatchMax < 0 || cfg.MaxBackoff < cfg.MinBackoff {
		return nil, fmt.Errorf("bridge: Workers %d, QueueSize %d, BatchMax %d must not be negative and MaxBackoff %v must be ≥ MinBackoff %v",
			cfg.Workers, cfg.QueueSize, cfg.BatchMax, cfg.MaxBackoff, cfg.MinBackoff)
	}

	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: cfg.Trust, MinVersion: tls.VersionTLS12}
	transport.MaxIdleConnsPerHost = cfg.Workers
	transport.Proxy = nil // the ingest is named by the scenario; an environment proxy must not reroute it

	b := &Bridge{
		cfg:      cfg,
		endpoint: endpoint,
		srv:      srv,
		subID:    int(subscriptionIDs.Add(1)),
		client:   &http.Client{Transport: transport},
		log:      log,
		queues:   make([]chan queued, cfg.Workers),
	}
	b.ctx, b.cancel = context.WithCancel(ctx)
	for i := range b.queues {
		b.queues[i] = make(chan queued, cfg.QueueSize)
		b.wg.Add(1)
		go b.worker(b.queues[i])
	}
	if err := srv.Subscribe(cfg.Filter, b.subID, b.handle); err != nil {
		b.cancel()
		b.wg.Wait()
		return nil, fmt.Errorf("bridge: subscribe %q on the broker: %w (the broker needs Options.InlineClient)", cfg.Filter, err)
	}
	log.Info("bridge started", "filter", cfg.Filter, "ingest", endpoint, "auth", cfg.Token != "",
		"workers", cfg.Workers, "queue_size", cfg.QueueSize)
	return b, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

func telemetryEndpoint(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("bridge: no ingest URL (set Config.IngestURL, e.g. the ingest's URL())")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("bridge: ingest URL %q: want http(s)://host:port", raw)
	}
	if !strings.HasSuffix(u.Path, "/v1/telemetry") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/telemetry"
	}
	return u.String(), nil
}

// queued is one validated record and its JSON as the batch carries it.
type queued struct {
	telemetry.Record
	raw []byte
}

// handle runs in mochi's publish path: decode, validate, then a blocking send.
func (b *Bridge) handle(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
	b.received.Add(1)
	rec, err := decode(pk.TopicName, pk.Payload)
	if err != nil {
		b.malformed.Add(1)
		b.log.Warn("dropped a message that is not telemetry", "topic", pk.TopicName, "bytes", len(pk.Payload), "error", err)
		return
	}
	if b.ctx.Err() != nil {
		b.abandoned.Add(1)
		b.log.Warn("bridge stopped; record not forwarded", "device", rec.Device, "boot", rec.Boot, "seq", rec.Seq)
		return
	}
	q := b.queues[shard(rec.Device, len(b.queues))]
	b.pending.Add(1)
	select {
	case q <- rec:
	case <-b.ctx.Done():
		b.pending.Add(-1)
		b.abandoned.Add(1)
		b.log.Warn("bridge stopped; record not forwarded", "device", rec.Device, "boot", rec.Boot, "seq", rec.Seq)
	}
}

// decode applies the ingest's own rules (strict JSON, Validate) so that what the bridge queues
// is what the ingest accepts, plus one of its own: the record's device must be the topic's. A
// payload in the gateway's own encoding (telemetry.DecodeCanonical) is forwarded as it came, with
// no second encode; any other is encoded again from what was decoded, so that nothing the
// publisher wrote beyond the record reaches the batch.
func decode(topic string, payload []byte) (queued, error) {
	rec, ok := telemetry.DecodeCanonical(payload)
	raw := payload // mochi reads each packet into its own buffer and never reuses it
	if !ok {
		dec := json.NewDecoder(bytes.NewReader(payload))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil {
			return queued{}, fmt.Errorf("not a telemetry record: %w", err)
		}
		if dec.More() {
			return queued{}, errors.New("not a telemetry record: trailing data")
		}
		raw = nil
	}
	if err := rec.Validate(); err != nil {
		return queued{}, err
	}
	if dev := topicDevice(topic); dev != rec.Device {
		return queued{}, fmt.Errorf("record names device %s but was published on the topic of %q", rec.Device, dev)
	}
	if raw == nil {
		var err error
		if raw, err = rec.AppendJSON(nil); err != nil {
			return queued{}, fmt.Errorf("not a telemetry record: %w", err)
		}
	}
	return queued{Record: rec, raw: raw}, nil
}

// topicDevice returns the level before "/telemetry".
func topicDevice(topic string) string {
	rest, ok := strings.CutSuffix(topic, "/telemetry")
	if !ok {
		return ""
	}
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		return rest[i+1:]
	}
	return rest
}

func shard(device string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(device))
	return int(h.Sum32() % uint32(n))
}

func (b *Bridge) worker(q chan queued) {
	defer b.wg.Done()
	batch := make([]queued, 0, b.cfg.BatchMax)
	for {
		batch = batch[:0]
		select {
		case r := <-q:
			batch = append(batch, r)
		case <-b.ctx.Done():
			b.abandonQueue(q)
			return
		}
	fill:
		for len(batch) < b.cfg.BatchMax {
			select {
			case r := <-q:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		b.deliver(batch)
		b.pending.Add(-int64(len(batch)))
	}
}

func (b *Bridge) abandonQueue(q chan queued) {
	for {
		select {
		case <-q:
			b.pending.Add(-1)
			b.abandoned.Add(1)
		default:
			return
		}
	}
}

// deliver POSTs batch until the ingest acknowledges it, splitting on 413/400 to isolate what the
// ingest refuses; it returns early only when the bridge stops.
func (b *Bridge) deliver(batch []queued) {
	backoff := b.cfg.MinBackoff
	failures := 0
	for {
		status, res, err := b.post(batch)
		switch {
		case err == nil && status == http.StatusAccepted:
			b.forwarded.Add(uint64(len(batch)))
			b.duplicates.Add(uint64(res.Duplicates))
			if failures > 0 {
				b.log.Info("ingest reachable again", "failed_attempts", failures)
			}
			return
		case err == nil && (status == http.StatusRequestEntityTooLarge || status == http.StatusBadRequest) && len(batch) > 1:
			half := len(batch) / 2
			b.deliver(batch[:half])
			b.deliver(batch[half:])
			return
		case err == nil && (status == http.StatusRequestEntityTooLarge || status == http.StatusBadRequest):
			b.rejected.Add(1)
			r := batch[0]
			b.log.Error("ingest refused a record; dropped", "status", status, "reason", res.Error,
				"device", r.Device, "boot", r.Boot, "seq", r.Seq)
			return
		}
		if b.ctx.Err() != nil {
			// Shutting down: the request was cancelled, not refused; the batch is abandoned and
			// counted as such, like a batch whose backoff the shutdown cut short.
			b.abandoned.Add(uint64(len(batch)))
			return
		}
		failures++
		b.retries.Add(1)
		level := slog.LevelDebug
		if failures == 1 || status == http.StatusUnauthorized || status == http.StatusForbidden {
			level = slog.LevelWarn // first failure of a run, and every auth failure (a config error)
		}
		b.log.Log(b.ctx, level, "forwarding to the ingest failed; retrying", "status", status, "error", err,
			"reason", res.Error, "records", len(batch), "attempt", failures, "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-b.ctx.Done():
			t.Stop()
			b.abandoned.Add(uint64(len(batch)))
			return
		}
		backoff = min(2*backoff, b.cfg.MaxBackoff)
	}
}

type ingestResponse struct {
	Accepted   int    `json:"accepted"`
	Duplicates int    `json:"duplicates"`
	Error      string `json:"error"`
}

// batchBody is the POST body {"records":[...]}: the records' JSON joined, not encoded again.
func batchBody(batch []queued) []byte {
	n := len(`{"records":[]}`) + len(batch)
	for _, r := range batch {
		n += len(r.raw)
	}
	body := append(make([]byte, 0, n), `{"records":[`...)
	for i, r := range batch {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, r.raw...)
	}
	return append(body, `]}`...)
}

func (b *Bridge) post(batch []queued) (int, ingestResponse, error) {
	var res ingestResponse
	body := batchBody(batch)
	ctx, cancel := context.WithTimeout(b.ctx, b.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, res, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if b.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+b.cfg.Token)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, res, fmt.Errorf("POST %s: %w", b.endpoint, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return resp.StatusCode, res, fmt.Errorf("POST %s: read response: %w", b.endpoint, err)
	}
	if err := json.Unmarshal(raw, &res); err != nil && resp.StatusCode == http.StatusAccepted {
		return resp.StatusCode, res, fmt.Errorf("POST %s: 202 with an unreadable body: %w", b.endpoint, err)
	}
	return resp.StatusCode, res, nil
}

// Drain waits until every record received so far has been acknowledged by the ingest (or
// rejected, or abandoned), or until ctx ends.
func (b *Bridge) Drain(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if b.pending.Load() == 0 {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("bridge: drain: %d records not yet accepted by the ingest at %s: %w",
				b.pending.Load(), b.endpoint, ctx.Err())
		}
	}
}

// Stats returns a snapshot of the counters.
func (b *Bridge) Stats() Stats {
	return Stats{
		Received:   b.received.Load(),
		Malformed:  b.malformed.Load(),
		Forwarded:  b.forwarded.Load(),
		Duplicates: b.duplicates.Load(),
		Retries:    b.retries.Load(),
		Rejected:   b.rejected.Load(),
		Abandoned:  b.abandoned.Load(),
		Pending:    b.pending.Load(),
	}
}

// Close unsubscribes and stops the workers; records not yet accepted are abandoned (counted).
// Call Drain first to forward everything. Safe to call more than once.
func (b *Bridge) Close() error {
	b.once.Do(func() {
		_ = b.srv.Unsubscribe(b.cfg.Filter, b.subID)
		b.cancel()
		b.wg.Wait()
		// A handler racing the cancel may have queued after its worker's last sweep.
		for _, q := range b.queues {
			b.abandonQueue(q)
		}
		b.client.CloseIdleConnections()
		s := b.Stats()
		b.log.Info("bridge stopped", "received", s.Received, "forwarded", s.Forwarded,
			"malformed", s.Malformed, "rejected", s.Rejected, "abandoned", s.Abandoned, "retries", s.Retries)
	})
	return nil
}
