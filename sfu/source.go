package sfu

import (
	"fmt"
	"sort"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// TrackSource says what a published track carries: a camera, a
// microphone, a shared screen or the sound of a shared screen (a tab's
// audio). Subscribers show a screen apart from, and larger than, the
// cameras, and the Allocator gives it its bandwidth first.
type TrackSource string

// The sources a track may have. The names are on the wire (PROTOCOL.md)
// and between nodes: never rename one.
const (
	SourceCamera      TrackSource = "camera"
	SourceMicrophone  TrackSource = "microphone"
	SourceScreen      TrackSource = "screen"
	SourceScreenAudio TrackSource = "screen_audio"
)

// Sources maps the mids of a publisher offer's media sections to the
// sources of their tracks.
type Sources map[string]TrackSource

// maxScreenTracks bounds the tracks of each screen source (the picture,
// its sound) a participant publishes at once.
const maxScreenTracks = 1

// defaultSource is the source of a track of kind whose publisher named
// none: what a client that knows nothing of sources publishes.
func defaultSource(kind webrtc.RTPCodecType) TrackSource {
	if kind == webrtc.RTPCodecTypeAudio {
		return SourceMicrophone
	}
	return SourceCamera
}

// sourceKind is the kind of track a source can be, "" for an unknown one.
func sourceKind(s TrackSource) string {
	switch s {
	case SourceCamera, SourceScreen:
		return "video"
	case SourceMicrophone, SourceScreenAudio:
		return "audio"
	}
	return ""
}

// sourceOf is the source a relayed track's description names, or the
// default for its kind when it names none or one this node does not
// know (a newer node's).
func sourceOf(name string, kind webrtc.RTPCodecType) TrackSource {
	s := TrackSource(name)
	if sourceKind(s) != kind.String() {
		return defaultSource(kind)
	}
	return s
}

// mergeSources checks the sources a publisher offer names against the
// offer and returns the participant's sources with them applied: a mid
// the offer does not name keeps the source given before. It refuses
// (ErrBadSource) an unknown source, one for a mid the offer has no media
// section of, one of the wrong kind, and more than maxScreenTracks
// sending sections of a screen source.
func mergeSources(offer *sdp.SessionDescription, prev, named Sources) (Sources, error) {
	kinds := make(map[string]string, len(offer.MediaDescriptions))
	for _, m := range offer.MediaDescriptions {
		if mid, ok := m.Attribute("mid"); ok {
			kinds[mid] = m.MediaName.Media
		}
	}
	mids := make([]string, 0, len(named))
	for mid := range named {
		mids = append(mids, mid)
	}
	sort.Strings(mids) // the first fault found is the same every time
	for _, mid := range mids {
		s := named[mid]
		kind := sourceKind(s)
		switch {
		case kind == "":
			return nil, fmt.Errorf("%w: unknown source %q for mid %q", ErrBadSource, s, mid)
		case kinds[mid] == "":
			return nil, fmt.Errorf("%w: no media section with mid %q", ErrBadSource, mid)
		case kinds[mid] != kind:
			return nil, fmt.Errorf("%w: source %q for mid %q, a section of %s", ErrBadSource, s, mid, kinds[mid])
		}
	}
	merged := make(Sources, len(prev)+len(named))
	for mid, s := range prev {
		if kinds[mid] != "" {
			merged[mid] = s
		}
	}
	for mid, s := range named {
		merged[mid] = s
	}
	count := map[TrackSource]int{}
	for _, m := range offer.MediaDescriptions {
		mid, _ := m.Attribute("mid")
		if s := merged[mid]; (s == SourceScreen || s == SourceScreenAudio) && sends(m) {
			if count[s]++; count[s] > maxScreenTracks {
				return nil, fmt.Errorf("%w: more than %d %s track(s) at once", ErrBadSource, maxScreenTracks, s)
			}
		}
	}
	return merged, nil
}

// sends reports whether a media section of a publisher offer sends media
// (sendrecv, the default, or sendonly) on a port that is not 0.
func sends(m *sdp.MediaDescription) bool {
	if m.MediaName.Port.Value == 0 {
		return false
	}
	for _, a := range m.Attributes {
		switch a.Key {
		case "recvonly", "inactive":
			return false
		}
	}
	return true
}

// setSources records the participant's sources (the event loop's, after
// they were merged), for onTrack to read.
func (p *Participant) setSources(s Sources) {
	p.upMu.Lock()
	defer p.upMu.Unlock()
	p.sources = s
}

// sourceFor is the source of the track received by receiver on pub: the
// one named for its mid, or its kind's default.
func (p *Participant) sourceFor(pub *webrtc.PeerConnection, receiver *webrtc.RTPReceiver, kind webrtc.RTPCodecType) TrackSource {
	var mid string
	for _, t := range pub.GetTransceivers() {
		if t.Receiver() == receiver {
			mid = t.Mid()
			break
		}
	}
	p.upMu.Lock()
	s, ok := p.sources[mid]
	p.upMu.Unlock()
	if !ok || sourceKind(s) != kind.String() {
		return defaultSource(kind)
	}
	return s
}
