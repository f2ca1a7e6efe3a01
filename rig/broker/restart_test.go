package broker

import (
	"context"
	"testing"
)

// TestRestartSamePort: a restarted broker listens on the same addresses and serves clients again.
func TestRestartSamePort(t *testing.T) {
	f := newFixture(t)
	b := start(t, f.exposed(t))
	plain, tlsAddr := b.PlainAddr(), b.TLSAddr()
	c := mustConnect(t, dial{url: "tcp://" + plain, id: "before"})
	c.Disconnect(0)
	nb, err := b.Restart(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nb.Close() })
	if nb.PlainAddr() != plain || nb.TLSAddr() != tlsAddr {
		t.Fatalf("restarted on %s %s, want %s %s", nb.PlainAddr(), nb.TLSAddr(), plain, tlsAddr)
	}
	c = mustConnect(t, dial{url: "tcp://" + plain, id: "after"})
	c.Disconnect(0)
	if _, err := connect(t, dial{url: "tcp://" + plain, id: "x"}); err != nil {
		t.Fatalf("connect after restart: %v", err)
	}
}
