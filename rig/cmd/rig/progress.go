package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// progress is the operator display on a terminal: one status line, rewritten in place, with the
// current step, check and control and the elapsed time; warnings and errors scroll above it as
// plain lines. Not on a terminal the rig logs plain lines instead (slog's text or JSON handler).
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	start   time.Time
	now     func() time.Time
	step    string
	check   string
	control string
	shown   bool // a status line is on screen
	lines   slog.Handler
	stop    chan struct{}
	done    chan struct{}
}

func newProgress(w io.Writer, level slog.Leveler, now func() time.Time) *progress {
	if now == nil {
		now = time.Now
	}
	return &progress{w: w, now: now, start: now(), lines: slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})}
}

// run redraws the line every tick until Close, so the elapsed time moves while a probe waits.
func (p *progress) run(tick time.Duration) {
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(p.done)
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.mu.Lock()
				if p.step != "" {
					p.draw()
				}
				p.mu.Unlock()
			}
		}
	}()
}

// Close stops the ticker and clears the status line.
func (p *progress) Close() {
	if p.stop != nil {
		close(p.stop)
		<-p.done
		p.stop = nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}

func (p *progress) clear() {
	if p.shown {
		io.WriteString(p.w, "\r\x1b[K")
		p.shown = false
	}
}

func (p *progress) draw() {
	var b strings.Builder
	fmt.Fprintf(&b, "\r\x1b[K[%5.1fs] %s", p.now().Sub(p.start).Seconds(), p.step)
	if p.check != "" {
		fmt.Fprintf(&b, " · check %s", p.check)
	}
	if p.control != "" {
		fmt.Fprintf(&b, " · %s", p.control)
	}
	io.WriteString(p.w, b.String())
	p.shown = true
}

// Handler returns the slog handler that feeds the display.
func (p *progress) Handler() slog.Handler { return &progressHandler{p: p, lines: p.lines} }

type progressHandler struct {
	p     *progress
	attrs []slog.Attr
	lines slog.Handler
}

func (h *progressHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.lines.Enabled(ctx, l)
}

func (h *progressHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &progressHandler{p: h.p, attrs: append(append([]slog.Attr(nil), h.attrs...), as...), lines: h.lines.WithAttrs(as)}
}

func (h *progressHandler) WithGroup(name string) slog.Handler {
	return &progressHandler{p: h.p, attrs: h.attrs, lines: h.lines.WithGroup(name)}
}

func (h *progressHandler) Handle(ctx context.Context, r slog.Record) error {
	p := h.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.Level >= slog.LevelWarn || r.Level < slog.LevelInfo {
		// Warnings, errors (and debug detail with -v) scroll above the status line.
		p.clear()
		err := h.lines.Handle(ctx, r)
		if p.step != "" {
			p.draw()
		}
		return err
	}
	attr := func(key string) string {
		var v string
		for _, a := range h.attrs {
			if a.Key == key {
				v = a.Value.String()
			}
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				v = a.Value.String()
			}
			return true
		})
		return v
	}
	switch check := attr("check"); {
	case r.Message == "control evaluated":
		p.check, p.control = check, attr("control")+" "+attr("status")
	case check != "":
		p.step, p.check, p.control = "evaluating checks", check, ""
	default:
		p.step, p.check, p.control = r.Message, "", ""
	}
	p.draw()
	return nil
}
