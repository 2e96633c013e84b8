package sfu

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzUnmarshalEvent decodes what another node might send: it never
// panics, refuses with a prefixed ErrBadEvent, and what it accepts
// encodes again and decodes to the same event.
func FuzzUnmarshalEvent(f *testing.F) {
	for _, s := range eventSamples() {
		data, err := MarshalEvent(s.ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, in := range badEventEncodings {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := UnmarshalEvent(data)
		if err != nil {
			if ev != nil || !errors.Is(err, ErrBadEvent) || !strings.HasPrefix(err.Error(), "sfu: ") {
				t.Fatalf("UnmarshalEvent(%q) = %#v, %v", data, ev, err)
			}
			return
		}
		again, err := MarshalEvent(ev)
		if err != nil {
			t.Fatalf("MarshalEvent(%#v) of a decoded event: %v", ev, err)
		}
		ev2, err := UnmarshalEvent(again)
		if err != nil || !reflect.DeepEqual(ev2, ev) {
			t.Fatalf("%q decoded to %#v; encoded again %s, decoded to %#v, %v", data, ev, again, ev2, err)
		}
	})
}
