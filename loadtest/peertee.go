package loadtest

import (
	"sync/atomic"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// mediaTee hands each frame and audio packet the client publishes to the
// publisher connection's tracks, unless the call is direct (mode p2p),
// and to the peer connection's tracks while one is open. A nil tee (a
// client without Options.P2P) writes to the publisher's tracks only.
//
// The peer connection has tracks of its own rather than the publisher's
// bound twice: a track's packets number on across all its bindings, so
// the SFU would see the sequence numbers jump by everything sent directly
// meanwhile and take it for loss, where a browser whose encodings went
// inactive numbers on from where it stopped.
type mediaTee struct {
	paused atomic.Bool                // the call is direct: the SFU gets nothing
	peer   atomic.Pointer[peerTracks] // the open peer connection's, if any
}

// peerTracks are what a peer connection sends: one video encoding (the
// top layer of a simulcast publisher) and the audio.
type peerTracks struct {
	video, audio *webrtc.TrackLocalStaticSample
}

// writeVideo writes a video frame of one layer to the publisher's track
// sfu, and, for the top layer, to the peer connection's.
func (t *mediaTee) writeVideo(sfu *webrtc.TrackLocalStaticSample, top bool, s media.Sample) {
	if t == nil {
		_ = sfu.WriteSample(s)
		return
	}
	if !t.paused.Load() {
		_ = sfu.WriteSample(s)
	}
	if p := t.peer.Load(); top && p != nil {
		_ = p.video.WriteSample(s)
	}
}

// writeAudio writes an audio packet to the publisher's track sfu and to
// the peer connection's.
func (t *mediaTee) writeAudio(sfu *webrtc.TrackLocalStaticSample, s media.Sample) {
	if t == nil {
		_ = sfu.WriteSample(s)
		return
	}
	if !t.paused.Load() {
		_ = sfu.WriteSample(s)
	}
	if p := t.peer.Load(); p != nil {
		_ = p.audio.WriteSample(s)
	}
}
