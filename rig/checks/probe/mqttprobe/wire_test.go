package mqttprobe

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestConnectPacket(t *testing.T) {
	// MQTT 3.1.1 §3.1: fixed header, "MQTT" level 4, clean session, keep-alive 10, client id "rig".
	want := []byte{0x10, 0x0f, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 10, 0, 3, 'r', 'i', 'g'}
	if got := ConnectPacket("rig", 10); !bytes.Equal(got, want) {
		t.Errorf("ConnectPacket = % x, want % x", got, want)
	}
	// A body over 127 bytes needs a two-byte remaining length.
	got := ConnectPacket(string(bytes.Repeat([]byte{'a'}, 200)), 10)
	if got[1] != 0xD4 || got[2] != 0x01 {
		t.Errorf("remaining length = % x, want d4 01 (212)", got[1:3])
	}
}

// connackVectors are raw CONNACKs and what ReadConnack must make of them, malformed ones included.
var connackVectors = []struct {
	name    string
	raw     []byte
	want    Connack
	wantErr error
}{
	{"accepted", []byte{0x20, 0x02, 0x00, 0x00}, Connack{ReturnCode: 0}, nil},
	{"accepted, session present", []byte{0x20, 0x02, 0x01, 0x00}, Connack{SessionPresent: true}, nil},
	{"not authorized", []byte{0x20, 0x02, 0x00, 0x05}, Connack{ReturnCode: 5}, nil},
	{"bad user name or password", []byte{0x20, 0x02, 0x00, 0x04}, Connack{ReturnCode: 4}, nil},
	{"MQTT 5 with properties", []byte{0x20, 0x05, 0x00, 0x87, 0x02, 0x21, 0x00}, Connack{ReturnCode: 0x87}, nil},
	{"TLS alert record", []byte{0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28}, Connack{}, ErrNotConnack},
	{"HTTP", []byte("HTTP/1.1 400 Bad Request\r\n"), Connack{}, ErrNotConnack},
	{"flags set", []byte{0x21, 0x02, 0x00, 0x00}, Connack{}, ErrMalformed},
	{"short body", []byte{0x20, 0x01, 0x00}, Connack{}, ErrMalformed},
	{"huge length", []byte{0x20, 0xff, 0xff, 0xff, 0x7f}, Connack{}, ErrMalformed},
	{"endless length", []byte{0x20, 0xff, 0xff, 0xff, 0xff, 0x01}, Connack{}, ErrMalformed},
	{"bad ack flags", []byte{0x20, 0x02, 0x02, 0x00}, Connack{}, ErrMalformed},
	{"truncated", []byte{0x20, 0x02, 0x00}, Connack{}, io.ErrUnexpectedEOF},
	{"nothing", nil, Connack{}, io.EOF},
}

func TestReadConnack(t *testing.T) {
	for _, tc := range connackVectors {
		t.Run(tc.name, func(t *testing.T) {
			got, raw, err := ReadConnack(bytes.NewReader(tc.raw))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if !bytes.HasPrefix(tc.raw, raw) {
				t.Errorf("raw % x is not what was read from % x", raw, tc.raw)
			}
		})
	}
}

func FuzzReadConnack(f *testing.F) {
	for _, v := range connackVectors {
		f.Add(v.raw)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, raw, err := ReadConnack(bytes.NewReader(b))
		if len(raw) > 5+maxConnackBody {
			t.Fatalf("read %d bytes, more than a bounded CONNACK", len(raw))
		}
		if err == nil && len(raw) < 4 {
			t.Fatalf("accepted a %d-byte CONNACK", len(raw))
		}
	})
}
