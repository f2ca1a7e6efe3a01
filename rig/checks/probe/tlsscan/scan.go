package tlsscan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync/atomic"
	"syscall"
	"time"
)

// Scanner probes one endpoint. Every probe is one TCP connection, one hello and the server's
// clear-text answer, bounded by Timeout; a scan makes at most MaxProbes of them.
type Scanner struct {
	Addr       string // host:port
	ServerName string // SNI; an IP address is never sent
	Timeout    time.Duration
	MaxProbes  int

	used atomic.Int64
}

// Defaults for a zero Scanner field.
const (
	DefaultTimeout   = 3 * time.Second
	DefaultMaxProbes = 160
)

// ErrBudget is returned once a scan has made MaxProbes probes.
var ErrBudget = errors.New("tlsscan: probe budget spent")

// Probe is one hello and its answer, as written to the evidence.
type Probe struct {
	Offered    string   `json:"offered"`
	Suites     int      `json:"suites_offered"`
	Started    string   `json:"started"`
	DurationMs float64  `json:"duration_ms"`
	Reply      Reply    `json:"reply"`
	Negotiated string   `json:"negotiated,omitempty"`
	Suite      string   `json:"cipher_suite,omitempty"`
	Error      string   `json:"error,omitempty"`
	offered    uint16   // version
	suiteIDs   []uint16 // offered suites
}

// Accepted reports whether the server answered the offered version with a ServerHello (or, for
// TLS 1.3, a HelloRetryRequest) for that very version and one of the offered suites.
func (p Probe) Accepted() bool {
	r := p.Reply
	if r.Kind != ReplyServerHello && r.Kind != ReplyHelloRetry {
		return false
	}
	return r.Version == p.offered && slices.Contains(p.suiteIDs, r.Suite)
}

// Reachable reports whether the probe reached a TLS-speaking peer (whatever it answered).
func (p Probe) Reachable() bool {
	switch p.Reply.Kind {
	case ReplyRefusedTCP, ReplyUnreachable, ReplyInterrupted, ReplyLocalFailure:
		return false
	}
	return true
}

// Hello sends one hello and reads the answer.
func (s *Scanner) Hello(ctx context.Context, h Hello) (Probe, error) {
	p := Probe{Offered: VersionName(h.Version), Suites: len(h.Suites), offered: h.Version, suiteIDs: h.Suites}
	max := s.MaxProbes
	if max <= 0 {
		max = DefaultMaxProbes
	}
	if s.used.Add(1) > int64(max) {
		return p, fmt.Errorf("%w (%d probes against %s)", ErrBudget, max, s.Addr)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	start := time.Now()
	p.Started = start.UTC().Format(time.RFC3339Nano)
	defer func() { p.DurationMs = float64(time.Since(start).Microseconds()) / 1000 }()
	if h.ServerName == "" {
		h.ServerName = sniName(s.Addr, s.ServerName)
	}
	msg, err := h.Build()
	if err != nil {
		p.Reply, p.Error = Reply{Kind: ReplyLocalFailure}, err.Error()
		return p, nil
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(pctx, "tcp", s.Addr)
	if err != nil {
		p.Reply, p.Error = Reply{Kind: dialKind(ctx, err)}, err.Error()
		return p, nil
	}
	defer conn.Close()
	deadline, _ := pctx.Deadline()
	_ = conn.SetDeadline(deadline)
	if _, err := conn.Write(msg); err != nil {
		p.Reply, p.Error = Reply{Kind: ReplyClosed}, err.Error()
		return p, nil
	}
	rep, err := ReadReply(conn)
	if err != nil {
		p.Error = err.Error()
		if rep.Kind == ReplyClosed || rep.Kind == "" {
			switch {
			case ctx.Err() != nil:
				rep.Kind = ReplyInterrupted
			case isTimeout(err):
				rep.Kind = ReplyTimeout
			case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
				rep.Kind = ReplyClosed
			}
		}
	}
	p.Reply = rep
	if rep.Kind == ReplyServerHello || rep.Kind == ReplyHelloRetry {
		p.Negotiated, p.Suite = VersionName(rep.Version), SuiteName(rep.Suite)
	}
	return p, nil
}

func dialKind(ctx context.Context, err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReplyRefusedTCP
	case ctx.Err() != nil:
		return ReplyInterrupted
	case isTimeout(err):
		return ReplyTimeout
	}
	return ReplyUnreachable
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) || (errors.As(err, &ne) && ne.Timeout())
}

// sniName is the SNI a device would send: the named server name, else the host of addr when it
// is a name (SNI cannot carry an IP address).
func sniName(addr, serverName string) string {
	if serverName != "" {
		if net.ParseIP(serverName) != nil {
			return ""
		}
		return serverName
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || net.ParseIP(host) != nil {
		return ""
	}
	return host
}

// VersionResult is the verdict on one protocol version.
type VersionResult struct {
	Version  uint16 `json:"-"`
	Name     string `json:"version"`
	Accepted bool   `json:"accepted"`
	// Answer is the reply kind of the probe (server-hello, alert, closed, ...).
	Answer string `json:"answer"`
	Alert  string `json:"alert,omitempty"`
	Probe  Probe  `json:"probe"`
}

// Versions offers each of vs alone, with every suite the scanner knows for it, one probe each.
// It stops early, with an error, when the endpoint cannot be reached at all or the budget is spent.
func (s *Scanner) Versions(ctx context.Context, vs []uint16) ([]VersionResult, error) {
	var out []VersionResult
	for _, v := range vs {
		p, err := s.Hello(ctx, Hello{Version: v, Suites: offerable(v)})
		if err != nil {
			return out, err
		}
		r := VersionResult{Version: v, Name: VersionName(v), Accepted: p.Accepted(), Answer: p.Reply.Kind, Probe: p}
		if p.Reply.Alert != nil {
			r.Alert = p.Reply.Alert.Name
		}
		out = append(out, r)
		if !p.Reachable() {
			return out, fmt.Errorf("tlsscan: %s: %s (%s)", s.Addr, p.Reply.Kind, p.Error)
		}
	}
	return out, nil
}

// AcceptedSuite is a suite the server chose, with the key exchange it used for it.
type AcceptedSuite struct {
	Suite
	KeyExchange *KeyExchange `json:"key_exchange,omitempty"`
}

// SuiteResult lists the suites a server accepted under one version.
type SuiteResult struct {
	Version  string          `json:"version"`
	Accepted []AcceptedSuite `json:"accepted"`
	Probes   int             `json:"probes"`
	Complete bool            `json:"complete"` // the last probe was refused, so nothing else is accepted
	Stopped  string          `json:"stopped,omitempty"`
	Order    []string        `json:"order"` // accepted suite names in the order the server chose them
}

// Suites enumerates the suites accepted under version v: it offers every known suite, removes
// the one the server picks, and repeats until the server refuses (at most one probe per suite
// plus one).
func (s *Scanner) Suites(ctx context.Context, v uint16) (SuiteResult, error) {
	res := SuiteResult{Version: VersionName(v), Accepted: []AcceptedSuite{}, Order: []string{}}
	left := offerable(v)
	for len(left) > 0 {
		p, err := s.Hello(ctx, Hello{Version: v, Suites: left})
		if err != nil {
			res.Stopped = err.Error()
			return res, err
		}
		res.Probes++
		r := p.Reply
		if r.Kind != ReplyServerHello && r.Kind != ReplyHelloRetry {
			res.Complete = r.Kind == ReplyAlert || r.Kind == ReplyClosed
			if !res.Complete {
				res.Stopped = fmt.Sprintf("%s: %s", r.Kind, p.Error)
			}
			return res, nil
		}
		if r.Version != v {
			res.Stopped = fmt.Sprintf("server answered %s to a %s hello", VersionName(r.Version), VersionName(v))
			return res, nil
		}
		i := slices.Index(left, r.Suite)
		if i < 0 {
			res.Stopped = fmt.Sprintf("server chose %s, which was not offered", SuiteName(r.Suite))
			return res, nil
		}
		suite, _ := SuiteByID(r.Suite)
		res.Accepted = append(res.Accepted, AcceptedSuite{Suite: suite, KeyExchange: r.KeyExchange})
		res.Order = append(res.Order, suite.Name)
		left = slices.Delete(left, i, i+1)
	}
	res.Complete = true
	return res, nil
}
