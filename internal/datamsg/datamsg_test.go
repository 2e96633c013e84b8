package datamsg

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func TestOutgoingRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		topic   string
		to      []string
		payload []byte
	}{
		{"chat", nil, []byte("hello")},
		{"", []string{"PA_A", "PA_B"}, nil},
		{"cursor·位置", []string{"PA_X"}, bytes.Repeat([]byte{0}, 1000)},
	} {
		b, err := AppendOutgoing(nil, tc.topic, tc.to, tc.payload)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ParseOutgoing(b)
		if err != nil {
			t.Fatalf("%q: %v", tc.topic, err)
		}
		if m.Topic != tc.topic || !slices.Equal(m.To, tc.to) || !bytes.Equal(m.Payload, tc.payload) {
			t.Errorf("round trip of %q %v %d bytes gave %q %v %d bytes", tc.topic, tc.to, len(tc.payload), m.Topic, m.To, len(m.Payload))
		}
	}
}

func TestDeliveredRoundTrip(t *testing.T) {
	b := AppendDelivered(nil, "PA_SENDER", "files", []byte{1, 2, 3})
	if len(b) != HeaderLen("PA_SENDER", "files")+3 {
		t.Errorf("envelope of %d bytes, HeaderLen says %d + 3", len(b), HeaderLen("PA_SENDER", "files"))
	}
	m, err := ParseDelivered(b)
	if err != nil || m.From != "PA_SENDER" || m.Topic != "files" || !bytes.Equal(m.Payload, []byte{1, 2, 3}) {
		t.Fatalf("got %+v, %v", m, err)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"other version", []byte{2, 0, 0}, ErrVersion},
		{"topic longer than the message", []byte{1, 5, 'a'}, ErrTruncated},
		{"no recipient count", []byte{1, 1, 'a'}, ErrTruncated},
		{"topic not UTF-8", []byte{1, 1, 0xff, 0}, ErrTopic},
		{"empty recipient", []byte{1, 0, 1, 0}, ErrRecipient},
		{"missing recipient", []byte{1, 0, 2, 1, 'a'}, ErrTruncated},
	} {
		if _, err := ParseOutgoing(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := AppendOutgoing(nil, string(make([]byte, 256)), nil, nil); !errors.Is(err, ErrTopic) {
		t.Errorf("a 256-byte topic: %v, want ErrTopic", err)
	}
	if _, err := AppendOutgoing(nil, "t", []string{""}, nil); !errors.Is(err, ErrRecipient) {
		t.Errorf("an empty recipient: %v, want ErrRecipient", err)
	}
}

// FuzzParseOutgoing feeds the server's parser what any client may send:
// it must not panic, and what it accepts must encode back to the input.
func FuzzParseOutgoing(f *testing.F) {
	seed, _ := AppendOutgoing(nil, "chat", []string{"PA_A"}, []byte("hi"))
	f.Add(seed)
	f.Add([]byte{1, 0, 0})
	f.Add([]byte{1, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseOutgoing(b)
		if err != nil {
			return
		}
		again, err := AppendOutgoing(nil, m.Topic, m.To, m.Payload)
		if err != nil {
			t.Fatalf("parsed %+v does not encode: %v", m, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("%x parsed and encoded back as %x", b, again)
		}
	})
}

// FuzzParseDelivered: the Go client parses what a server sends.
func FuzzParseDelivered(f *testing.F) {
	f.Add(AppendDelivered(nil, "PA_A", "t", []byte("x")))
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseDelivered(b)
		if err != nil {
			return
		}
		if again := AppendDelivered(nil, m.From, m.Topic, m.Payload); !bytes.Equal(again, b) {
			t.Fatalf("%x parsed and encoded back as %x", b, again)
		}
	})
}
