//go:build !linux

package sfu

import (
	"net"
	"time"

	"github.com/pion/logging"
)

// newMediaConn returns the media socket as it is: without sendmmsg,
// batching its writes would only add latency. Packets leave when written,
// so there is no clock of batches.
func newMediaConn(conn *net.UDPConn, _ func() time.Time, _ logging.LeveledLogger) (net.PacketConn, *flushClock, error) {
	return conn, nil, nil
}
