//go:build !linux

package loadtest

import (
	"net"

	"github.com/pion/transport/v4"
)

// withGRO returns conn: UDP_GRO and the receive times read with it are
// Linux's.
func withGRO(conn *net.UDPConn, _ *arrivalStamps) transport.UDPConn { return conn }
