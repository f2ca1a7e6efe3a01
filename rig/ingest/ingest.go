// Package ingest owns the reference HTTP ingest of the rig and its durable store: the last hop of
// the path, where telemetry records are authenticated, validated and stored exactly once per
// (device, boot, seq) in a bbolt file that is committed before the ingest answers 202.
//
// API:
//
//	POST /v1/telemetry  one telemetry.Record, or {"records":[...]}  → 202 {"accepted":n,"duplicates":m}
//	GET  /v1/stats      per (device, boot) counters and rejected requests by reason
//
// With bearer tokens configured both need "Authorization: Bearer <token>" (else 401 with
// WWW-Authenticate: Bearer). Bad JSON or an invalid record → 400 naming the field; a body over
// MaxBody → 413; another method → 405. Every error body is {"error": "..."}. Nothing logs a token
// or the Authorization header.
package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pathrig/rig/rig/secevent"
	"github.com/pathrig/rig/rig/telemetry"
)

// Defaults for the optional Config fields.
const (
	DefaultMaxBody  = 64 << 10
	DefaultMaxBatch = 1000
	// PathTelemetry and PathStats are the endpoints, relative to URL().
	PathTelemetry = "/v1/telemetry"
	PathStats     = "/v1/stats"
)

// Rejection reasons, the keys of Rejected() and of "rejected" in /v1/stats.
const (
	ReasonUnauthorized     = "unauthorized"
	ReasonMethodNotAllowed = "method_not_allowed"
	ReasonNotFound         = "not_found"
	ReasonTooLarge         = "too_large"
	ReasonMalformed        = "malformed" // not JSON, or JSON of the wrong shape or types
	ReasonInvalid          = "invalid"   // well-formed record that fails telemetry validation
	ReasonStoreError       = "store_error"
)

// Config is the ingest part of a hardening profile.
type Config struct {
	Addr      string      // "127.0.0.1:0"
	TLS       *tls.Config // nil = plaintext HTTP; cloned
	Tokens    []string    // accepted bearer tokens; empty = no auth (the exposed state)
	StorePath string      // bbolt file
	MaxBody   int64       // default 64 KiB → 413 beyond
	MaxBatch  int         // records per request; default 1000 → 400 beyond
	Now       func() time.Time
	Log       *slog.Logger
	// Events receives the ingest's security events (events.go); nil records none.
	Events *secevent.Log
	// ClockSkewBound, when set, reports a gateway clock further off the ingest's than this
	// (events.go); 0 = no detection.
	ClockSkewBound time.Duration
}

// Server is a running ingest.
type Server struct {
	cfg       Config
	store     *Store
	http      *http.Server
	ln        net.Listener
	url       string
	tokens    [][32]byte
	log       *slog.Logger
	closeOnce sync.Once
	closeErr  error
	stopCtx   func() bool
	served    chan struct{}

	mu       sync.Mutex
	rejected map[string]uint64
	requests uint64 // accepted POSTs

	obs observer // events.go
}

// Start opens the store, binds Addr and serves until Close or until ctx ends.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = log.With("component", "ingest")
	if cfg.Addr == "" {
		return nil, errors.New("ingest: no address (set Config.Addr, e.g. 127.0.0.1:0)")
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxBody < 0 {
		return nil, fmt.Errorf("ingest: MaxBody %d is negative (0 = default %d)", cfg.MaxBody, DefaultMaxBody)
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.MaxBatch < 0 {
		return nil, fmt.Errorf("ingest: MaxBatch %d is negative (0 = default %d)", cfg.MaxBatch, DefaultMaxBatch)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, log: log, rejected: map[string]uint64{}, served: make(chan struct{})}
	for i, t := range cfg.Tokens {
		if t == "" {
			return nil, fmt.Errorf("ingest: token %d is empty (remove it; no tokens means no auth)", i)
		}
		s.tokens = append(s.tokens, sha256.Sum256([]byte(t)))
	}
	if cfg.TLS != nil && len(cfg.TLS.Certificates) == 0 && cfg.TLS.GetCertificate == nil && cfg.TLS.GetConfigForClient == nil {
		return nil, errors.New("ingest: TLS configured without a server certificate (set TLS.Certificates)")
	}

	store, err := OpenStore(cfg.StorePath)
	if err != nil {
		return nil, err
	}
	s.store = store
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		_ = store.Close()
		return nil, fmt.Errorf("ingest: listen %s: %w (pick a free port or 127.0.0.1:0)", cfg.Addr, err)
	}
	scheme := "http"
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS.Clone())
		scheme = "https"
	}
	s.ln = ln
	s.url = scheme + "://" + ln.Addr().String()

	mux := http.NewServeMux()
	mux.HandleFunc(PathTelemetry, s.handleTelemetry)
	mux.HandleFunc(PathStats, s.handleStats)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.reject(w, r, http.StatusNotFound, ReasonNotFound, "no such endpoint "+r.URL.Path)
	})
	s.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		// Handshake failures of TLS probes land here; they are expected during an audit.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(s.served)
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("ingest stopped serving", "error", err)
		}
	}()
	s.stopCtx = context.AfterFunc(ctx, func() { _ = s.Close() })
	log.Info("ingest started", "url", s.url, "auth", len(s.tokens) > 0, "store", cfg.StorePath, "max_body", cfg.MaxBody)
	return s, nil
}

// URL returns the base URL, e.g. http://127.0.0.1:41234; endpoints are under PathTelemetry and
// PathStats.
func (s *Server) URL() string { return s.url }

// Store returns the store, for accounting in process.
func (s *Server) Store() *Store { return s.store }

// Rejected returns the count of rejected requests by reason.
func (s *Server) Rejected() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]uint64, len(s.rejected))
	for k, v := range s.rejected {
		out[k] = v
	}
	return out
}

// Close stops serving (waiting up to 5 s for requests in progress, whose stores complete) and
// closes the store. Safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.stopCtx != nil {
			s.stopCtx()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.http.Shutdown(ctx); err != nil {
			_ = s.http.Close()
		}
		<-s.served
		s.closeErr = s.store.Close()
		s.log.Info("ingest stopped")
	})
	return s.closeErr
}

func (s *Server) handleTelemetry(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.reject(w, r, http.StatusMethodNotAllowed, ReasonMethodNotAllowed, "method "+r.Method+" not allowed (use POST)")
		return
	}
	if !s.authorized(w, r) {
		return
	}
	if r.ContentLength > s.cfg.MaxBody {
		s.reject(w, r, http.StatusRequestEntityTooLarge, ReasonTooLarge,
			fmt.Sprintf("body of %d bytes exceeds the limit of %d", r.ContentLength, s.cfg.MaxBody))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.reject(w, r, http.StatusRequestEntityTooLarge, ReasonTooLarge,
				fmt.Sprintf("body exceeds the limit of %d bytes", s.cfg.MaxBody))
			return
		}
		s.reject(w, r, http.StatusBadRequest, ReasonMalformed, "read body: "+err.Error())
		return
	}
	recs, reason, err := parseRecords(body, s.cfg.MaxBatch)
	if err != nil {
		s.reject(w, r, http.StatusBadRequest, reason, err.Error())
		return
	}
	s.observeSkew(recs, s.cfg.Now())
	accepted, dups, err := s.store.Put(recs, s.cfg.Now())
	if err != nil {
		s.log.Error("store failed", "error", err, "records", len(recs))
		s.reject(w, r, http.StatusInternalServerError, ReasonStoreError, "store unavailable")
		return
	}
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
	s.log.Debug("telemetry accepted", "remote", r.RemoteAddr, "accepted", accepted, "duplicates", dups)
	writeJSON(w, http.StatusAccepted, map[string]int{"accepted": accepted, "duplicates": dups})
}

// StatsResponse is the body of GET /v1/stats.
type StatsResponse struct {
	Devices          []DeviceStats     `json:"devices"`
	Rejected         map[string]uint64 `json:"rejected"`
	AcceptedRequests uint64            `json:"accepted_requests"`
}

func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.reject(w, r, http.StatusMethodNotAllowed, ReasonMethodNotAllowed, "method "+r.Method+" not allowed (use GET)")
		return
	}
	if !s.authorized(w, r) {
		return
	}
	streams, err := s.store.Stats()
	if err != nil {
		s.log.Error("stats failed", "error", err)
		s.reject(w, r, http.StatusInternalServerError, ReasonStoreError, "store unavailable")
		return
	}
	if streams == nil {
		streams = []DeviceStats{}
	}
	s.mu.Lock()
	n := s.requests
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, StatsResponse{Devices: streams, Rejected: s.Rejected(), AcceptedRequests: n})
}

// authorized checks the bearer token in constant time against every configured token, so neither
// the position of a match nor a token's length shows in the timing.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if len(s.tokens) == 0 {
		return true
	}
	h := r.Header.Get("Authorization")
	scheme, tok, found := strings.Cut(h, " ")
	if h == "" || !found || !strings.EqualFold(scheme, "Bearer") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rig-ingest"`)
		s.reject(w, r, http.StatusUnauthorized, ReasonUnauthorized, "bearer token required")
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	match := 0
	for _, want := range s.tokens {
		match |= subtle.ConstantTimeCompare(got[:], want[:])
	}
	if match != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rig-ingest", error="invalid_token"`)
		s.reject(w, r, http.StatusUnauthorized, ReasonUnauthorized, "invalid bearer token")
		return false
	}
	return true
}

func (s *Server) reject(w http.ResponseWriter, r *http.Request, status int, reason, msg string) {
	s.mu.Lock()
	s.rejected[reason]++
	s.mu.Unlock()
	s.refusedEvent(r, status, reason)
	// Method, path and remote only: headers (Authorization) and bodies stay out of the log.
	s.log.Debug("request rejected", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr,
		"status", status, "reason", reason, "detail", msg)
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// parseRecords decodes one record or {"records":[...]}, strictly: unknown fields, trailing data
// and wrong types are errors naming the field, so a gateway bug shows up as a 400 with a reason
// rather than as silently half-read telemetry.
func parseRecords(body []byte, maxBatch int) ([]telemetry.Record, string, error) {
	body = bytes.TrimSpace(body)
	if recs, ok := parseCanonicalBatch(body, maxBatch); ok {
		return recs, "", nil
	}
	if len(body) == 0 {
		return nil, ReasonMalformed, errors.New("empty body (want a telemetry record or {\"records\":[...]})")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, ReasonMalformed, fmt.Errorf("body: %s", describeJSONError(err))
	}
	if top == nil {
		return nil, ReasonMalformed, errors.New("body: want a JSON object, got null")
	}
	if raw, ok := top["records"]; ok {
		for k := range top {
			if k != "records" {
				return nil, ReasonMalformed, fmt.Errorf("field %s: not allowed beside records", k)
			}
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil || items == nil {
			return nil, ReasonMalformed, errors.New("field records: want an array of telemetry records")
		}
		if len(items) == 0 {
			return nil, ReasonMalformed, errors.New("field records: empty batch")
		}
		if len(items) > maxBatch {
			return nil, ReasonMalformed, fmt.Errorf("field records: %d records exceed the batch limit of %d", len(items), maxBatch)
		}
		recs := make([]telemetry.Record, len(items))
		for i, it := range items {
			r, reason, err := decodeRecord(it)
			if err != nil {
				return nil, reason, fmt.Errorf("records[%d]: %w", i, err)
			}
			recs[i] = r
		}
		return recs, "", nil
	}
	r, reason, err := decodeRecord(body)
	if err != nil {
		return nil, reason, err
	}
	return []telemetry.Record{r}, "", nil
}

// parseCanonicalBatch reads {"records":[r,r,...]} whose records are each in the gateway's own
// encoding (telemetry.DecodeCanonical), as the bridge sends them, without reflection; ok is false
// for any other body, which the strict decoder then reads (and explains when it refuses it).
func parseCanonicalBatch(body []byte, maxBatch int) (recs []telemetry.Record, ok bool) {
	rest, found := bytes.CutPrefix(body, []byte(`{"records":[`))
	if !found {
		return nil, false
	}
	if rest, found = bytes.CutSuffix(rest, []byte(`]}`)); !found {
		return nil, false
	}
	recs = make([]telemetry.Record, 0, bytes.Count(rest, []byte("},{"))+1)
	for len(rest) > 0 && len(recs) < maxBatch {
		end := bytes.IndexByte(rest, '}') // a canonical record holds no other brace
		if end < 0 {
			return nil, false
		}
		r, ok := telemetry.DecodeCanonical(rest[:end+1])
		if !ok || r.Validate() != nil {
			return nil, false
		}
		recs = append(recs, r)
		rest = rest[end+1:]
		if len(rest) > 0 {
			if rest[0] != ',' || len(rest) == 1 {
				return nil, false
			}
			rest = rest[1:]
		}
	}
	if len(rest) > 0 || len(recs) == 0 {
		return nil, false // over the batch limit, or empty: the strict path says which
	}
	return recs, true
}

func decodeRecord(b []byte) (telemetry.Record, string, error) {
	var r telemetry.Record
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, ReasonMalformed, errors.New(describeJSONError(err))
	}
	if dec.More() {
		return r, ReasonMalformed, errors.New("trailing data after the record")
	}
	if err := r.Validate(); err != nil {
		return r, ReasonInvalid, err
	}
	return r, "", nil
}

// describeJSONError turns encoding/json errors into "field X: ..." where it can.
func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return fmt.Sprintf("want a JSON object, got %s", typeErr.Value)
		}
		return fmt.Sprintf("field %s: want %s, got JSON %s", field, typeErr.Type, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("malformed JSON at byte %d: %v", syntaxErr.Offset, err)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "truncated JSON"
	}
	var timeErr *time.ParseError
	if errors.As(err, &timeErr) {
		return "field gateway_time: want an RFC 3339 time: " + err.Error()
	}
	// encoding/json has no error type for an unknown field; only the message is reshaped here,
	// the request is malformed either way.
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "field " + strings.Trim(f, `"`) + ": unknown"
	}
	return msg
}
