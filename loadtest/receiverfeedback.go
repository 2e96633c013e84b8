package loadtest

// What a receiver tells the sender about a track: NACKs and reception
// reports, on the feedback clock.

import (
	"time"

	"github.com/pion/rtcp"
)

// missing appends the packets to ask for now to seqs: those still
// missing, each at most maxNacks times.
func (st *trackState) missing(seqs []uint16) []uint16 {
	if !st.nack || st.counts.First.IsZero() {
		return seqs
	}
	done := func(ext uint64) bool {
		s := st.at(ext)
		return s == nil || s.seen || s.nacks >= maxNacks
	}
	for ; st.nackFrom < st.hi && done(st.nackFrom); st.nackFrom++ {
	}
	for ext := st.nackFrom; ext < st.hi; ext++ {
		if !done(ext) {
			st.at(ext).nacks++
			seqs = append(seqs, uint16(ext))
		}
	}
	return seqs
}

// report returns the track's reception report block (RFC 3550, 6.4.1).
func (st *trackState) report(now time.Time) rtcp.ReceptionReport {
	expected := st.hi - st.lo + 1
	unique := uint64(st.counts.Unique)
	lost := int64(expected) - int64(unique)
	lost = min(max(lost, -(1<<23)), 1<<23-1) // 24-bit signed
	var fraction uint8
	if dExp, dGot := int64(expected-st.reportedExpected), int64(unique-st.reportedUnique); dExp > 0 && dExp > dGot {
		fraction = uint8((dExp - dGot) << 8 / dExp)
	}
	st.reportedExpected, st.reportedUnique = expected, unique
	rep := rtcp.ReceptionReport{
		SSRC:               st.counts.SSRC,
		FractionLost:       fraction,
		TotalLost:          uint32(lost) & 0xffffff,
		LastSequenceNumber: uint32(st.hi - 1<<16), // cycles<<16 | highest, as SeqUnwrapper starts at 1<<16
		Jitter:             uint32(st.jitter),
	}
	if st.lastSR != 0 {
		rep.LastSenderReport = st.lastSR
		rep.Delay = uint32(now.Sub(st.lastSRAt).Seconds() * 65536)
	}
	return rep
}

// sendFeedback sends what is due at now: NACKs, PLIs, receiver reports
// and transport-wide congestion control feedback.
func (r *receiver) sendFeedback(now time.Time) {
	var pkts []rtcp.Packet
	r.mu.Lock()
	if !now.Before(r.nextReport) {
		if !r.nextReport.IsZero() {
			rep := &rtcp.ReceiverReport{SSRC: r.ssrc}
			for _, st := range r.tracks {
				if !st.counts.First.IsZero() && len(rep.Reports) < 31 {
					rep.Reports = append(rep.Reports, st.report(now))
				}
			}
			if len(rep.Reports) > 0 {
				pkts = append(pkts, rep)
			}
		}
		r.nextReport = now.Add(reportInterval)
	}
	for _, st := range r.tracks {
		if r.seqs = st.missing(r.seqs[:0]); len(r.seqs) > 0 {
			pkts = append(pkts, &rtcp.TransportLayerNack{SenderSSRC: r.ssrc, MediaSSRC: st.counts.SSRC, Nacks: rtcp.NackPairsFromSequenceNumbers(r.seqs)})
		}
		if st.needKey && now.Sub(st.lastPLI) >= pliEvery {
			// A frame was lost for good: the decoder waits for a keyframe.
			st.lastPLI = now
			pkts = append(pkts, &rtcp.PictureLossIndication{SenderSSRC: r.ssrc, MediaSSRC: st.counts.SSRC})
		}
	}
	twccDue := !now.Before(r.nextTWCC)
	if twccDue {
		r.nextTWCC = now.Add(twccFeedbackInterval)
	}
	r.mu.Unlock()
	if twccDue {
		pkts = append(pkts, r.twcc.feedback()...)
	}
	if len(pkts) > 0 && r.send != nil {
		_ = r.send(pkts)
	}
}
