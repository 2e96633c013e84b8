package sfu

import (
	"slices"
	"testing"
	"time"
)

// TestRelayUndecodableVersions: a relay end holds the marks it learns
// before the peer's first message, sends them once the peer shows it
// speaks version 2, and never sends the kind to a version 1 peer; marks
// of participants not told to the peer, or gone meanwhile, are not sent.
func TestRelayUndecodableVersions(t *testing.T) {
	for _, tc := range []struct {
		peerV int
		want  []string // participants whose marks are sent
	}{
		{1, nil},
		{2, []string{"PA_a", "PA_a"}},
		{3, []string{"PA_a", "PA_a"}},
	} {
		var sent []RelayMessage
		r := &Relay{exported: map[string]bool{"PA_a": true, "PA_gone": true}}
		r.out = func(m RelayMessage) { sent = append(sent, m) }
		r.exportUndecodable("PA_a", "video/h264")
		r.exportUndecodable("PA_gone", "video/vp9")
		r.exportUndecodable("PA_new", "video/vp9") // its participant_joined carries it
		if len(sent) != 0 {
			t.Fatalf("peer version %d: %d messages before the peer's first, want none held back", tc.peerV, len(sent))
		}
		delete(r.exported, "PA_gone")
		r.peerV = tc.peerV
		r.releaseUndecodable()
		r.exportUndecodable("PA_a", "video/vp9") // once the version is known
		var got []string
		for _, m := range sent {
			if m.Kind != RelayUndecodable || m.V != RelayVersion || len(m.Codecs) != 1 {
				t.Errorf("peer version %d: sent %+v", tc.peerV, m)
			}
			got = append(got, m.ParticipantID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("peer version %d: marks of %v sent, want %v", tc.peerV, got, tc.want)
		}
	}
}

// TestRelayDataDroppedVersions: a relay end reports reliable data it
// dropped for one of its clients to a peer of version 3 or later, at most
// once a second per sender, and never to an older peer, which would take
// the kind for an error.
func TestRelayDataDroppedVersions(t *testing.T) {
	clock := time.Unix(1000, 0)
	for _, tc := range []struct {
		peerV int
		want  []string // "sender>receiver" of the reports sent
	}{
		{2, nil},
		{3, []string{"PA_a>PA_x", "PA_b>PA_x", "PA_a>PA_z"}},
	} {
		var sent []RelayMessage
		r := &Relay{sfu: &SFU{now: func() time.Time { return clock }}, peerV: tc.peerV}
		r.ops.init()
		r.out = func(m RelayMessage) { sent = append(sent, m) }
		r.dataDropped("PA_a", "PA_x")
		r.dataDropped("PA_a", "PA_y") // the same second, the same sender
		r.dataDropped("PA_b", "PA_x")
		clock = clock.Add(time.Second)
		r.dataDropped("PA_a", "PA_z")
		for _, fn := range r.ops.take() {
			fn()
		}
		var got []string
		for _, m := range sent {
			if m.Kind != RelayDataDropped || m.V != RelayVersion {
				t.Errorf("peer version %d: sent %+v", tc.peerV, m)
			}
			got = append(got, m.ParticipantID+">"+m.Receiver)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("peer version %d: reports %v sent, want %v", tc.peerV, got, tc.want)
		}
	}
}
