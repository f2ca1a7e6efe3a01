package gateway

import "testing"

// TestQueue: the telemetry queue is a FIFO bounded by its size that allocates only for what it
// holds, reuses the room popped records leave, and gives a burst's memory back once drained.
func TestQueue(t *testing.T) {
	tests := []struct {
		name      string
		max       int
		ops       string // 'p' pushes the next sequence number, 'o' pops
		wantPops  []uint32
		wantDrops int
		wantLen   int
		wantCap   int // capacity after the ops (-1: do not check)
	}{
		{name: "empty allocates nothing", max: 4096, ops: "", wantCap: 0},
		{name: "fifo", max: 8, ops: "pppooo", wantPops: []uint32{0, 1, 2}, wantCap: -1},
		{name: "bounded", max: 2, ops: "pppp", wantDrops: 2, wantLen: 2, wantCap: -1},
		{name: "room after pops", max: 2, ops: "ppopop", wantPops: []uint32{0, 1}, wantLen: 2, wantCap: -1},
		{name: "pop of empty", max: 2, ops: "o", wantCap: 0},
		{name: "steady state keeps a small slice", max: 4096, ops: "popopopo", wantPops: []uint32{0, 1, 2, 3}, wantCap: 1},
		{name: "burst released when drained", max: 4096, ops: "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp" +
			"oooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooo", wantCap: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQueue(tt.max)
			var next uint32
			var pops []uint32
			drops := 0
			for _, op := range tt.ops {
				switch op {
				case 'p':
					if !q.push(pending{seq: next}) {
						drops++
					}
					next++
				case 'o':
					if p, ok := q.pop(); ok {
						pops = append(pops, p.seq)
					}
				}
			}
			if tt.name == "burst released when drained" {
				tt.wantPops = make([]uint32, 64)
				for i := range tt.wantPops {
					tt.wantPops[i] = uint32(i)
				}
			}
			if len(pops) != len(tt.wantPops) {
				t.Fatalf("popped %v, want %v", pops, tt.wantPops)
			}
			for i := range pops {
				if pops[i] != tt.wantPops[i] {
					t.Fatalf("popped %v, want %v", pops, tt.wantPops)
				}
			}
			if drops != tt.wantDrops {
				t.Errorf("%d pushes refused, want %d", drops, tt.wantDrops)
			}
			if got := q.len(); got != tt.wantLen {
				t.Errorf("len %d, want %d", got, tt.wantLen)
			}
			if tt.wantCap >= 0 && cap(q.items) != tt.wantCap {
				t.Errorf("capacity %d, want %d", cap(q.items), tt.wantCap)
			}
		})
	}
}

// TestQueueWakes: a push after the consumer found the queue empty wakes it.
func TestQueueWakes(t *testing.T) {
	q := newQueue(4)
	if _, ok := q.pop(); ok {
		t.Fatal("pop of an empty queue returned a record")
	}
	go q.push(pending{seq: 7})
	<-q.wait()
	p, ok := q.pop()
	if !ok || p.seq != 7 {
		t.Fatalf("pop after wake: %+v %v, want seq 7", p, ok)
	}
}
