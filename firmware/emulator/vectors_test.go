package emulator

import (
	"strconv"
	"testing"
	"time"

	"github.com/pathrig/rig/firmware/protocol"
	"github.com/pathrig/rig/firmware/protocol/vectors"
)

// TestSharedVectors feeds the emulator every shared vector: each good COMMAND vector is answered by
// a RESPONSE to its request id and op, with the vector's status where it names one (answer=); every bad frame is counted in the device's rx_bad (read back
// with STATS), and the device keeps answering.
func TestSharedVectors(t *testing.T) {
	vs, err := vectors.Load(vectors.Path())
	if err != nil {
		t.Fatal(err)
	}
	d, h, _ := startDevice(t, Config{UID: testUID, FW: protocol.FWVersion{Major: 1}, Boot: 3, Interval: time.Hour})
	if f := h.nextOK(); f.Type != protocol.TypeHello {
		t.Fatalf("first frame %s, want HELLO", f.Type)
	}
	commands, bad, answered := 0, 0, 0
	for _, v := range vs {
		if len(v.Wire) == 0 || v.Wire[len(v.Wire)-1] != 0 {
			continue // bytes without a closing delimiter would swallow the next command
		}
		if _, err := h.port.Write(v.Wire); err != nil {
			t.Fatalf("%s: write: %v", v.Name, err)
		}
		// What the device must make of these bytes: the codec's outcomes for the vector.
		var cmdFrames []protocol.Frame
		var dec protocol.Decoder
		dec.Feed(v.Wire, func(f protocol.Frame, err error) {
			switch {
			case err != nil:
				bad++
			case f.Type != protocol.TypeCommand:
				bad++ // a well-formed frame the host must never send is rejected like a bad one
			default:
				cmdFrames = append(cmdFrames, f)
			}
		})
		if len(cmdFrames) != 1 {
			continue
		}
		f := cmdFrames[0]
		cmd, err := protocol.ParseCommand(f.Body)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		commands++
		deadline := time.Now().Add(2 * time.Second)
		for {
			rf := h.nextOK()
			if rf.Type != protocol.TypeResponse {
				continue
			}
			r, err := protocol.ParseResponse(rf.Body)
			if err != nil {
				t.Fatalf("%s: response: %v", v.Name, err)
			}
			if r.ReqSeq == f.Seq && r.Op == cmd.Op {
				if want, ok := v.Fields["answer"]; ok && want != strconv.Itoa(int(r.Status)) {
					t.Errorf("%s: status %s, the vector's answer is %s", v.Name, r.Status, want)
				}
				if _, ok := v.Fields["answer"]; ok {
					answered++
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no RESPONSE to request %d op %s", v.Name, f.Seq, cmd.Op)
			}
		}
	}
	if commands < 3 || answered < 4 {
		t.Fatalf("only %d COMMAND vectors answered (%d with an expected status); the shared set should have more", commands, answered)
	}
	// Wait until the device has seen every rejected frame, then check its own counter.
	deadline := time.Now().Add(2 * time.Second)
	for d.Stats().RxBad < uint32(bad) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := d.Stats().RxBad; got != uint32(bad) {
		t.Errorf("device rx_bad = %d, want %d (one per malformed frame and per non-command frame)", got, bad)
	}
}
