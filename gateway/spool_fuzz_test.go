package gateway

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzSpoolEntry: an entry read back from the spool file decodes into the topic and payload it
// was written with (the append encoding: topic length, topic, payload), or is skipped; the
// result never aliases bbolt's memory, and never a crash.
func FuzzSpoolEntry(f *testing.F) {
	f.Fuzz(func(t *testing.T, key, value []byte) {
		key, value = bytes.Clone(key), bytes.Clone(value) // flipped below; the fuzzer may share them
		it, ok := decodeSpooled(key, value)
		if !ok {
			if len(value) >= 2 && int(binary.BigEndian.Uint16(value)) <= len(value)-2 {
				t.Fatalf("well-formed entry %x skipped", value)
			}
			return
		}
		enc := binary.BigEndian.AppendUint16(nil, uint16(len(it.topic)))
		enc = append(append(enc, it.topic...), it.payload...)
		if !bytes.Equal(enc, value) || !bytes.Equal(it.key, key) {
			t.Fatalf("%x under %x decoded to %+v", value, key, it)
		}
		for i := range value {
			value[i] ^= 0xff // bbolt reuses its pages after the transaction
		}
		for i := range key {
			key[i] ^= 0xff
		}
		if !bytes.Equal(enc[2+len(it.topic):], it.payload) || (len(key) > 0 && bytes.Equal(it.key, key)) {
			t.Fatalf("the decoded entry changed with the bytes it was read from")
		}
	})
}
