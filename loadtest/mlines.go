package loadtest

import (
	"github.com/pion/sdp/v3"
)

// The server reuses the m-line of a track that ended for the next track
// of the same kind (signaling/PROTOCOL.md): in between, the m-line is
// inactive, and it may stay so through several offers.
//
// pion, as the answerer, stops a transceiver's receiver whenever an offer
// makes its m-line inactive, and gives it a fresh receiver only if the
// stopped one had tracks. An m-line inactive in two offers in a row is
// left with a stopped receiver and no tracks, and when the server reuses
// it no track ever starts on it. So the client hands pion each inactive
// m-line of an offer as sendonly without streams, which pion answers
// recvonly and leaves its (fresh) receiver alone, and tells the server
// inactive, the answer the server's offer called for. pion still ends
// the old track: its SSRC is no longer offered.

// reviveInactive returns offer with its inactive m-lines made sendonly,
// and their mids; offer itself if it has none or does not parse.
func reviveInactive(offer string) (string, map[string]bool) {
	var d sdp.SessionDescription
	if d.UnmarshalString(offer) != nil {
		return offer, nil
	}
	var mids map[string]bool
	for _, m := range d.MediaDescriptions {
		mid, ok := m.Attribute("mid")
		if !ok || !setDirection(m, sdp.AttrKeyInactive, sdp.AttrKeySendOnly) {
			continue
		}
		if mids == nil {
			mids = map[string]bool{}
		}
		mids[mid] = true
	}
	if mids == nil {
		return offer, nil
	}
	out, err := d.Marshal()
	if err != nil {
		return offer, nil
	}
	return string(out), mids
}

// keepInactive returns answer with the m-lines of mids inactive again.
func keepInactive(answer string, mids map[string]bool) string {
	if len(mids) == 0 {
		return answer
	}
	var d sdp.SessionDescription
	if d.UnmarshalString(answer) != nil {
		return answer
	}
	for _, m := range d.MediaDescriptions {
		if mid, ok := m.Attribute("mid"); ok && mids[mid] {
			setDirection(m, sdp.AttrKeyRecvOnly, sdp.AttrKeyInactive)
		}
	}
	out, err := d.Marshal()
	if err != nil {
		return answer
	}
	return string(out)
}

// setDirection replaces m's direction attribute from with to, and reports
// whether m had it.
func setDirection(m *sdp.MediaDescription, from, to string) bool {
	for i, a := range m.Attributes {
		if a.Key == from && a.Value == "" {
			m.Attributes[i].Key = to
			return true
		}
	}
	return false
}
