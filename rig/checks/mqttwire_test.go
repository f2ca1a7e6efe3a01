package checks

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestConnectPacket(t *testing.T) {
	// MQTT 3.1.1 §3.1: fixed header, "MQTT" level 4, clean session, keep-alive 10, client id "rig".
	want := []byte{0x10, 0x0f, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 10, 0, 3, 'r', 'i', 'g'}
	if got := connectPacket("rig", 10); !bytes.Equal(got, want) {
		t.Errorf("connectPacket = % x, want % x", got, want)
	}
	// A body over 127 bytes needs a two-byte remaining length.
	got := connectPacket(string(bytes.Repeat([]byte{'a'}, 200)), 10)
	if got[1] != 0xD4 || got[2] != 0x01 {
		t.Errorf("remaining length = % x, want d4 01 (212)", got[1:3])
	}
}

// connackVectors are raw CONNACKs and what readConnack must make of them, malformed ones included.
var connackVectors = []struct {
	name    string
	raw     []byte
	want    connack
	wantErr error
}{
	{"accepted", []byte{0x20, 0x02, 0x00, 0x00}, connack{ReturnCode: 0}, nil},
	{"accepted, session present", []byte{0x20, 0x02, 0x01, 0x00}, connack{SessionPresent: true}, nil},
	{"not authorized", []byte{0x20, 0x02, 0x00, 0x05}, connack{ReturnCode: 5}, nil},
	{"bad user name or password", []byte{0x20, 0x02, 0x00, 0x04}, connack{ReturnCode: 4}, nil},
	{"MQTT 5 with properties", []byte{0x20, 0x05, 0x00, 0x87, 0x02, 0x21, 0x00}, connack{ReturnCode: 0x87}, nil},
	{"TLS alert record", []byte{0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28}, connack{}, errNotConnack},
	{"HTTP", []byte("HTTP/1.1 400 Bad Request\r\n"), connack{}, errNotConnack},
	{"flags set", []byte{0x21, 0x02, 0x00, 0x00}, connack{}, errMalformed},
	{"short body", []byte{0x20, 0x01, 0x00}, connack{}, errMalformed},
	{"huge length", []byte{0x20, 0xff, 0xff, 0xff, 0x7f}, connack{}, errMalformed},
	{"endless length", []byte{0x20, 0xff, 0xff, 0xff, 0xff, 0x01}, connack{}, errMalformed},
	{"bad ack flags", []byte{0x20, 0x02, 0x02, 0x00}, connack{}, errMalformed},
	{"truncated", []byte{0x20, 0x02, 0x00}, connack{}, io.ErrUnexpectedEOF},
	{"nothing", nil, connack{}, io.EOF},
}

func TestReadConnack(t *testing.T) {
	for _, tc := range connackVectors {
		t.Run(tc.name, func(t *testing.T) {
			got, raw, err := readConnack(bytes.NewReader(tc.raw))
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
		_, raw, err := readConnack(bytes.NewReader(b))
		if len(raw) > 5+maxConnackBody {
			t.Fatalf("read %d bytes, more than a bounded CONNACK", len(raw))
		}
		if err == nil && len(raw) < 4 {
			t.Fatalf("accepted a %d-byte CONNACK", len(raw))
		}
	})
}
