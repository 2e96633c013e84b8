package sfu_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/sfu-project/sfu/sfu"
)

func validRelayMessages() []sfu.RelayMessage {
	video := &sfu.RelayTrackInfo{ID: "TR_v", Kind: "video", Source: "screen", Layers: []sfu.RelayLayer{{Layer: 0, RID: "q", SSRC: 1}, {Layer: 2, RID: "f", SSRC: 3}}}
	return []sfu.RelayMessage{
		{V: 1, Kind: sfu.RelayParticipantJoined, Participant: &sfu.ParticipantInfo{ID: "PA_a", Identity: "alice", Name: "Alice"}},
		{V: 1, Kind: sfu.RelayParticipantLeft, ParticipantID: "PA_a"},
		{V: 1, Kind: sfu.RelayTrack, ParticipantID: "PA_a", Track: video},
		{V: 1, Kind: sfu.RelayTrack, ParticipantID: "PA_a", Track: &sfu.RelayTrackInfo{ID: "TR_a", Kind: "audio", Muted: true, Layers: []sfu.RelayLayer{{SSRC: 7}}}},
		{V: 1, Kind: sfu.RelayTrackUnpublished, ParticipantID: "PA_a", TrackID: "TR_v"},
		{V: 1, Kind: sfu.RelayTrackMuted, ParticipantID: "PA_a", Track: &sfu.RelayTrackInfo{ID: "TR_a", Kind: "audio", Muted: true}},
		{V: 1, Kind: sfu.RelayOffer, SDP: "v=0"},
		{V: 1, Kind: sfu.RelayAnswer, SDP: "v=0"},
		{V: 1, Kind: sfu.RelayLayers, TrackID: "TR_v", Active: map[string]bool{"q": true, "f": false}},
		{V: 2, Kind: sfu.RelayParticipantJoined, Participant: &sfu.ParticipantInfo{ID: "PA_b", Identity: "bob"}, Codecs: []string{"video/h264", "video/vp9"}},
		{V: 2, Kind: sfu.RelayUndecodable, ParticipantID: "PA_b", Codecs: []string{"video/h264"}},
		{V: 3, Kind: sfu.RelayDataDropped, ParticipantID: "PA_a", Receiver: "PA_b"},
		{V: 1, Kind: sfu.RelayBye},
		{V: 4, Kind: sfu.RelayBye}, // a newer node's message of a known kind
	}
}

// TestRelayMessageRoundTrip: every kind of message survives encoding and
// DecodeRelayMessage as it was.
func TestRelayMessageRoundTrip(t *testing.T) {
	for _, m := range validRelayMessages() {
		data, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sfu.DecodeRelayMessage(data)
		if err != nil {
			t.Errorf("%s: %v", data, err)
			continue
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%s decoded as %+v", data, got)
		}
	}
	// Fields a newer node added are ignored.
	if _, err := sfu.DecodeRelayMessage([]byte(`{"v":3,"kind":"bye","reason":"new"}`)); err != nil {
		t.Errorf("a bye with an unknown field: %v", err)
	}
}

// TestRelayMessageRefused: what is not a well-formed message of a known
// kind is refused with ErrBadRelayMessage.
func TestRelayMessageRefused(t *testing.T) {
	long := strings.Repeat("x", 200)
	cases := map[string]string{
		"not JSON":              `{"v":1,`,
		"not an object":         `[1]`,
		"no version":            `{"kind":"bye"}`,
		"unknown kind":          `{"v":1,"kind":"teleport"}`,
		"no kind":               `{"v":1}`,
		"joined without who":    `{"v":1,"kind":"participant_joined"}`,
		"joined without ID":     `{"v":1,"kind":"participant_joined","participant":{"ID":""}}`,
		"long identity":         `{"v":1,"kind":"participant_joined","participant":{"ID":"PA_a","Identity":"` + long + `"}}`,
		"left without ID":       `{"v":1,"kind":"participant_left"}`,
		"track without layers":  `{"v":1,"kind":"track","participantId":"PA_a","track":{"id":"TR_v","kind":"video"}}`,
		"track of no kind":      `{"v":1,"kind":"track","participantId":"PA_a","track":{"id":"TR_v","kind":"data","layers":[{"layer":0,"ssrc":1}]}}`,
		"layer twice":           `{"v":1,"kind":"track","participantId":"PA_a","track":{"id":"TR_v","kind":"video","layers":[{"layer":0,"ssrc":1},{"layer":0,"ssrc":2}]}}`,
		"layer out of range":    `{"v":1,"kind":"track","participantId":"PA_a","track":{"id":"TR_v","kind":"video","layers":[{"layer":3,"ssrc":1}]}}`,
		"SSRC 0":                `{"v":1,"kind":"track","participantId":"PA_a","track":{"id":"TR_v","kind":"video","layers":[{"layer":0,"ssrc":0}]}}`,
		"RID of another layer":  `{"v":1,"kind":"track","participantId":"PA_a","track":{"id":"TR_v","kind":"video","layers":[{"layer":0,"rid":"f","ssrc":1}]}}`,
		"unknown RID":           `{"v":1,"kind":"track","participantId":"PA_a","track":{"id":"TR_v","kind":"video","layers":[{"layer":0,"rid":"zz","ssrc":1}]}}`,
		"audio in layers":       `{"v":1,"kind":"track","participantId":"PA_a","track":{"id":"TR_a","kind":"audio","layers":[{"layer":0,"ssrc":1},{"layer":1,"ssrc":2}]}}`,
		"mute without kind":     `{"v":1,"kind":"track_muted","participantId":"PA_a","track":{"id":"TR_a"}}`,
		"unpublished no track":  `{"v":1,"kind":"track_unpublished","participantId":"PA_a"}`,
		"empty offer":           `{"v":1,"kind":"offer"}`,
		"huge answer":           `{"v":1,"kind":"answer","sdp":"` + strings.Repeat("a", 1<<20+1) + `"}`,
		"layers of nothing":     `{"v":1,"kind":"layers","trackId":"TR_v"}`,
		"undecodable no codec":  `{"v":2,"kind":"undecodable","participantId":"PA_a"}`,
		"undecodable of nobody": `{"v":2,"kind":"undecodable","codecs":["video/vp9"]}`,
		"empty codec":           `{"v":2,"kind":"undecodable","participantId":"PA_a","codecs":[""]}`,
		"long codec":            `{"v":2,"kind":"participant_joined","participant":{"ID":"PA_a"},"codecs":["` + long + `"]}`,
		"too many codecs":       `{"v":2,"kind":"undecodable","participantId":"PA_a","codecs":[` + strings.Repeat(`"video/vp8",`, 32) + `"video/vp8"]}`,
		"layers unknown RID":    `{"v":1,"kind":"layers","trackId":"TR_v","active":{"x":true}}`,
		"dropped for nobody":    `{"v":3,"kind":"data_dropped","participantId":"PA_a"}`,
		"dropped from nobody":   `{"v":3,"kind":"data_dropped","receiver":"PA_b"}`,
		"dropped, long ID":      `{"v":3,"kind":"data_dropped","participantId":"PA_a","receiver":"` + long + `"}`,
	}
	for name, data := range cases {
		if m, err := sfu.DecodeRelayMessage([]byte(data)); !errors.Is(err, sfu.ErrBadRelayMessage) {
			t.Errorf("%s: %+v, %v; want ErrBadRelayMessage", name, m, err)
		}
	}
}

// FuzzDecodeRelayMessage: decoding never panics, and what decodes
// encodes to a message that decodes the same.
func FuzzDecodeRelayMessage(f *testing.F) {
	for _, m := range validRelayMessages() {
		data, err := json.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"v":1,"kind":"track","participantId":"PA_a","track":{"id":"TR_v","kind":"video","layers":[{"layer":1,"rid":"h","ssrc":9}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := sfu.DecodeRelayMessage(data)
		if err != nil {
			if !errors.Is(err, sfu.ErrBadRelayMessage) {
				t.Fatalf("error %v does not wrap ErrBadRelayMessage", err)
			}
			return
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := sfu.DecodeRelayMessage(again)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("%s decoded as %+v, re-encoded as %s: %+v, %v", data, m, again, m2, err)
		}
	})
}

// TestRelayRefusesBadMessages: a relay end refuses what it cannot apply
// with a clear error, and goes on unless its connection can no longer be
// trusted; OpenRelay refuses a room nobody is in here, and a closed SFU.
func TestRelayRefusesBadMessages(t *testing.T) {
	s := newSFU(t, sfu.Options{})
	if _, err := s.OpenRelay("nobody", "peer", func(sfu.RelayMessage) {}); !errors.Is(err, sfu.ErrNoRoom) {
		t.Fatalf("OpenRelay of an empty room: %v, want ErrNoRoom", err)
	}
	p, err := s.Join("room", who(), nullSink{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var mu sync.Mutex
	var sent []sfu.RelayMessage
	r, err := s.OpenRelay("room", "peer", func(m sfu.RelayMessage) {
		mu.Lock()
		sent = append(sent, m)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	bad := map[string]sfu.RelayMessage{
		"unknown kind":         {V: 1, Kind: "teleport"},
		"no version":           {Kind: sfu.RelayBye},
		"answer without offer": {V: 1, Kind: sfu.RelayAnswer, SDP: "v=0"},
		"unknown participant":  {V: 1, Kind: sfu.RelayParticipantLeft, ParticipantID: "PA_nobody"},
		"track of nobody":      {V: 1, Kind: sfu.RelayTrack, ParticipantID: "PA_nobody", Track: &sfu.RelayTrackInfo{ID: "TR_x", Kind: "audio", Layers: []sfu.RelayLayer{{SSRC: 1}}}},
		"a local participant":  {V: 1, Kind: sfu.RelayParticipantJoined, Participant: &sfu.ParticipantInfo{ID: p.ID(), Identity: "x"}},
		"codecs of nobody":     {V: 2, Kind: sfu.RelayUndecodable, ParticipantID: "PA_nobody", Codecs: []string{"video/vp9"}},
	}
	for name, m := range bad {
		if err := r.Handle(m); !errors.Is(err, sfu.ErrBadRelayMessage) {
			t.Errorf("%s: %v, want ErrBadRelayMessage", name, err)
		}
	}
	select {
	case <-r.Done():
		t.Fatal("the relay ended on a message it refused")
	default:
	}
	// The relay told the peer about the local participant, and goes on.
	if err := r.Handle(sfu.RelayMessage{V: 1, Kind: sfu.RelayParticipantJoined, Participant: &sfu.ParticipantInfo{ID: "PA_far", Identity: "far"}}); err != nil {
		t.Fatal(err)
	}
	if l := s.Load(); l.Participants != 1 {
		t.Errorf("load %+v: an imported participant is not a client", l)
	}
	mu.Lock()
	if len(sent) != 1 || sent[0].Kind != sfu.RelayParticipantJoined || sent[0].Participant.ID != p.ID() || sent[0].V != sfu.RelayVersion {
		t.Errorf("sent %+v, want the local participant", sent)
	}
	mu.Unlock()

	// An offer pion cannot apply ends the relay.
	if err := r.Handle(sfu.RelayMessage{V: 1, Kind: sfu.RelayOffer, SDP: "v=0\r\nnonsense"}); !errors.Is(err, sfu.ErrBadSDP) {
		t.Errorf("a bad offer: %v, want ErrBadSDP", err)
	}
	<-r.Done()
	if err := r.Handle(sfu.RelayMessage{V: 1, Kind: sfu.RelayBye}); !errors.Is(err, sfu.ErrClosed) {
		t.Errorf("Handle after the end: %v, want ErrClosed", err)
	}
	mu.Lock()
	if last := sent[len(sent)-1]; last.Kind != sfu.RelayBye {
		t.Errorf("last message %+v, want bye", last)
	}
	mu.Unlock()

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenRelay("room", "peer", func(sfu.RelayMessage) {}); !errors.Is(err, sfu.ErrClosed) {
		t.Errorf("OpenRelay on a closed SFU: %v, want ErrClosed", err)
	}
}

// TestRelayPortsValidate: the relay port range is both zero or a range.
func TestRelayPortsValidate(t *testing.T) {
	for _, tc := range []struct {
		min, max int
		ok       bool
	}{{0, 0, true}, {40000, 40100, true}, {5000, 5000, true}, {0, 100, false}, {100, 0, false}, {200, 100, false}, {1, 70000, false}} {
		cfg := sfu.Default()
		cfg.RelayPortMin, cfg.RelayPortMax = tc.min, tc.max
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("relay ports %d-%d: %v", tc.min, tc.max, err)
		}
	}
}
