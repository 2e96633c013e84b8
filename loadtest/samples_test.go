package loadtest

// These tests are in package loadtest to drive samplePlayer directly. The
// end-to-end tests import the node, which only a test may: the package
// itself knows the server only through the wire protocol.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
	"github.com/sfu-project/sfu/signaling"
)

func loadSamplesT(t *testing.T) *Samples {
	t.Helper()
	s, err := LoadSamples()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func clipLength(frames []Frame) (d time.Duration) {
	for _, f := range frames {
		d += f.Duration
	}
	return d
}

func bitrate(frames []Frame) int {
	bytes := 0
	for _, f := range frames {
		bytes += len(f.Data)
	}
	return int(float64(bytes*8) / clipLength(frames).Seconds())
}

func TestSampleVideo(t *testing.T) {
	s := loadSamplesT(t)
	if again := loadSamplesT(t); again != s {
		t.Error("LoadSamples parsed the files again")
	}
	layers := []struct {
		width, height          int
		minBitrate, maxBitrate int
	}{
		{320, 180, 100_000, 200_000},
		{640, 360, 350_000, 650_000},
		{1280, 720, 1_200_000, 2_200_000},
	}
	for i, want := range layers {
		l := s.Layers[i]
		if len(l) != len(s.Layers[0]) {
			t.Fatalf("layer %d has %d frames, layer 0 %d", i, len(l), len(s.Layers[0]))
		}
		if d := clipLength(l); d < 3500*time.Millisecond || d > 4500*time.Millisecond {
			t.Errorf("layer %d lasts %v, want about 4 s", i, d)
		}
		if br := bitrate(l); br < want.minBitrate || br > want.maxBitrate {
			t.Errorf("layer %d: %d bit/s, want %d to %d", i, br, want.minBitrate, want.maxBitrate)
		}
		var at, lastKey time.Duration
		for n, f := range l {
			if n == 0 && !f.Key {
				t.Errorf("layer %d: frame 0 is not a keyframe", i)
			}
			if f.Key {
				// RFC 6386 9.1: a keyframe carries the picture size after its start code.
				d := f.Data
				if len(d) < 10 || d[3] != 0x9d || d[4] != 0x01 || d[5] != 0x2a {
					t.Fatalf("layer %d: keyframe %d has no start code", i, n)
				}
				w, h := int(binary.LittleEndian.Uint16(d[6:])&0x3fff), int(binary.LittleEndian.Uint16(d[8:])&0x3fff)
				if w != want.width || h != want.height {
					t.Errorf("layer %d: keyframe %d is %dx%d, want %dx%d", i, n, w, h, want.width, want.height)
				}
				if gap := at - lastKey; n > 0 && (gap < 1500*time.Millisecond || gap > 2500*time.Millisecond) {
					t.Errorf("layer %d: keyframe %d comes %v after the previous, want about 2 s", i, n, gap)
				}
				lastKey = at
			}
			at += f.Duration
		}
		if gap := at - lastKey; gap > 2500*time.Millisecond {
			t.Errorf("layer %d: %v from the last keyframe to the loop's start, want about 2 s at most", i, gap)
		}
	}
}

func TestSampleAudio(t *testing.T) {
	s := loadSamplesT(t)
	for i, p := range s.Audio {
		if p.Duration != 20*time.Millisecond {
			t.Fatalf("packet %d lasts %v, want 20 ms", i, p.Duration)
		}
	}
	// Audio and video loop together: as many 20 ms packets as fit the clip.
	video := clipLength(s.Layers[0])
	if want := int((video + 10*time.Millisecond) / (20 * time.Millisecond)); len(s.Audio) != want {
		t.Errorf("%d audio packets, want %d for the video's %v", len(s.Audio), want, video)
	}
	if br := bitrate(s.Audio); br < 25_000 || br > 40_000 {
		t.Errorf("audio at %d bit/s, want about 32 kbit/s", br)
	}
}

func TestSamplesCheck(t *testing.T) {
	key := Frame{Data: []byte{0x10}, Key: true, Duration: time.Second / 30}
	delta := Frame{Data: []byte{0x11}, Duration: time.Second / 30}
	opus := Frame{Data: []byte{0xfc}, Duration: 20 * time.Millisecond}
	good := func() *Samples {
		return &Samples{Layers: [3][]Frame{{key, delta}, {key, delta}, {key, delta}}, Audio: []Frame{opus}}
	}
	tests := []struct {
		name  string
		spoil func(*Samples)
	}{
		{"good", func(*Samples) {}},
		{"layers of different lengths", func(s *Samples) { s.Layers[1] = s.Layers[1][:1] }},
		{"no frames", func(s *Samples) { s.Layers = [3][]Frame{} }},
		{"frame 0 not a keyframe", func(s *Samples) { s.Layers[2] = []Frame{delta, delta} }},
		{"a frame without duration", func(s *Samples) { s.Layers[0] = []Frame{key, {Data: []byte{0x11}}} }},
		{"no audio", func(s *Samples) { s.Audio = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good()
			tt.spoil(s)
			err := s.check()
			if wantErr := tt.name != "good"; wantErr != errors.Is(err, ErrBadSamples) {
				t.Errorf("check() = %v", err)
			}
		})
	}
}

func TestSampleOpusDuration(t *testing.T) {
	tests := []struct {
		packet []byte
		want   time.Duration
	}{
		{[]byte{1<<3 | 0}, 20 * time.Millisecond},             // SILK 20 ms
		{[]byte{13<<3 | 0}, 20 * time.Millisecond},            // hybrid 20 ms
		{[]byte{31<<3 | 0}, 20 * time.Millisecond},            // CELT 20 ms
		{[]byte{16<<3 | 0}, 2500 * time.Microsecond},          // CELT 2.5 ms
		{[]byte{31<<3 | 1}, 40 * time.Millisecond},            // two frames
		{[]byte{31<<3 | 3, 3}, 60 * time.Millisecond},         // code 3, three frames
		{[]byte{3<<3 | 3, 0x80 | 2}, 120 * time.Millisecond},  // code 3 with VBR flag, two 60 ms frames
		{[]byte{15<<3 | 2, 0, 0}, 40 * time.Millisecond},      // hybrid 20 ms, two frames
		{[]byte{8<<3 | 0, 0xff, 0xff}, 10 * time.Millisecond}, // SILK wideband 10 ms
	}
	for _, tt := range tests {
		if got, err := opusDuration(tt.packet); err != nil || got != tt.want {
			t.Errorf("opusDuration(%x) = %v, %v; want %v", tt.packet, got, err, tt.want)
		}
	}
	for _, bad := range [][]byte{nil, {31<<3 | 3}} {
		if _, err := opusDuration(bad); err == nil {
			t.Errorf("opusDuration(%x) has no error", bad)
		}
	}
}

// sentLog records Media.Sent calls.
type sentLog struct {
	mu     sync.Mutex
	frames [AudioLayer + 1][]int // by layer, audio last
}

func (l *sentLog) sent(layer, frame int) {
	l.mu.Lock()
	l.frames[layer] = append(l.frames[layer], frame)
	l.mu.Unlock()
}

func (l *sentLog) layer(i int) []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int(nil), l.frames[i]...)
}

// unboundTracks are tracks no connection sends: WriteSample does nothing.
func unboundTracks(t *testing.T, n int) []*webrtc.TrackLocalStaticSample {
	t.Helper()
	var tracks []*webrtc.TrackLocalStaticSample
	for range n {
		tr, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "stream")
		if err != nil {
			t.Fatal(err)
		}
		tracks = append(tracks, tr)
	}
	return tracks
}

func TestSamplePlayer(t *testing.T) {
	s := loadSamplesT(t)
	frames := len(s.Layers[0])
	key := -1 // a keyframe other than frame 0
	for i, f := range s.Layers[0] {
		if i > 0 && f.Key && s.keyframe(i) {
			key = i
			break
		}
	}
	if key < 0 {
		t.Fatal("the layers have no common keyframe after frame 0")
	}

	t.Run("simulcast", func(t *testing.T) {
		var log sentLog
		p := newSamplePlayer(Media{Samples: s, Simulcast: true, Sent: log.sent}, unboundTracks(t, 3), nil)
		for range 10 {
			if d := p.writeVideo(); d != time.Second/30 {
				t.Fatalf("frame lasts %v, want 1/30 s", d)
			}
		}
		p.keyframeRequested() // mid-clip: restart
		p.writeVideo()
		for p.vi != key {
			p.writeVideo()
		}
		p.keyframeRequested() // the next frame is a keyframe: go on
		for range frames {
			p.writeVideo() // and loop
		}
		want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0}
		for i := 1; i < key; i++ {
			want = append(want, i)
		}
		for i := range frames {
			want = append(want, (key+i)%frames)
		}
		for layer := range 3 {
			if got := log.layer(layer); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("layer %d sent frames %v, want %v", layer, got, want)
			}
		}
	})

	t.Run("single layer is the top one", func(t *testing.T) {
		var log sentLog
		p := newSamplePlayer(Media{Samples: s, Sent: log.sent}, unboundTracks(t, 1), nil)
		p.writeVideo()
		p.writeVideo()
		if got := log.layer(2); fmt.Sprint(got) != "[0 1]" || len(log.layer(0)) != 0 {
			t.Errorf("sent %v of layer 2, %v of layer 0", got, log.layer(0))
		}
	})

	t.Run("audio loops", func(t *testing.T) {
		audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "stream")
		if err != nil {
			t.Fatal(err)
		}
		p := newSamplePlayer(Media{Samples: s, Audio: true}, unboundTracks(t, 1), audio)
		for range len(s.Audio) + 1 {
			if d := p.writeAudio(); d != 20*time.Millisecond {
				t.Fatalf("packet lasts %v", d)
			}
		}
		if p.ai != 1 {
			t.Errorf("after one loop and a packet, the next packet is %d, want 1", p.ai)
		}
	})

	t.Run("no allocation", func(t *testing.T) {
		audio := unboundTracks(t, 1)[0]
		p := newSamplePlayer(Media{Samples: s, Simulcast: true, Sent: func(int, int) {}}, unboundTracks(t, 3), audio)
		if n := testing.AllocsPerRun(200, func() {
			p.writeVideo()
			p.writeAudio()
			p.keyframeRequested()
		}); n != 0 {
			t.Errorf("%v allocations per frame", n)
		}
	})
}

// sampleTestServer is an in-process node on loopback.
type sampleTestServer struct {
	wsURL string
	keys  signaling.Keys
	n     int
}

// sampleTestKeys sign the tokens of every sampleTestServer, so a run over
// two of them needs one Token function.
const sampleTestKeys = "test:0123456789abcdef0123456789abcdef"

// startSampleTestServer starts a node in development mode (so its
// /metrics is open to the run's server watcher) that also accepts
// sampleTestKeys.
func startSampleTestServer(t *testing.T) *sampleTestServer {
	t.Helper()
	n := nodetest.Start(t, func(c *node.Config) { c.Keys, c.Dev = sampleTestKeys, true })
	return &sampleTestServer{wsURL: "ws://" + n.Addr().String() + "/ws", keys: n.Keys()}
}

// mint is a RunConfig.Token: a token to publish and subscribe in room.
func (ts *sampleTestServer) mint(_ context.Context, _, room, identity string) (string, error) {
	return ts.keys.Mint("test", signaling.TokenRequest{Room: room, Identity: identity, Name: identity,
		Grants: signaling.Grants{Publish: true, Subscribe: true}, TTL: time.Hour}, time.Now())
}

func (ts *sampleTestServer) join(ctx context.Context, t *testing.T, room string) *Client {
	t.Helper()
	ts.n++
	tok, err := ts.mint(ctx, ts.wsURL, room, fmt.Sprintf("user-%d", ts.n))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Dial(ctx, Options{URL: ts.wsURL, Token: tok, LoopbackOnly: true})
	if err != nil {
		t.Fatalf("join %s: %v", room, err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestSamplePublish publishes the samples through a real SFU: a
// subscriber that joins mid-clip gets VP8 at once (the keyframe request
// restarts the clip) and the audio.
func TestSamplePublish(t *testing.T) {
	s := loadSamplesT(t)
	for _, simulcast := range []bool{true, false} {
		t.Run(fmt.Sprintf("simulcast=%v", simulcast), func(t *testing.T) {
			leaks := goleak.IgnoreCurrent()
			// Registered first, so it runs after the clients and the server are closed.
			t.Cleanup(func() {
				goleak.VerifyNone(t, leaks, goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
			})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			ts := startSampleTestServer(t)

			var log sentLog
			pub := ts.join(ctx, t, "samples")
			if err := pub.Publish(Media{Samples: s, Audio: true, Simulcast: simulcast, Sent: log.sent}); err != nil {
				t.Fatal(err)
			}
			// The subscriber joins just after the keyframe at 2 s: the clip's
			// next one, frame 0 of the next loop, is 1.8 s away.
			const joinAt = 65
			top := 2
			for len(log.layer(top)) < joinAt {
				if ctx.Err() != nil {
					t.Fatal("the publisher sent no video")
				}
				time.Sleep(10 * time.Millisecond)
			}
			sub := ts.join(ctx, t, "samples")
			video, audio := waitForMedia(ctx, t, sub, pub.Self.ID, func(video, audio TrackCounts) bool {
				return video.Keyframes > 0 && video.Frames >= 60 && audio.Packets >= 50
			})
			if !strings.EqualFold(video.Codec, webrtc.MimeTypeVP8) || video.Keyframes == 0 || video.Unrepaired != 0 {
				t.Errorf("video: %s, %d keyframes, %d lost; all tracks: %+v", video.Codec, video.Keyframes, video.Unrepaired, sub.Received())
			}
			if !strings.EqualFold(audio.Codec, webrtc.MimeTypeOpus) {
				t.Errorf("audio: %s", audio.Codec)
			}
			// The clip restarted on a keyframe request after the subscriber joined.
			frames := log.layer(top)
			restarted := false
			for i := joinAt; i < len(frames); i++ {
				restarted = restarted || frames[i] == 0 && frames[i-1] != len(s.Layers[top])-1
			}
			if !restarted {
				t.Errorf("no restart at frame 0 after the subscriber joined: sent %v", frames)
			}
			if simulcast && (len(log.layer(0)) == 0 || len(log.layer(1)) == 0) {
				t.Error("the low layers were not sent")
			}
		})
	}
}

// TestScheduleSkips: a sender on time waits for its next frame; one more
// than a frame behind skips the frames it missed, and says how many.
func TestScheduleSkips(t *testing.T) {
	const d = time.Second // long, so that a slow test machine still sees 9
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	now := time.Now()
	if next, skipped := schedule(timer, now, d); skipped != 0 || !next.Equal(now.Add(d)) {
		t.Errorf("on time: next %v after now, %d skipped; want %v, 0", next.Sub(now), skipped, d)
	}
	next, skipped := schedule(timer, now.Add(-10*d), d)
	if skipped != 9 || next.Before(now) {
		t.Errorf("10 frames behind: %d skipped, next %v after now; want 9 skipped and now", skipped, next.Sub(now))
	}
}

// waitForMedia polls what sub receives from the participant from until
// enough says so, and returns the video and audio tracks' counts then; it
// fails the test if ctx ends first.
func waitForMedia(ctx context.Context, t *testing.T, sub *Client, from string, enough func(video, audio TrackCounts) bool) (video, audio TrackCounts) {
	t.Helper()
	for !enough(video, audio) {
		if ctx.Err() != nil {
			t.Fatalf("subscriber got video %+v, audio %+v", video, audio)
		}
		time.Sleep(20 * time.Millisecond)
		for _, tc := range sub.Received() {
			if tc.ParticipantID == from && !tc.Ended {
				if tc.Kind == "video" {
					video = tc
				} else {
					audio = tc
				}
			}
		}
	}
	return video, audio
}
