package protocol

import (
	"context"
	"errors"
	"testing"
	"time"
)

// answering returns a Session whose device answers each COMMAND at once with answer's response.
func answering(t *testing.T, answer func(Command) Response) *Session {
	s := &Session{Timeout: time.Second}
	s.Write = func(wire []byte) error {
		f, err := Decode(wire)
		if err != nil {
			t.Fatalf("session wrote a bad frame: %v", err)
		}
		c, err := ParseCommand(f.Body)
		if err != nil {
			t.Fatal(err)
		}
		r := answer(c)
		r.ReqSeq, r.Op = f.Seq, c.Op
		go s.Deliver(r) // as a read loop would, after the write returned
		return nil
	}
	return s
}

// TestSessionReplay: Replay sends REPLAY with boot and from_seq and returns the announced count;
// an older device's status 1 is a *CommandError the caller can tell apart.
func TestSessionReplay(t *testing.T) {
	var got Command
	s := answering(t, func(c Command) Response {
		got = c
		return Response{Data: MarshalReplay(12)}
	})
	n, err := s.Replay(context.Background(), 7, 59)
	if err != nil || n != 12 {
		t.Fatalf("Replay = %d, %v; want 12", n, err)
	}
	if boot, from, ok := got.ReplayOf(); !ok || boot != 7 || from != 59 {
		t.Fatalf("device got %s %x, want REPLAY boot 7 from 59", got.Op, got.Args)
	}

	old := answering(t, func(Command) Response { return Response{Status: StatusUnknownOp} })
	_, err = old.Replay(context.Background(), 7, 59)
	var ce *CommandError
	if !errors.As(err, &ce) || ce.Status != StatusUnknownOp || ce.Op != OpReplay {
		t.Fatalf("old device: %v, want a CommandError with status unknown_op", err)
	}

	short := answering(t, func(Command) Response { return Response{Data: []byte{1}} })
	if _, err := short.Replay(context.Background(), 7, 59); Reason(err) != ReasonBodyLength {
		t.Fatalf("1-byte data: %v, want body_length", err)
	}
}

// TestSessionSetIntervalWholeMilliseconds: SET_INTERVAL carries whole milliseconds; a period it
// cannot carry is refused before anything is sent (500µs rounded down would be 0: telemetry off).
func TestSessionSetIntervalWholeMilliseconds(t *testing.T) {
	for _, tc := range []struct {
		d      time.Duration
		wantMs uint16
		ok     bool
	}{
		{0, 0, true},
		{time.Millisecond, 1, true},
		{1500 * time.Millisecond, 1500, true},
		{500 * time.Microsecond, 0, false},
		{1500 * time.Microsecond, 0, false},
		{65536 * time.Millisecond, 0, false},
		{-time.Millisecond, 0, false},
	} {
		sent := false
		var got uint16
		s := answering(t, func(c Command) Response {
			sent = true
			got, _ = c.IntervalMs()
			return Response{}
		})
		err := s.SetInterval(context.Background(), tc.d)
		if tc.ok && (err != nil || got != tc.wantMs) {
			t.Errorf("SetInterval(%s) = %v, device got %d ms; want %d ms", tc.d, err, got, tc.wantMs)
		}
		if !tc.ok && (err == nil || sent) {
			t.Errorf("SetInterval(%s) = %v, sent %t; want refused before sending", tc.d, err, sent)
		}
	}
}
