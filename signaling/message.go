package signaling

import (
	"encoding/json"

	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/sfu"
)

// Version is the newest protocol version this server speaks; it speaks
// every version from 1 to this one. Version 2 sends roster changes in
// batches (see rosterInterval).
const Version = 2

// inbound is every field a client message may carry; type says which apply.
type inbound struct {
	Type      string                   `json:"type"`
	Version   int                      `json:"version,omitempty"`
	Token     string                   `json:"token,omitempty"`
	Room      *string                  `json:"room,omitempty"`
	SDP       string                   `json:"sdp,omitempty"`
	Target    string                   `json:"target,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Kind      string                   `json:"kind,omitempty"`
	Muted     bool                     `json:"muted,omitempty"`
	TrackID   string                   `json:"trackId,omitempty"`
	MaxLayer  *int                     `json:"maxLayer,omitempty"`
	P2P       *bool                    `json:"p2p,omitempty"`    // join: peer to peer for two allowed (default true)
	Codecs    []string                 `json:"codecs,omitempty"` // join: the video codecs the client decodes
	State     string                   `json:"state,omitempty"`  // peer_state
	Text      string                   `json:"text,omitempty"`   // chat
	Path      string                   `json:"path,omitempty"`   // peer_state
	// Sources, in a publisher offer, names its tracks' sources by mid.
	Sources map[string]sfu.TrackSource `json:"sources,omitempty"`
}

type wireParticipant struct {
	ID       string      `json:"id"`
	Identity string      `json:"identity"`
	Name     string      `json:"name"`
	Tracks   []wireTrack `json:"tracks"`
}

type wireTrack struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Source string `json:"source"`
	Muted  bool   `json:"muted"`
}

type joinedMsg struct {
	Type         string            `json:"type"`
	Version      int               `json:"version"`
	Room         string            `json:"room"`
	Self         wireParticipant   `json:"self"`
	Participants []wireParticipant `json:"participants"`
	ICEServers   []ICEServer       `json:"iceServers"`
	// Chat is the room's chat history, oldest first.
	Chat []ChatMessage `json:"chat"`
	// MaxFileBytes is the largest file the web client sends or accepts.
	MaxFileBytes int64 `json:"maxFileBytes,omitempty"`
	// DataLimits are the limits on the client's application data, absent
	// without the data grant.
	DataLimits *wireDataLimits `json:"dataLimits,omitempty"`
}

type wireDataLimits struct {
	MaxMessage        int     `json:"maxMessage"`
	MessagesPerSecond float64 `json:"messagesPerSecond"`
	MessageBurst      int     `json:"messageBurst"`
	BytesPerSecond    float64 `json:"bytesPerSecond"`
	ByteBurst         int     `json:"byteBurst"`
}

type sdpMsg struct {
	Type string `json:"type"`
	SDP  string `json:"sdp"`
}

type candidateMsg struct {
	Type      string                  `json:"type"`
	Target    string                  `json:"target"`
	Candidate webrtc.ICECandidateInit `json:"candidate"`
}

type participantMsg struct {
	Type        string          `json:"type"`
	Participant wireParticipant `json:"participant"`
}

type participantLeftMsg struct {
	Type          string `json:"type"`
	ParticipantID string `json:"participantId"`
}

type trackMsg struct {
	Type          string    `json:"type"`
	ParticipantID string    `json:"participantId"`
	Track         wireTrack `json:"track"`
}

type trackUnpublishedMsg struct {
	Type          string `json:"type"`
	ParticipantID string `json:"participantId"`
	TrackID       string `json:"trackId"`
}

type trackUndecodableMsg struct {
	Type          string `json:"type"`
	ParticipantID string `json:"participantId"`
	TrackID       string `json:"trackId"`
	Kind          string `json:"kind"`
	Codec         string `json:"codec"`
}

// codecMsg asks the client to send its track in another codec.
type codecMsg struct {
	Type    string `json:"type"`
	TrackID string `json:"trackId"`
	Kind    string `json:"kind"`
	Codec   string `json:"codec"`
	From    string `json:"from"`
}

type trackMutedMsg struct {
	Type          string `json:"type"`
	ParticipantID string `json:"participantId"`
	TrackID       string `json:"trackId"`
	Kind          string `json:"kind"`
	Muted         bool   `json:"muted"`
}

type speakersMsg struct {
	Type     string   `json:"type"`
	Speakers []string `json:"speakers"`
	Active   string   `json:"active"`
}

type errorMsg struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Ref     string `json:"ref,omitempty"`
}

type layersMsg struct {
	Type    string          `json:"type"`
	TrackID string          `json:"trackId"`
	Layers  map[string]bool `json:"layers"`
}

type byeMsg struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

type moveMsg struct {
	Type     string `json:"type"`
	TimeLeft int64  `json:"timeLeft"` // milliseconds; 0 when unknown
}

type simpleMsg struct {
	Type string `json:"type"`
}

func toWireParticipant(p sfu.ParticipantInfo) wireParticipant {
	w := wireParticipant{ID: p.ID, Identity: p.Identity, Name: p.Name, Tracks: make([]wireTrack, 0, len(p.Tracks))}
	for _, t := range p.Tracks {
		w.Tracks = append(w.Tracks, wireTrack(t))
	}
	return w
}

// encodeEvent turns an event of the media core into a wire message.
// version is the client's protocol version.
// chat is the history a joined message carries, maxFileBytes the
// largest file the web client sends or accepts.
func encodeEvent(ev sfu.Event, version int, ice []ICEServer, chat []ChatMessage, maxFileBytes int64) ([]byte, error) {
	var msg any
	switch ev := ev.(type) {
	case sfu.Joined:
		others := make([]wireParticipant, 0, len(ev.Others))
		for _, o := range ev.Others {
			others = append(others, toWireParticipant(o))
		}
		j := joinedMsg{Type: "joined", Version: version, Room: ev.Room, Self: toWireParticipant(ev.Self), Participants: others, ICEServers: ice, Chat: chat, MaxFileBytes: maxFileBytes}
		if d := ev.Data; d != nil {
			j.DataLimits = &wireDataLimits{MaxMessage: d.MaxMessage, MessagesPerSecond: d.MessagesPerSecond, MessageBurst: d.MessageBurst,
				BytesPerSecond: d.BytesPerSecond, ByteBurst: d.ByteBurst}
		}
		msg = j
	case sfu.PublisherAnswer:
		msg = sdpMsg{Type: "answer", SDP: ev.SDP}
	case sfu.RestartRequest:
		msg = restartMsg{Type: "restart", Target: string(ev.Target)}
	case sfu.SubscriberOffer:
		msg = sdpMsg{Type: "offer", SDP: ev.SDP}
	case sfu.Candidate:
		msg = candidateMsg{Type: "candidate", Target: string(ev.Target), Candidate: ev.Candidate}
	case sfu.ParticipantJoined:
		msg = participantMsg{Type: "participant_joined", Participant: toWireParticipant(ev.Participant)}
	case sfu.ParticipantLeft:
		msg = participantLeftMsg{Type: "participant_left", ParticipantID: ev.ParticipantID}
	case sfu.TrackPublished:
		msg = trackMsg{Type: "track_published", ParticipantID: ev.ParticipantID, Track: wireTrack(ev.Track)}
	case sfu.TrackUnpublished:
		msg = trackUnpublishedMsg{Type: "track_unpublished", ParticipantID: ev.ParticipantID, TrackID: ev.TrackID}
	case sfu.TrackMuted:
		msg = trackMutedMsg{Type: "track_muted", ParticipantID: ev.ParticipantID, TrackID: ev.Track.ID, Kind: ev.Track.Kind, Muted: ev.Track.Muted}
	case sfu.TrackUndecodable:
		msg = trackUndecodableMsg{Type: "track_undecodable", ParticipantID: ev.ParticipantID, TrackID: ev.TrackID, Kind: ev.Kind, Codec: ev.Codec}
	case sfu.CodecChange:
		msg = codecMsg{Type: "codec", TrackID: ev.TrackID, Kind: ev.Kind, Codec: ev.Codec, From: ev.From}
	case sfu.ActiveSpeakers:
		speakers := ev.Speakers
		if speakers == nil {
			speakers = []string{}
		}
		msg = speakersMsg{Type: "speakers", Speakers: speakers, Active: ev.Active}
	case sfu.PublisherLayers:
		msg = layersMsg{Type: "layers", TrackID: ev.TrackID, Layers: ev.Active}
	case sfu.Bye:
		msg = byeMsg{Type: "bye", Reason: ev.Reason}
	case sfu.NetworkQuality:
		msg = qualityMsg{Type: "quality", Level: ev.Self, Others: ev.Participants}
	case sfu.Move:
		msg = moveMsg{Type: "move", TimeLeft: max(ev.TimeLeft.Milliseconds(), 0)}
	case sfu.DataError:
		msg = newDataErrorMsg(ev)
	default:
		if msg = peerMessage(ev); msg == nil {
			return nil, nil
		}
	}
	return json.Marshal(msg)
}

// qualityMsg tells the client the network quality levels (PROTOCOL.md,
// "Network quality"). Its fields are not named self and participants: in
// other messages those are a Participant and a list of them.
type qualityMsg struct {
	Type   string         `json:"type"`
	Level  int            `json:"level"`
	Others map[string]int `json:"others"`
}

// restartMsg asks the client for an ICE restart of a connection it offers.
type restartMsg struct {
	Type   string `json:"type"`
	Target string `json:"target"`
}
