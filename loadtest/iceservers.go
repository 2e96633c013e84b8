package loadtest

import "github.com/pion/webrtc/v4"

// ICEOptions say which STUN/TURN servers a client uses and how.
type ICEOptions struct {
	// FromJoined uses the iceServers of the joined message on both
	// connections, before either gathers a candidate.
	FromJoined bool
	// KeepURL, if set, keeps only the server URLs it returns true for
	// (e.g. only TURN over TCP).
	KeepURL func(url string) bool
	// Policy is the connections' ICE transport policy; relay gathers
	// relayed candidates only.
	Policy webrtc.ICETransportPolicy
}

// useICEServers gives both connections the servers of the joined
// message, the URLs that KeepURL keeps, and the peer connections opened
// later (Options.P2P) too. It runs on the reader goroutine
// before any description is applied, so before either connection
// gathers.
func (c *Client) useICEServers(servers []webrtc.ICEServer) {
	var kept []webrtc.ICEServer
	for _, s := range servers {
		urls := s.URLs[:0:0]
		for _, u := range s.URLs {
			if c.opts.ICE.KeepURL == nil || c.opts.ICE.KeepURL(u) {
				urls = append(urls, u)
			}
		}
		if len(urls) > 0 {
			s.URLs = urls
			kept = append(kept, s)
		}
	}
	if c.peer != nil {
		c.peer.useICEServers(kept)
	}
	for _, pc := range []*webrtc.PeerConnection{c.pub, c.sub} {
		cfg := pc.GetConfiguration()
		cfg.ICEServers = kept
		if err := pc.SetConfiguration(cfg); err != nil {
			c.inbox.put(Message{Type: "client_error", Message: "ice servers: " + err.Error()})
		}
	}
}
