//go:build !linux

package sfu

import (
	"net"

	"github.com/pion/logging"
)

// newMediaConn returns the media socket as it is: without sendmmsg,
// batching its writes would only add latency.
func newMediaConn(conn *net.UDPConn, _ logging.LeveledLogger) (net.PacketConn, error) {
	return conn, nil
}
