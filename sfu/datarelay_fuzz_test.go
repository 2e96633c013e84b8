package sfu

import (
	"bytes"
	"slices"
	"testing"
)

// FuzzRelayDataFrame: a frame between nodes made by appendRelayFrame
// reads back the same, and any bytes at all are read or refused, never
// a panic.
func FuzzRelayDataFrame(f *testing.F) {
	f.Add("PA_1", "topic", "PA_2", []byte("payload"), []byte{4, 'P', 'A', '_', '1', 1, 0, 0})
	f.Add("", "", "", []byte{}, []byte{})
	f.Add("PA_X", "sfu.x", "", []byte{0, 1, 2}, []byte{255})
	f.Fuzz(func(t *testing.T, from, topic, to string, payload, raw []byte) {
		_, _, _ = parseRelayFrame(raw)
		var recipients []string
		if to != "" {
			recipients = []string{to}
		}
		frame, err := appendRelayFrame(nil, from, topic, recipients, payload)
		if err != nil {
			return
		}
		gotFrom, out, err := parseRelayFrame(frame)
		if err != nil {
			t.Fatalf("frame made from %q %q %q %x does not read: %v", from, topic, to, payload, err)
		}
		if gotFrom != from || out.Topic != topic || !slices.Equal(out.To, recipients) || !bytes.Equal(out.Payload, payload) {
			t.Fatalf("read %q %q %q %x, want %q %q %q %x", gotFrom, out.Topic, out.To, out.Payload, from, topic, recipients, payload)
		}
	})
}
