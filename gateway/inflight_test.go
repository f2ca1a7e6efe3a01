package gateway

import (
	"context"
	"errors"
	"testing"
	"time"
)

// fakeToken is a publish token the test completes.
type fakeToken struct {
	done chan struct{}
	err  error
}

func newToken() *fakeToken { return &fakeToken{done: make(chan struct{})} }

func (t *fakeToken) complete(err error) { t.err = err; close(t.done) }

func (t *fakeToken) Wait() bool { <-t.done; return true }
func (t *fakeToken) WaitTimeout(d time.Duration) bool {
	select {
	case <-t.done:
		return true
	case <-time.After(d):
		return false
	}
}
func (t *fakeToken) Done() <-chan struct{} { return t.done }
func (t *fakeToken) Error() error          { return t.err }

// TestInflightAccounting: tokens are accounted in publish order, each once — acknowledged,
// failed, or timed out at its deadline or at the end of the shutdown grace.
func TestInflightAccounting(t *testing.T) {
	g, err := New(Config{Port: "/dev/null", BrokerURL: "tcp://127.0.0.1:1", PublishTimeout: 50 * time.Millisecond, Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	var fl inflight
	ok, failed, slow, stuck := newToken(), newToken(), newToken(), newToken()
	fl.add(ok, time.Hour)
	fl.add(slow, 50*time.Millisecond)
	fl.add(failed, time.Hour)
	ok.complete(nil)
	failed.complete(errors.New("refused"))

	fl.reap(g) // ok is counted; slow is not complete and not overdue: it holds the rest in order
	if s := g.Stats(); s.Published != 1 || s.PublishErrors != 0 || s.PublishTimeouts != 0 || len(fl.q) != 2 {
		t.Fatalf("after the first reap: %+v, %d in flight; want 1 published, 2 in flight", s, len(fl.q))
	}
	start := time.Now()
	fl.wait(context.Background(), nil) // returns at slow's deadline
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("wait returned after %s, want about the head's 50 ms deadline", d)
	}
	fl.reap(g)
	if s := g.Stats(); s.Published != 1 || s.PublishErrors != 1 || s.PublishTimeouts != 1 || len(fl.q) != 0 {
		t.Fatalf("after the deadline: %+v, %d in flight; want 1 published, 1 error, 1 timeout", s, len(fl.q))
	}

	fl.add(stuck, time.Hour)
	start = time.Now()
	fl.finish(g) // the shutdown grace, not the hour
	if d := time.Since(start); d < shutdownGrace/2 || d > shutdownGrace+2*time.Second {
		t.Errorf("finish took %s, want about the %s grace", d, shutdownGrace)
	}
	if s := g.Stats(); s.PublishTimeouts != 2 {
		t.Errorf("timeouts %d after finish, want 2", s.PublishTimeouts)
	}
}
