// Package httpprobe sends the HTTP requests of the ingest probes and records each exchange for
// the evidence, never a credential: the client follows no redirect and takes no proxy from the
// environment, each request is bounded, and an upload the server stops reading still gets its
// answer read.
package httpprobe

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pathrig/rig/rig/checks/probe"
	"github.com/pathrig/rig/rig/evidence"
)

// MaxEvidenceBody bounds how much of a response body the evidence keeps and the probe reads.
const MaxEvidenceBody = 4 << 10

// Exchange is one request and its response as written to the evidence. The Authorization
// header is never copied from the request: it is written as a description of the credential.
type Exchange struct {
	Credential string    `json:"credential"` // none, valid token, wrong token
	Started    time.Time `json:"started"`
	DurationMs float64   `json:"duration_ms"`
	Request    struct {
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	} `json:"request"`
	Response *Response `json:"response,omitempty"`
	Error    string    `json:"error,omitempty"`
	// BodyCutShort: the server stopped reading the request body (it closed the connection while
	// the probe was writing); its answer, if any, was still read.
	BodyCutShort string `json:"body_cut_short,omitempty"`
}

type Response struct {
	Status    int               `json:"status"`
	Proto     string            `json:"proto"`
	Headers   map[string]string `json:"headers"`
	Body      string            `json:"body"`
	Truncated bool              `json:"body_truncated,omitempty"`
}

// Status is the response status, 0 when none came.
func Status(x *Exchange) int {
	if x.Response == nil {
		return 0
	}
	return x.Response.Status
}

// Is2xx reports a 2xx status.
func Is2xx(code int) bool { return code >= 200 && code < 300 }

// Client talks to the named endpoint only: no proxy from the environment, no redirects
// followed (a redirect could lead anywhere), one timeout per request.
func Client(trust *x509.CertPool, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		TLSClientConfig:       &tls.Config{RootCAs: trust, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		DisableKeepAlives:     true,
		ForceAttemptHTTP2:     false,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Post POSTs body as JSON to url with the given credential (a bearer token, "" for none,
// labelled cred in the evidence) and extra request headers, and records the exchange.
func Post(ctx context.Context, client *http.Client, url string, body []byte, cred, token string, timeout time.Duration, extra http.Header) (x Exchange) {
	x = Exchange{Credential: cred, Started: time.Now().UTC()}
	defer func() { x.DurationMs = probe.MsSince(x.Started) }()
	ctx, cancel := probe.Context(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	x.Request.Method, x.Request.URL, x.Request.Body = http.MethodPost, url, string(body)
	if err != nil {
		x.Error = fmt.Sprintf("build request: %v (check the ingest URL)", err)
		return x
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rig-checks/ingest-auth")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range extra {
		req.Header[k] = v
	}
	x.Request.Headers = FlatHeaders(req.Header)
	resp, err := client.Do(req)
	if err != nil {
		x.Error = err.Error()
		return x
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, MaxEvidenceBody+1))
	if err != nil && !errors.Is(err, io.EOF) {
		x.Error = fmt.Sprintf("read response body: %v", err)
	}
	x.Response = &Response{Status: resp.StatusCode, Proto: resp.Proto, Headers: FlatHeaders(resp.Header)}
	if len(got) > MaxEvidenceBody {
		got, x.Response.Truncated = got[:MaxEvidenceBody], true
	}
	x.Response.Body = string(got)
	return x
}

// FlatHeaders copies headers for the evidence, with any credential-bearing header replaced: the
// probe never writes a token itself, redaction by the store is the second line.
func FlatHeaders(h http.Header) map[string]string {
	out := map[string]string{}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := strings.Join(h[k], ", ")
		switch http.CanonicalHeaderKey(k) {
		case "Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie":
			if scheme, _, ok := strings.Cut(v, " "); ok {
				v = scheme + " " + evidence.Redacted
			} else {
				v = evidence.Redacted
			}
		}
		out[k] = v
	}
	return out
}

// peerStoppedReading reports the write errors of a peer that closed its end while the probe was
// still writing: its answer may already be waiting to be read.
func peerStoppedReading(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// lenientWriteConn keeps an early refusal of an upload from turning into a transport error. A
// server that answers 413 and closes while the body is still being written makes the rest of the
// write fail (EPIPE, ECONNRESET); net/http then reports either that write error or the answer,
// whichever it sees first, so the verdict would depend on a race with the server. This
// connection records the failure and discards the rest of what is written, so the transport
// always goes on to read the answer, or to find that none came.
type lenientWriteConn struct {
	net.Conn
	mu      sync.Mutex
	written int64
	stopped error
}

func (c *lenientWriteConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped != nil {
		return len(p), nil
	}
	n, err := c.Conn.Write(p)
	c.written += int64(n)
	if err != nil && peerStoppedReading(err) {
		c.stopped = err
		return len(p), nil
	}
	return n, err
}

// Uploads remembers the connections an upload client dialled.
type Uploads struct {
	mu    sync.Mutex
	conns []*lenientWriteConn
}

// Cut returns the bytes written before the first write failure a connection hid, and that
// failure (nil when none).
func (u *Uploads) Cut() (int64, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, c := range u.conns {
		c.mu.Lock()
		err, n := c.stopped, c.written
		c.mu.Unlock()
		if err != nil {
			return n, err
		}
	}
	return 0, nil
}

// UploadClient is Client for a large body: it waits up to the probe timeout for a
// 100 Continue, and its connections hide a write the server stopped reading (TLS runs on top
// of them, so https URLs get the same treatment).
func UploadClient(trust *x509.CertPool, timeout time.Duration) (*http.Client, *Uploads) {
	c := Client(trust, timeout)
	conns := &Uploads{}
	tr := c.Transport.(*http.Transport)
	tr.ExpectContinueTimeout = timeout
	d := &net.Dialer{Timeout: timeout}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		lc := &lenientWriteConn{Conn: conn}
		conns.mu.Lock()
		conns.conns = append(conns.conns, lc)
		conns.mu.Unlock()
		return lc, nil
	}
	return c, conns
}
