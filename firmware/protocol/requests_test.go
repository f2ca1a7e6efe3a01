package protocol

import "testing"

func TestRequests(t *testing.T) {
	var q Requests
	id1, ch1, end1 := q.Begin()
	id2, ch2, end2 := q.Begin()
	defer end1()
	if id1 == id2 {
		t.Fatalf("two requests share id %d", id1)
	}
	if !q.Deliver(Response{ReqSeq: id2, Op: OpPing}) {
		t.Fatal("the response to a waiting request was not delivered")
	}
	if r := <-ch2; r.ReqSeq != id2 {
		t.Errorf("request %d got the response to %d", id2, r.ReqSeq)
	}
	if q.Deliver(Response{ReqSeq: id2}) {
		t.Error("a duplicate response was delivered twice")
	}
	end2()
	if q.Deliver(Response{ReqSeq: 999}) {
		t.Error("an unsolicited response was delivered")
	}
	select {
	case r := <-ch1:
		t.Errorf("request %d got a response it was not sent: %+v", id1, r)
	default:
	}
	end1()
	if q.Deliver(Response{ReqSeq: id1}) {
		t.Error("a response after the caller stopped waiting was delivered")
	}
}
