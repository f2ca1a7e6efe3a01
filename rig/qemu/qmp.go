package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// qmp is a minimal client of the QEMU Machine Protocol (docs/interop/qmp-spec): one command at a
// time, replies matched in order, asynchronous events kept for waitEvent.
type qmp struct {
	conn    net.Conn
	mu      sync.Mutex // one command on the socket at a time
	replies chan qmpMessage
	events  chan qmpMessage
	done    chan struct{}
	readErr error
}

type qmpMessage struct {
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
	Event string          `json:"event"`
	QMP   json.RawMessage `json:"QMP"`
}

// dialQMP connects to the QMP socket, reads the greeting and leaves capabilities negotiation.
func dialQMP(ctx context.Context, path string) (*qmp, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	q := &qmp{conn: conn, replies: make(chan qmpMessage, 1), events: make(chan qmpMessage, 64), done: make(chan struct{})}
	greeting := make(chan qmpMessage, 1)
	go q.read(greeting)
	select {
	case <-greeting:
	case <-q.done:
		conn.Close()
		return nil, fmt.Errorf("read QMP greeting: %w", q.readErr)
	case <-ctx.Done():
		conn.Close()
		return nil, fmt.Errorf("read QMP greeting: %w", ctx.Err())
	}
	if _, err := q.command(ctx, "qmp_capabilities", nil); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

func (q *qmp) read(greeting chan<- qmpMessage) {
	defer close(q.done)
	sc := bufio.NewScanner(q.conn)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	first := true
	for sc.Scan() {
		m, err := parseQMP(sc.Bytes())
		if err != nil {
			q.readErr = err
			return
		}
		switch {
		case first && m.QMP != nil:
			greeting <- m
		case m.Event != "":
			select {
			case q.events <- m:
			default: // nobody waits for old events; drop rather than block the replies
			}
		default:
			q.replies <- m
		}
		first = false
	}
	q.readErr = sc.Err()
	if q.readErr == nil {
		q.readErr = errors.New("QMP socket closed by QEMU")
	}
}

// parseQMP decodes one line from the QMP socket: a greeting, an event or a reply.
func parseQMP(line []byte) (qmpMessage, error) {
	var m qmpMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return m, fmt.Errorf("QMP: bad message %q: %w", line, err)
	}
	return m, nil
}

// command executes one QMP command and returns its "return" value.
func (q *qmp) command(ctx context.Context, name string, args any) (json.RawMessage, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	req := map[string]any{"execute": name}
	if args != nil {
		req["arguments"] = args
	}
	b, _ := json.Marshal(req)
	if dl, ok := ctx.Deadline(); ok {
		q.conn.SetWriteDeadline(dl)
	} else {
		q.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	}
	if _, err := q.conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("QMP %s: %w", name, err)
	}
	select {
	case m := <-q.replies:
		if m.Error != nil {
			return nil, fmt.Errorf("QMP %s: %s: %s", name, m.Error.Class, m.Error.Desc)
		}
		return m.Return, nil
	case <-q.done:
		return nil, fmt.Errorf("QMP %s: %w", name, q.readErr)
	case <-ctx.Done():
		// The reply may still come and would be taken for the next command's: give up the socket.
		q.conn.Close()
		return nil, fmt.Errorf("QMP %s: no reply, monitor connection closed: %w", name, ctx.Err())
	}
}

// drainEvents forgets the events received so far.
func (q *qmp) drainEvents() {
	for {
		select {
		case <-q.events:
		default:
			return
		}
	}
}

// waitEvent waits for an event by name.
func (q *qmp) waitEvent(ctx context.Context, name string) error {
	for {
		select {
		case m := <-q.events:
			if m.Event == name {
				return nil
			}
		case <-q.done:
			return fmt.Errorf("QMP: wait for event %s: %w", name, q.readErr)
		case <-ctx.Done():
			return fmt.Errorf("QMP: wait for event %s: %w", name, ctx.Err())
		}
	}
}

func (q *qmp) close() error { return q.conn.Close() }
