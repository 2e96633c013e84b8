package sfu

import "sync/atomic"

// Load is a snapshot of what an SFU carries. The counts are of the
// moment; the packet and byte figures are totals since the SFU started,
// so that a caller takes two snapshots and divides their difference by
// the time between them to get rates.
type Load struct {
	Rooms        int
	Participants int // clients in rooms; the participants relays bring from other nodes are not counted
	Tracks       int // tracks published, those relays bring from other nodes included
	// Subscriptions are the DownTracks: one per track per participant
	// receiving it, and one per layer per relay sending it to another
	// node.
	Subscriptions int

	// PacketsReceived and BytesReceived are the RTP packets of media
	// received from publishers, as they arrived (headers included, after
	// decryption), counting neither duplicates nor padding-only probes:
	// the packets the rtp_packets_received_total metric counts.
	PacketsReceived, BytesReceived uint64
	// PacketsForwarded and BytesForwarded are the RTP packets of media
	// written to subscribers, headers included, as the SFU writes them:
	// before the header extensions their connections add (8 bytes for
	// transport-wide congestion control) and encryption. Retransmissions
	// and probe padding are not counted: the packets the rtp_packets_forwarded_total
	// metric counts.
	PacketsForwarded, BytesForwarded uint64
}

// traffic counts the packets and bytes of an SFU's media for Load. Its
// counters are added to where the Prometheus counters of the same packets
// are, by the UpTracks' reader goroutines: once per packet received, once
// per batch of packets forwarded.
type traffic struct {
	packetsIn, bytesIn   atomic.Uint64
	packetsOut, bytesOut atomic.Uint64
}

// received counts one packet of n bytes from a publisher.
func (t *traffic) received(n int) {
	t.packetsIn.Add(1)
	t.bytesIn.Add(uint64(n))
}

// forwarded counts packets written to subscribers, bytes in all.
func (t *traffic) forwarded(packets, bytes int) {
	t.packetsOut.Add(uint64(packets))
	t.bytesOut.Add(uint64(bytes))
}

// Load returns what the SFU carries now and the traffic totals so far.
// It takes the SFU's and then each room's lock in turn, briefly, and
// touches nothing on the media path.
func (s *SFU) Load() Load {
	s.mu.Lock()
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()

	l := Load{Rooms: len(rooms)}
	for _, r := range rooms {
		r.mu.Lock()
		l.Participants += r.clients
		for _, m := range r.members {
			l.Tracks += len(m.tracks)
			for _, t := range m.tracks {
				l.Subscriptions += len(*t.down.Load())
			}
		}
		r.mu.Unlock()
	}
	l.PacketsReceived = s.traffic.packetsIn.Load()
	l.BytesReceived = s.traffic.bytesIn.Load()
	l.PacketsForwarded = s.traffic.packetsOut.Load()
	l.BytesForwarded = s.traffic.bytesOut.Load()
	return l
}
