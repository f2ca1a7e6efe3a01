package netem

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// echo starts a loopback echo server and returns its address.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(t *testing.T, c net.Conn, msg []byte) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo corrupted: got %d bytes differing from what was sent", len(got))
	}
}

func TestProxyConditions(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := Start(ctx, "127.0.0.1:0", echo(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, []byte("hello"))

	// Latency: a round trip crosses the proxy twice, so it takes at least 2 × latency.
	p.Set(Conditions{Latency: 40 * time.Millisecond})
	start := time.Now()
	roundTrip(t, c, []byte("slow"))
	if rtt := time.Since(start); rtt < 80*time.Millisecond {
		t.Fatalf("round trip %s under 2 × 40ms latency", rtt)
	}

	// Loss: every chunk lost once costs an RTO each way; the bytes still arrive intact. The draw
	// is fixed below any loss rate, so every chunk is lost: the test does not depend on chance.
	p.chance = func() float64 { return 0 }
	p.Set(Conditions{Loss: 0.5})
	lost := p.Stats().Lost
	start = time.Now()
	roundTrip(t, c, []byte("lossy"))
	if rtt := time.Since(start); rtt < 2*RTO {
		t.Fatalf("round trip %s with every chunk lost: want ≥ 2 RTO", rtt)
	}
	if n := p.Stats().Lost - lost; n < 2 {
		t.Fatalf("%d chunks counted lost in a round trip that lost every chunk, want ≥ 2", n)
	}
	p.chance = rand.Float64

	// Bandwidth: 20 KB at 100 KB/s takes at least 0.2 s each way.
	p.Set(Conditions{RateBytes: 100_000})
	start = time.Now()
	roundTrip(t, c, bytes.Repeat([]byte("x"), 20_000))
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("20 KB at 100 KB/s took %s", d)
	}

	// Cut: the open connection is reset and a new one is refused; lifting it restores service.
	p.Set(Conditions{Cut: true})
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read on a cut connection succeeded")
	}
	c2, err := net.Dial("tcp", p.Addr())
	if err == nil {
		c2.SetDeadline(time.Now().Add(5 * time.Second))
		c2.Write([]byte("x"))
		if _, err := c2.Read(make([]byte, 1)); err == nil {
			t.Fatal("a connection made during the cut carried data")
		}
		c2.Close()
	}
	p.Set(Conditions{})
	c3, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	roundTrip(t, c3, []byte("back"))
	s := p.Stats()
	if s.Reset < 1 || s.Refused < 1 || s.Lost < 2 || s.Accepted < 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestConditionsValidate(t *testing.T) {
	for name, c := range map[string]Conditions{
		"negative latency": {Latency: -time.Second},
		"loss of one":      {Loss: 1},
		"negative rate":    {RateBytes: -1},
	} {
		if c.Validate() == nil {
			t.Errorf("%s: Validate accepted %+v", name, c)
		}
	}
}
