package sfu

import (
	"maps"
	"slices"
	"strings"

	"github.com/pion/webrtc/v4"
)

// A room never keeps a subscriber that cannot decode a publisher. The SFU
// forwards what a publisher sends and does not transcode, so when a
// subscriber's answer accepts no codec for a track (TrackUndecodable),
// the room learns that the subscriber cannot decode that codec, and asks
// every client publishing video in a codec somebody present cannot
// decode to send it in the first of the SFU's codecs (VP8 first, which
// every browser decodes) that everybody decodes instead (CodecChange).
// The publisher's new track, in that codec, reaches everybody; the old
// one ends. A publisher is asked once per track.
//
// In a room that spans nodes, the marks of this node's clients cross
// each relay to the other nodes (relaycodecs.go), where they are the
// marks of the participants the relays imported: each node asks its own
// clients to switch, and picks the codec from the marks of everybody in
// the room, on every node.

// undecodableFor is the set of the SFU's video codecs (lower-case MIME
// types) missing from decodes, the codecs a client said it decodes; empty
// when it said nothing.
func undecodableFor(decodes []string) map[string]bool {
	out := make(map[string]bool)
	if decodes == nil {
		return out
	}
	for _, c := range videoCodecs {
		if !slices.ContainsFunc(decodes, func(d string) bool { return strings.EqualFold(d, c.MimeType) }) {
			out[strings.ToLower(c.MimeType)] = true
		}
	}
	return out
}

// declaredUndecodable is what a client said in join that it cannot
// decode, for the room to count from the start when it picks the codec
// everybody decodes; nil for other members.
func declaredUndecodable(p roomMember) map[string]bool {
	if c, ok := p.(*Participant); ok && c.who.Decodes != nil {
		return undecodableFor(c.who.Decodes)
	}
	return nil
}

// undecodable records that by cannot decode codec (a lower-case MIME
// type) and asks the publishers whose video somebody in the room cannot
// decode to change codec. It takes r.mu and sends after releasing it.
func (r *Room) undecodable(by roomMember, codec string) {
	type ask struct {
		to roomMember
		ev CodecChange
	}
	var asks []ask
	r.mu.Lock()
	m, ok := r.members[by.ID()]
	if !ok || m.p != by {
		r.mu.Unlock()
		return
	}
	if m.noDecode == nil {
		m.noDecode = make(map[string]bool)
	}
	// Every time, not only when the mark is new: a mark the client
	// declared in join reached the other nodes with it, but a publisher
	// there whose track came later is asked only when this hit is told.
	var relays []*relayMember
	if m.role == roleClient {
		for _, o := range r.members {
			if rm, ok := o.p.(*relayMember); ok {
				relays = append(relays, rm)
			}
		}
	}
	m.noDecode[codec] = true
	fallback, ok := r.commonVideoCodecLocked()
	for _, pub := range r.members {
		if pub.role != roleClient {
			continue // an imported publisher is asked by its own node, told over the relay
		}
		for _, up := range pub.tracks {
			from := strings.ToLower(up.codec.MimeType)
			if up.kind != webrtc.RTPCodecTypeVideo || up.codecAsked.Load() || !r.cannotDecodeLocked(pub, from) {
				continue
			}
			if !ok {
				r.sfu.log.Warn("room: no video codec everybody decodes", "room", r.name, "publisher", pub.p.ID(), "track", up.id, "codec", from)
				continue
			}
			if up.codecAsked.Swap(true) {
				continue
			}
			asks = append(asks, ask{pub.p, CodecChange{TrackID: up.id, Kind: "video", Codec: fallback, From: up.codec.MimeType}})
		}
	}
	r.mu.Unlock()
	for _, rm := range relays {
		rm.undecodable(by.ID(), codec)
	}
	for _, a := range asks {
		r.sfu.log.Info("room: publisher asked to change video codec: somebody cannot decode it",
			"room", r.name, "publisher", a.to.ID(), "track", a.ev.TrackID, "from", a.ev.From, "to", a.ev.Codec, "subscriber", by.ID())
		a.to.send(a.ev)
	}
}

// cannotDecodeLocked reports whether a member other than pub cannot
// decode codec. The caller holds r.mu.
func (r *Room) cannotDecodeLocked(pub *member, codec string) bool {
	for _, m := range r.members {
		if m != pub && m.noDecode[codec] {
			return true
		}
	}
	return false
}

// commonVideoCodecLocked is the first of the SFU's video codecs that no
// member is known not to decode. The caller holds r.mu.
func (r *Room) commonVideoCodecLocked() (string, bool) {
	for _, c := range videoCodecs {
		ok := true
		for _, m := range r.members {
			ok = ok && !m.noDecode[strings.ToLower(c.MimeType)]
		}
		if ok {
			return c.MimeType, true
		}
	}
	return "", false
}

// noDecodeOf lists the video codecs the member id is known not to
// decode, sorted; nil if none.
func (r *Room) noDecodeOf(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.members[id]
	if !ok || len(m.noDecode) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(m.noDecode))
}
