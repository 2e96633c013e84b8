package sfu

import (
	"encoding/json"
	"fmt"
	"slices"
)

// RelayVersion is the version of the relay messages this node sends. A
// node reads messages of any version whose kinds it knows, ignoring
// fields it does not: a newer node may add fields, never change the
// meaning of one; a new kind of message is an error to an older node, so
// a node sends a kind newer than version 1 only once the peer's messages
// show it knows it (RelayUndecodable, version 2; RelayDataDropped,
// version 3).
const RelayVersion = 3

// RelayKind says what a RelayMessage is.
type RelayKind string

// The kinds of relay message. Each end of a relay sends the ones of its
// exporting half (participants, tracks, offers) and of its importing
// half (answers, the layers it needs). The names travel between nodes
// that may run different versions: never rename one.
const (
	// RelayParticipantJoined: Participant, a client of the sending node,
	// is in the room (without its tracks, which follow as RelayTrack).
	// Codecs are the video codecs it is known not to decode, if any.
	RelayParticipantJoined RelayKind = "participant_joined"
	// RelayParticipantLeft: ParticipantID left.
	RelayParticipantLeft RelayKind = "participant_left"
	// RelayTrack: ParticipantID publishes Track, relayed as one RTP
	// stream per layer (Track.Layers). It is sent again when the layers
	// change, always before the offer that carries new streams.
	RelayTrack RelayKind = "track"
	// RelayTrackUnpublished: the track TrackID of ParticipantID ended.
	RelayTrackUnpublished RelayKind = "track_unpublished"
	// RelayTrackMuted: ParticipantID muted or unmuted its tracks of
	// Track.Kind (Track.Muted).
	RelayTrackMuted RelayKind = "track_muted"
	// RelayOffer: SDP is an offer for the receiving node's importing
	// connection, with every candidate (no trickle).
	RelayOffer RelayKind = "offer"
	// RelayAnswer: SDP answers the receiving node's last offer.
	RelayAnswer RelayKind = "answer"
	// RelayLayers: of the track TrackID, the receiving node should send
	// the layers whose RID maps to true in Active, and not those that
	// map to false (dynacast across the relay).
	RelayLayers RelayKind = "layers"
	// RelayBye: the sending end closed; the receiving end closes too.
	RelayBye RelayKind = "bye"
	// RelayUndecodable (version 2): ParticipantID, a client of the
	// sending node, cannot decode the video codecs Codecs (MIME types),
	// so that the receiving node asks its own publishers to switch
	// (roomcodecs.go).
	RelayUndecodable RelayKind = "undecodable"
	// RelayDataDropped (version 3): a reliable data message from
	// ParticipantID, a client of the receiving node, was dropped for
	// Receiver, a client of the sending node whose queue was full; the
	// receiving node tells its sender (data_dropped), as it does for its
	// own clients' queues.
	RelayDataDropped RelayKind = "data_dropped"
)

// RelayMessage is one message from one end of a relay to the other. It
// is encoded with encoding/json; the fields a kind uses are listed with
// the kinds, the others are empty.
type RelayMessage struct {
	V             int              `json:"v"`
	Kind          RelayKind        `json:"kind"`
	Participant   *ParticipantInfo `json:"participant,omitempty"`
	ParticipantID string           `json:"participantId,omitempty"`
	Track         *RelayTrackInfo  `json:"track,omitempty"`
	TrackID       string           `json:"trackId,omitempty"`
	SDP           string           `json:"sdp,omitempty"`
	Active        map[string]bool  `json:"active,omitempty"`
	Codecs        []string         `json:"codecs,omitempty"`
	Receiver      string           `json:"receiver,omitempty"`
}

// RelayTrackInfo describes a relayed track.
type RelayTrackInfo struct {
	ID     string       `json:"id"`
	Kind   string       `json:"kind"` // "audio" or "video"
	Muted  bool         `json:"muted,omitempty"`
	Layers []RelayLayer `json:"layers,omitempty"`
	// Source is the track's TrackSource; a node that sends none, or one
	// the receiving node does not know, means the kind's default.
	Source string `json:"source,omitempty"`
}

// RelayLayer is one layer of a relayed track and the RTP stream that
// carries it on the relay connection.
type RelayLayer struct {
	Layer int    `json:"layer"` // 0 lowest
	RID   string `json:"rid,omitempty"`
	SSRC  uint32 `json:"ssrc"`
}

// Bounds of what a relay message may carry.
const (
	maxRelayID  = 128     // bytes of an ID, identity, name or RID
	maxRelaySDP = 1 << 20 // bytes of an offer or answer
	// maxRelayCodecs bounds the codecs of a message, as signaling bounds
	// those of a join.
	maxRelayCodecs = 32
)

// DecodeRelayMessage decodes and checks a message encoded with
// encoding/json. Anything that is not a well-formed message of a known
// kind is refused with an error wrapping ErrBadRelayMessage.
func DecodeRelayMessage(data []byte) (RelayMessage, error) {
	var m RelayMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return RelayMessage{}, fmt.Errorf("%w: %v", ErrBadRelayMessage, err)
	}
	if err := m.Validate(); err != nil {
		return RelayMessage{}, err
	}
	return m, nil
}

// Validate checks that m is a well-formed message of a known kind,
// with what that kind needs. The error wraps ErrBadRelayMessage.
func (m RelayMessage) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrBadRelayMessage, m.Kind, fmt.Sprintf(format, args...))
	}
	if m.V < 1 {
		return bad("version %d", m.V)
	}
	if len(m.Codecs) > maxRelayCodecs || slices.ContainsFunc(m.Codecs, func(c string) bool { return !validID(c) }) {
		return bad("%d codecs, or an empty or long one", len(m.Codecs))
	}
	switch m.Kind {
	case RelayParticipantJoined:
		p := m.Participant
		if p == nil {
			return bad("no participant")
		}
		if !validID(p.ID) || len(p.Identity) > maxRelayID || len(p.Name) > maxRelayID {
			return bad("bad participant ID, identity or name")
		}
	case RelayParticipantLeft:
		if !validID(m.ParticipantID) {
			return bad("bad participant ID")
		}
	case RelayTrack, RelayTrackMuted:
		if !validID(m.ParticipantID) || m.Track == nil {
			return bad("no participant ID or track")
		}
		if err := m.Track.validate(m.Kind == RelayTrack); err != nil {
			return bad("%v", err)
		}
	case RelayTrackUnpublished:
		if !validID(m.ParticipantID) || !validID(m.TrackID) {
			return bad("bad participant or track ID")
		}
	case RelayOffer, RelayAnswer:
		if m.SDP == "" || len(m.SDP) > maxRelaySDP {
			return bad("%d bytes of SDP", len(m.SDP))
		}
	case RelayLayers:
		if !validID(m.TrackID) || len(m.Active) == 0 || len(m.Active) > MaxLayers {
			return bad("bad track ID or %d layers", len(m.Active))
		}
		for rid := range m.Active {
			if _, ok := layerIndex(rid); !ok {
				return bad("unknown layer %q", rid)
			}
		}
	case RelayUndecodable:
		if !validID(m.ParticipantID) || len(m.Codecs) == 0 {
			return bad("no participant ID or codecs")
		}
	case RelayDataDropped:
		if !validID(m.ParticipantID) || !validID(m.Receiver) {
			return bad("bad sender or receiver ID")
		}
	case RelayBye:
	default:
		return fmt.Errorf("%w: unknown kind %q", ErrBadRelayMessage, m.Kind)
	}
	return nil
}

// validate checks a track's description; full is set for RelayTrack,
// which must list its streams.
func (t *RelayTrackInfo) validate(full bool) error {
	if t.Kind != "audio" && t.Kind != "video" {
		return fmt.Errorf("kind %q", t.Kind)
	}
	if !full {
		return nil
	}
	if !validID(t.ID) {
		return fmt.Errorf("track ID %q", t.ID)
	}
	if len(t.Layers) == 0 || len(t.Layers) > MaxLayers || (t.Kind == "audio" && len(t.Layers) != 1) {
		return fmt.Errorf("%d layers", len(t.Layers))
	}
	var seen [MaxLayers]bool
	for _, l := range t.Layers {
		if l.Layer < 0 || l.Layer >= MaxLayers || seen[l.Layer] || l.SSRC == 0 || len(l.RID) > maxRelayID {
			return fmt.Errorf("layer %+v", l)
		}
		if i, ok := layerIndex(l.RID); !ok || (l.RID != "" && i != l.Layer) {
			return fmt.Errorf("layer %d with RID %q", l.Layer, l.RID)
		}
		seen[l.Layer] = true
	}
	return nil
}

// validID reports whether s can be a participant or track ID.
func validID(s string) bool { return s != "" && len(s) <= maxRelayID }
