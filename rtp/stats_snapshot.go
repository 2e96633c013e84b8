package rtp

// StatsSnapshot is a point-in-time copy of a stream's receive statistics,
// with the meanings of RFC 3550, 6.4.1 and Appendix A.3.
type StatsSnapshot struct {
	// Received counts the packets received, including duplicates.
	Received uint64
	// Expected is the number of packets between the lowest and the highest
	// extended sequence numbers received, inclusive.
	Expected uint64
	// Lost is Expected minus Received. It is negative when duplicates
	// outnumber the packets missing.
	Lost int64
	// Jitter is the interarrival jitter, in seconds.
	Jitter float64
}
