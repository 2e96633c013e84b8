package signaling_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// sourceOf is the source the server gave participant pid's track of kind
// in a participant list, "" when it lists none.
func sourceOf(ps []loadtest.Participant, pid, kind string) (id, source string) {
	for _, p := range ps {
		if p.ID != pid {
			continue
		}
		for _, t := range p.Tracks {
			if t.Kind == kind {
				return t.ID, t.Source
			}
		}
	}
	return "", ""
}

// TestScreenSourceVisible publishes a screen share (the offer names its
// source) and a camera (a client that names none): the others are told
// each track's source in track_published, a later joiner in joined, and
// the screen's media flows like any track's.
func TestScreenSourceVisible(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := newTestServer(t, nil)
	sharer, camera, watcher := ts.join(ctx, "screen"), ts.join(ctx, "screen"), ts.join(ctx, "screen")
	screen := loadtest.DefaultMedia
	screen.Source = "screen"
	if err := sharer.Publish(screen); err != nil {
		t.Fatal(err)
	}
	if err := camera.Publish(loadtest.DefaultMedia); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // participant/kind -> source
		sharer.Self.ID + "/video": "screen", sharer.Self.ID + "/audio": "microphone",
		camera.Self.ID + "/video": "camera", camera.Self.ID + "/audio": "microphone",
	}
	var screenID string
	for range want {
		m, err := watcher.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "track_published" })
		if err != nil {
			t.Fatal(err)
		}
		key := m.ParticipantID + "/" + m.Track.Kind
		if got, ok := want[key]; !ok || m.Track.Source != got {
			t.Errorf("track_published %s: source %q, want %q", key, m.Track.Source, got)
		}
		if key == sharer.Self.ID+"/video" {
			screenID = m.Track.ID
		}
	}
	// The screen's frames reach the watcher, as the track with that ID.
	eventually(t, 15*time.Second, "the screen's frames at the watcher", func() bool {
		for key, tc := range watcher.Received() {
			if strings.HasSuffix(key, "/"+screenID) && tc.Keyframes > 0 && tc.Frames >= 10 {
				return true
			}
		}
		return false
	})
	late := ts.join(ctx, "screen")
	joined := late.Joined
	for key, source := range want {
		pid, kind, _ := strings.Cut(key, "/")
		if _, got := sourceOf(joined.Participants, pid, kind); got != source {
			t.Errorf("joined lists %s with source %q, want %q", key, got, source)
		}
	}
	if id, _ := sourceOf(joined.Participants, sharer.Self.ID, "video"); id != screenID {
		t.Errorf("joined lists the screen as %q, track_published as %q", id, screenID)
	}
}

// TestScreenSourceRefused sends publisher offers whose sources are
// wrong: each is refused with bad_source and changes nothing, and the
// same offer with a good source is answered.
func TestScreenSourceRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := newTestServer(t, nil)
	c := ts.join(ctx, "screen-refused")
	pub := c.Publisher()
	// Two video sections (mids 0 and 1) and an audio one (2).
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pub.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pub.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	mids := make([]string, 0, 3)
	for _, tr := range pub.GetTransceivers() {
		mids = append(mids, tr.Mid())
	}
	send := func(sources map[string]string) {
		t.Helper()
		if err := c.Send(map[string]any{"type": "offer", "sdp": offer.SDP, "sources": sources}); err != nil {
			t.Fatal(err)
		}
	}
	for name, sources := range map[string]map[string]string{
		"unknown source":      {mids[0]: "window"},
		"no such mid":         {"nine": "screen"},
		"screen on audio":     {mids[2]: "screen"},
		"microphone on video": {mids[0]: "microphone"},
		"two screens":         {mids[0]: "screen", mids[1]: "screen"},
	} {
		send(sources)
		m, err := c.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "error" || m.Type == "answer" })
		if err != nil {
			t.Fatal(err)
		}
		if m.Type != "error" || m.Code != signaling.CodeBadSource || m.Ref != "offer" {
			t.Errorf("%s: got %s %s (ref %q), want error %s for the offer", name, m.Type, m.Code, m.Ref, signaling.CodeBadSource)
		} else {
			t.Logf("%s: %s", name, m.Message)
		}
	}
	// One screen, its sound, and a camera by default: answered.
	send(map[string]string{mids[0]: "screen", mids[2]: "screen_audio"})
	m, err := c.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "error" || m.Type == "answer" })
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != "answer" {
		t.Fatalf("the good offer got %s %s: %s", m.Type, m.Code, m.Message)
	}
}

// TestMuteSparesScreen turns a participant's camera off and then shares
// a screen: mute is about the camera, so the others see the screen
// unmuted, and turning the camera on again announces nothing about it.
func TestMuteSparesScreen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := newTestServer(t, nil)
	a, b := ts.join(ctx, "mute-screen"), ts.join(ctx, "mute-screen")
	if err := a.Send(map[string]any{"type": "mute", "kind": "video", "muted": true}); err != nil {
		t.Fatal(err)
	}
	screen := loadtest.DefaultMedia
	screen.Source = "screen"
	if err := a.Publish(screen); err != nil {
		t.Fatal(err)
	}
	m, err := b.WaitFor(ctx, func(m loadtest.Message) bool {
		return m.Type == "track_published" && m.Track != nil && m.Track.Kind == "video"
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Track.Source != "screen" || m.Track.Muted {
		t.Errorf("b sees %+v, want an unmuted screen", *m.Track)
	}
	if err := a.Send(map[string]any{"type": "mute", "kind": "video", "muted": false}); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(map[string]any{"type": "mute", "kind": "audio", "muted": true}); err != nil {
		t.Fatal(err)
	}
	m, err = b.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "track_muted" })
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != "audio" || !m.Muted {
		t.Errorf("first track_muted at b: %+v, want a's microphone muted (nothing about the screen)", m)
	}
}
