package loadtest

import (
	"encoding/json"
	"slices"

	"github.com/pion/webrtc/v4"
)

// Message is any server message; Type says which fields are set.
type Message struct {
	Type          string                   `json:"type"`
	Code          string                   `json:"code,omitempty"`
	Message       string                   `json:"message,omitempty"`
	Ref           string                   `json:"ref,omitempty"`
	Reason        string                   `json:"reason,omitempty"`
	Room          string                   `json:"room,omitempty"`
	SDP           string                   `json:"sdp,omitempty"`
	Target        string                   `json:"target,omitempty"`
	Candidate     *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Self          *Participant             `json:"self,omitempty"`
	Participants  []Participant            `json:"participants,omitempty"`
	Participant   *Participant             `json:"participant,omitempty"`
	Joined        []Participant            `json:"joined,omitempty"`
	Left          []string                 `json:"left,omitempty"`
	ParticipantID string                   `json:"participantId,omitempty"`
	TrackID       string                   `json:"trackId,omitempty"`
	Track         *Track                   `json:"track,omitempty"`
	Kind          string                   `json:"kind,omitempty"`
	Codec         string                   `json:"codec,omitempty"`
	Muted         bool                     `json:"muted,omitempty"`
	Layers        map[string]bool          `json:"layers,omitempty"`
	Speakers      []string                 `json:"speakers,omitempty"`
	Active        string                   `json:"active,omitempty"`
	ICEServers    []webrtc.ICEServer       `json:"iceServers,omitempty"`
	// Peer to peer for two: peer_start, mode, peer_end, and the relayed
	// offers, answers and candidates (From).
	PeerID   string `json:"peerId,omitempty"`
	Polite   bool   `json:"polite,omitempty"`
	Mode     string `json:"mode,omitempty"`
	From     string `json:"from,omitempty"`
	TimeLeft int64  `json:"timeLeft,omitempty"` // move: ms
	// Chat: a chat message's fields (Name too), and joined's history.
	ID       string        `json:"id,omitempty"`
	Identity string        `json:"identity,omitempty"`
	Name     string        `json:"name,omitempty"`
	Text     string        `json:"text,omitempty"`
	Time     int64         `json:"time,omitempty"`
	Chat     []ChatMessage `json:"chat,omitempty"`
	// DataLimits: joined's limits on our application data.
	DataLimits *DataLimits     `json:"dataLimits,omitempty"`
	Raw        json.RawMessage `json:"-"`
}

// DataLimits are the limits the server keeps our application data
// under (joined's dataLimits; signaling/PROTOCOL.md).
type DataLimits struct {
	MaxMessage        int     `json:"maxMessage"`
	MessagesPerSecond float64 `json:"messagesPerSecond"`
	MessageBurst      int     `json:"messageBurst"`
	BytesPerSecond    float64 `json:"bytesPerSecond"`
	ByteBurst         int     `json:"byteBurst"`
}

// Joins returns the participant with this identity whose joining m
// announces (a participants message), if it does.
func (m Message) Joins(identity string) (Participant, bool) {
	if m.Type == "participants" {
		for _, p := range m.Joined {
			if p.Identity == identity {
				return p, true
			}
		}
	}
	return Participant{}, false
}

// Leaves reports whether m says that participant id left.
func (m Message) Leaves(id string) bool {
	return m.Type == "participants" && slices.Contains(m.Left, id)
}

// Participant is a participant as the server describes it.
type Participant struct {
	ID       string  `json:"id"`
	Identity string  `json:"identity"`
	Name     string  `json:"name"`
	Tracks   []Track `json:"tracks"`
}

// Track is a published track as the server describes it.
type Track struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Source string `json:"source"`
	Muted  bool   `json:"muted"`
}
