package signaling

import "slices"

// ICEServer is one entry of the joined message's iceServers, an
// RTCIceServer (https://www.w3.org/TR/webrtc/#rtciceserver-dictionary).
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// ICEServersFunc returns the ICE servers of a participant about to join
// room as identity, typically with TURN credentials of its own. It is
// called on the connection's reader goroutine, once per join, and must
// not block.
type ICEServersFunc func(identity, room string) []ICEServer

// WithICEServers makes the joined message carry, after the fixed
// ice_servers of the configuration, what f returns for the participant.
func WithICEServers(f ICEServersFunc) Option { return func(s *Server) { s.iceFor = f } }

// iceServersFor is the joined message's iceServers for identity in room:
// never nil, so that it encodes as a JSON array.
func (s *Server) iceServersFor(identity, room string) []ICEServer {
	if s.iceFor == nil {
		return s.ice
	}
	return append(slices.Clip(s.ice), s.iceFor(identity, room)...)
}

// iceServers is the connection's iceServers: its own once it has asked
// to join, the configured ones before.
func (c *conn) iceServers() []ICEServer {
	if p := c.ice.Load(); p != nil {
		return *p
	}
	return c.s.ice
}
