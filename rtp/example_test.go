package rtp_test

import (
	"encoding/binary"
	"fmt"

	"github.com/sfu-project/sfu/rtp"
)

// This example answers a subscriber's NACK: the outgoing sequence number is
// mapped back to the source's, and the packet is fetched from the source's
// cache.
func Example_nack() {
	cache := rtp.NewPacketCache(512)
	rw := rtp.NewRewriter(20000, 1000)

	// Forward three packets of one source, with incoming seq 65534..0.
	pkt := make([]byte, 12+4)
	pkt[0] = 0x80
	for _, seq := range []uint16{65534, 65535, 0} {
		binary.BigEndian.PutUint16(pkt[2:], seq)
		cache.Add(pkt)
		outSeq, _ := rw.Rewrite(seq, uint32(seq)*3000)
		fmt.Println("forwarded", seq, "as", outSeq)
	}

	// The subscriber lost 20001.
	seq, ok := rw.Reverse(20001)
	buf := make([]byte, rtp.MaxPacketSize)
	n := cache.Get(seq, buf)
	fmt.Println("retransmit", seq, ok, n)

	// Output:
	// forwarded 65534 as 20000
	// forwarded 65535 as 20001
	// forwarded 0 as 20002
	// retransmit 65535 true 16
}
