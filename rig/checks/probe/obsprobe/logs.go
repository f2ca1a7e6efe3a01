// Package obsprobe is the probe library of the observability checks: it reads security events
// back from a log (the rig's own JSON lines, rig/secevent, and Mosquitto's log lines), scrapes a
// metrics endpoint with and without credentials, reads an alerts endpoint, and searches any
// bytes for a credential in every encoding a log or a metric may carry it. Every function takes
// plain parameters: the check decides what to inject and what the findings mean.
package obsprobe

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pathrig/rig/rig/infile"
	"github.com/pathrig/rig/rig/secevent"
)

// MaxLogRead bounds how much of a log one read takes: the newest bytes when more was written
// since the mark.
const MaxLogRead = 8 << 20

// Log is what a read of a log found.
type Log struct {
	Path     string           `json:"path"`
	From     int64            `json:"from"`     // byte offset the read started at
	Bytes    int64            `json:"bytes"`    // bytes read
	Lines    int              `json:"lines"`    // lines read
	Events   []secevent.Event `json:"events"`   // lines recognised as security events, in file order
	Unparsed int              `json:"unparsed"` // lines that are neither a secevent line nor a known Mosquitto line
	Format   string           `json:"format"`   // secevent | mosquitto | mixed | unknown | empty
	Raw      []byte           `json:"-"`        // the bytes read (for the secret search)
}

// Mark returns the size of the log at path: read what is written after it with Read. A log that
// does not exist yet marks 0 (the service may create it with its first event).
func Mark(path string) (int64, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("log %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("log %s is not a regular file (name the log file itself)", path)
	}
	return fi.Size(), nil
}

// Read reads the log at path from offset (from the start when the file is now shorter: it was
// rotated), at most max bytes (the newest), and parses it; source names the service the events
// are attributed to when a line does not say (Mosquitto's lines: "broker").
func Read(path string, offset, max int64, source string) (Log, error) {
	out := Log{Path: path, From: offset}
	f, size, err := infile.Open(path, "log file", 1<<50)
	if err != nil {
		return out, err
	}
	defer f.Close()
	if offset > size || offset < 0 {
		offset = 0
	}
	if size-offset > max {
		offset = size - max
	}
	out.From = offset
	data := make([]byte, size-offset)
	if _, err := f.ReadAt(data, offset); err != nil && !errors.Is(err, io.EOF) {
		return out, fmt.Errorf("log %s: read: %w", path, err)
	}
	p := Parse(data, source)
	p.Path, p.From = path, offset
	return p, nil
}

// Parse reads log lines: each is a rig/secevent JSON line or a Mosquitto log line; anything else
// is counted as unparsed. A partial last line (the service is writing it) is left out.
func Parse(data []byte, source string) Log {
	out := Log{Bytes: int64(len(data)), Raw: data, Format: "empty"}
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i+1]
	} else {
		data = nil
	}
	mq := &mosquitto{source: source}
	var jsonLines, mqLines int
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 256<<10)
	for sc.Scan() {
		line := bytes.TrimRight(sc.Bytes(), "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		out.Lines++
		if line[0] == '{' {
			if e, ok := secevent.ParseLine(line); ok {
				if e.Source == "" {
					e.Source = source
				}
				out.Events = append(out.Events, e)
				jsonLines++
				continue
			}
		}
		if e, known := mq.line(string(line)); known {
			mqLines++
			if e != nil {
				out.Events = append(out.Events, *e)
			}
			continue
		}
		out.Unparsed++
	}
	switch {
	case jsonLines > 0 && mqLines > 0:
		out.Format = "mixed"
	case jsonLines > 0:
		out.Format = "secevent"
	case mqLines > 0:
		out.Format = "mosquitto"
	case out.Lines > 0:
		out.Format = "unknown"
	}
	return out
}

// Mosquitto's log lines (2.0, `log_dest file`, `log_timestamp true`, `connection_messages true`),
// as Mosquitto 2.0.11 writes them:
//
//	1733540000: New connection from 127.0.0.1:41234 on port 1883.
//	1733540000: Client <unknown> disconnected, not authorised.
//	1733540000: New client connected from 127.0.0.1:41236 as dev1 (p2, c1, k60, u'dev1').
//	1733540000: Denied PUBLISH from dev1 (d0, q1, r0, m1, 'other/x', ... (1 bytes))   (log_type debug)
//
// A refused CONNECT names no client id in 2.0.11: the refusal is tied to the latest connection
// not yet resolved, whose remote address (host:port) the probe knows as its own local address.
// The timestamp is Unix seconds, or an ISO 8601 time with log_timestamp_format %Y-%m-%dT%H:%M:%S.
var (
	mqStamp     = regexp.MustCompile(`^(\d{9,11}|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)[^ ]*: (.*)$`)
	mqNewConn   = regexp.MustCompile(`^New connection from (\S+) on port \d+\.$`)
	mqConnected = regexp.MustCompile(`^New client connected from (\S+) as (\S+) \(.*?(?:u'([^']*)')?\)\.$`)
	mqNotAuth   = regexp.MustCompile(`^Client (\S+) (?:disconnected, )?(?:.*?)(not authori[sz]ed|bad username or password)`)
	mqDenied    = regexp.MustCompile(`^Denied (PUBLISH|SUBSCRIBE) from (\S+) \(.*?'([^']*)'`)
)

type mosquitto struct {
	source  string
	pending []string // remote addresses of connections not yet connected or refused
}

// line parses one Mosquitto line: the event it records (nil for a known line that records none),
// and whether the line is Mosquitto's at all.
func (m *mosquitto) line(s string) (*secevent.Event, bool) {
	g := mqStamp.FindStringSubmatch(s)
	if g == nil {
		return nil, false
	}
	t, ok := mqTime(g[1])
	if !ok {
		return nil, false
	}
	msg := g[2]
	ev := func(kind secevent.Kind, outcome secevent.Outcome, identity, remote, detail string) *secevent.Event {
		return &secevent.Event{Time: t, Source: m.source, Kind: kind, Identity: identity, Remote: remote, Outcome: outcome, Detail: detail}
	}
	if c := mqNewConn.FindStringSubmatch(msg); c != nil {
		m.pending = append(m.pending, c[1])
		if len(m.pending) > 64 {
			m.pending = m.pending[1:]
		}
		return nil, true
	}
	if c := mqConnected.FindStringSubmatch(msg); c != nil {
		m.resolve(c[1])
		return ev(secevent.AuthSuccess, secevent.Accepted, c[2], c[1], "mosquitto: "+msg), true
	}
	if c := mqNotAuth.FindStringSubmatch(msg); c != nil {
		id := c[1]
		if id == "<unknown>" {
			id = ""
		}
		remote := ""
		if n := len(m.pending); n > 0 {
			remote = m.pending[n-1]
			m.pending = m.pending[:n-1]
		}
		return ev(secevent.AuthFailure, secevent.Refused, id, remote, "mosquitto: "+msg), true
	}
	if c := mqDenied.FindStringSubmatch(msg); c != nil {
		return ev(secevent.ACLDeny, secevent.Refused, c[2], "", strings.ToLower(c[1])+" "+c[3]), true
	}
	return nil, true // a timestamped line of the broker: Mosquitto's, recording no security event
}

func (m *mosquitto) resolve(remote string) {
	for i, p := range m.pending {
		if p == remote {
			m.pending = append(m.pending[:i], m.pending[i+1:]...)
			return
		}
	}
}

func mqTime(s string) (time.Time, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), true
	}
	t, err := time.ParseInLocation("2006-01-02T15:04:05", s, time.Local)
	return t.UTC(), err == nil
}

// Want describes the event an injection must produce.
type Want struct {
	Kind     secevent.Kind
	Identity string    // the marker identity (client id, username, device); "" = any
	Remote   string    // the probe's own address as the service saw it; "" = any
	Since    time.Time // the injection's start
	// Slack is how far before Since an event may be stamped (a log with one-second timestamps,
	// like Mosquitto's, stamps an event up to a second early).
	Slack time.Duration
}

// Match returns the first event that is what w asks for: its kind, stamped at or after the
// injection, naming the identity or coming from the remote address (either suffices: a refused
// Mosquitto CONNECT names only the address), with a source and an outcome.
func Match(events []secevent.Event, w Want) (secevent.Event, bool) {
	for _, e := range events {
		if e.Kind != w.Kind || e.Time.Before(w.Since.Add(-w.Slack)) || e.Source == "" || e.Outcome == "" {
			continue
		}
		switch {
		case w.Identity == "" && w.Remote == "":
			return e, true
		case w.Identity != "" && e.Identity == w.Identity:
			return e, true
		case w.Remote != "" && e.Remote == w.Remote:
			return e, true
		}
	}
	return secevent.Event{}, false
}
