//go:build !linux

package loadtest

import (
	"net"

	"github.com/pion/transport/v5"
)

// withGRO returns conn: UDP_GRO, the receive times read with it, and the
// SRTP tap on its reads are Linux's.
func withGRO(conn *net.UDPConn, _ *arrivalStamps, _ *srtpTap) transport.UDPConn { return conn }
