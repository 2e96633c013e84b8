package sfu

import (
	"errors"
	"net"
	"time"
)

// Frame-wise fan-out of video. A video frame is several packets that a
// publisher sends in a burst. Forwarded packet by packet, each packet
// goes to every subscriber before the next is read, so the media socket's
// batches hold about one packet per subscriber. Held until the frame is
// complete and then written subscriber by subscriber, a frame's packets
// to one subscriber sit side by side in a batch, and the kernel sends
// them as one UDP GSO message: about 1.6 µs of CPU per packet instead of
// 4.3 µs, measured on loopback with 250 destinations and 6 packets each.
//
// Holding does not delay the frame: a decoder needs its last packet, and
// that goes out as soon as before. The first packets wait at most
// frameHold for the rest.
const (
	// frameHold is the longest a packet waits for the rest of its frame.
	frameHold = 5 * time.Millisecond
	// frameMaxPackets is the most packets held; a larger frame (a
	// keyframe) is forwarded in runs of this many.
	frameMaxPackets = 16
)

// deadlineReader is a packetReader whose reads can time out, as a
// *webrtc.TrackRemote's can.
type deadlineReader interface {
	SetReadDeadline(t time.Time) error
}

// runFrames reads a video layer's packets until its source fails, holding
// each frame's packets until the frame ends (its marker bit, or a packet
// of the next frame), frameMaxPackets are held, or frameHold has passed.
// A retransmission is forwarded at once, after what is held.
func (u *UpTrack) runFrames(l *layer, src packetReader) {
	pkts := make([]inPacket, frameMaxPackets+1)
	for i := range pkts {
		pkts[i].buf = make([]byte, packetSlot)
	}
	dr, timed := src.(deadlineReader)
	held := 0
	var deadline time.Time // set on src while packets are held
	flush := func() {
		if held > 0 {
			u.fanOut(l, pkts[:held])
			held = 0
		}
	}
	for {
		if timed {
			want := time.Time{}
			if held > 0 {
				want = pkts[0].at.Add(frameHold)
			}
			if !want.Equal(deadline) && dr.SetReadDeadline(want) == nil {
				deadline = want
			}
		}
		p := &pkts[held]
		n, attrs, err := src.Read(p.buf)
		if err != nil {
			if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
				flush()
				continue
			}
			break
		}
		if !u.accept(l, p, n, repairedAttr(attrs)) {
			continue
		}
		if held > 0 && (p.repaired || p.hdr.Timestamp != pkts[0].hdr.Timestamp) {
			// p starts another frame, or repairs an older one: what is
			// held is complete as far as it will be.
			u.fanOut(l, pkts[:held])
			pkts[0], pkts[held] = pkts[held], pkts[0]
			held = 0
			p = &pkts[0]
		}
		held++
		if p.hdr.Marker || p.repaired || held == frameMaxPackets {
			flush()
		}
	}
	flush()
}
