package loadtest

import (
	"net"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// socketBuffer is the receive buffer of every harness socket. With the
// default 208 KiB, a subscriber's socket overflows when its goroutines
// wait for a core for a few tens of milliseconds, and the run would count
// the harness's own drops as the SFU's loss (measured at 90 subscribers
// of a 4+4 meeting: 26,000 drops in 30 s, 0.96% loss after repair). The
// kernel caps it at net.core.rmem_max.
const socketBuffer = 1 << 20

// harnessNet is the network pion's ICE agent opens its sockets with: the
// standard one, with socketBuffer on every UDP socket, whose media packets
// go to tap and the other RTP packets' receive times to stamps (either may
// be nil).
type harnessNet struct {
	*stdnet.Net
	stamps *arrivalStamps
	tap    *srtpTap
}

func newHarnessNet(stamps *arrivalStamps, tap *srtpTap) (transport.Net, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return harnessNet{n, stamps, tap}, nil
}

// ListenUDP opens a UDP socket with the harness's receive buffer, read
// with UDP_GRO where the kernel offers it (see groConn). pion reads either
// without allocating.
func (n harnessNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	conn, err := net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	_ = conn.SetReadBuffer(socketBuffer)
	return withGRO(conn, n.stamps, n.tap), nil
}
