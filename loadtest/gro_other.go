//go:build !linux

package loadtest

import (
	"net"

	"github.com/pion/transport/v4"
)

// withGRO returns conn: UDP_GRO is Linux's.
func withGRO(conn *net.UDPConn) transport.UDPConn { return conn }
