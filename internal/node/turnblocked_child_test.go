package node_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/loadtest"
)

// Environment of the client re-executed inside the lab of
// TestTURNBlockedUDPClient (turnblocked_test.go).
const (
	tbURLEnv   = "SFU_TURNBLOCKED_URL"
	tbTokenEnv = "SFU_TURNBLOCKED_TOKEN"
	tbIPEnv    = "SFU_TURNBLOCKED_IP"    // the only local address ICE may use
	tbOverEnv  = "SFU_TURNBLOCKED_OVER"  // "tcp": keep turn:?transport=tcp only; "tls": turns: only
	tbProbeEnv = "SFU_TURNBLOCKED_PROBE" // a UDP address the client sends a few datagrams to first
)

// turnBlockedReport is what the blocked client prints every 250 ms.
type turnBlockedReport struct {
	SelfID string
	// Start is when the client began to join; Joined when it had the
	// joined message.
	Start, Joined time.Time
	// Publisher and Subscriber are its connections' selected pairs.
	Publisher, Subscriber pairReport
	// Tracks are what it received, by track.
	Tracks map[string]loadtest.TrackCounts
	// ProbeErr is what sending the UDP probe answered ("" if the
	// datagrams left).
	ProbeErr string
}

// pairReport is a connection's ICE state and its selected candidate
// pair, from pion's stats.
type pairReport struct {
	State         string
	LocalType     string // host, srflx, prflx, relay
	RelayProtocol string // for relay: how the TURN server is reached (udp, tcp, tls)
	Local, Remote string
	Err           string
}

func (p pairReport) String() string {
	if p.Err != "" {
		return p.State + ", " + p.Err
	}
	return fmt.Sprintf("%s, %s %s over %q to %s", p.State, p.LocalType, p.Local, p.RelayProtocol, p.Remote)
}

func reportPair(pc *webrtc.PeerConnection) pairReport {
	r := pairReport{State: pc.ICEConnectionState().String()}
	local, remote, err := selectedPair(pc)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	r.LocalType, r.RelayProtocol = local.CandidateType.String(), local.RelayProtocol
	r.Local = net.JoinHostPort(local.IP, fmt.Sprint(local.Port))
	r.Remote = net.JoinHostPort(remote.IP, fmt.Sprint(remote.Port))
	return r
}

// TestTURNBlockedClientProcess is the client whose UDP the lab blocks:
// it joins with only the TURN URL its parent names, publishes, and
// reports what it receives until its parent closes its stdin. In a
// normal test run it does nothing.
func TestTURNBlockedClientProcess(t *testing.T) {
	url := os.Getenv(tbURLEnv)
	if url == "" {
		return
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "turn-blocked client:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep := turnBlockedReport{Start: time.Now()}
	// The probe shows the parent that UDP cannot leave: nothing of it may
	// arrive.
	if conn, err := net.Dial("udp4", os.Getenv(tbProbeEnv)); err != nil {
		rep.ProbeErr = err.Error()
	} else {
		for range 3 {
			if _, err := conn.Write([]byte("probe")); err != nil {
				rep.ProbeErr = err.Error()
			}
		}
		_ = conn.Close()
	}
	keep := func(u string) bool { return strings.HasPrefix(u, "turn:") && strings.HasSuffix(u, "?transport=tcp") }
	if os.Getenv(tbOverEnv) == "tls" {
		keep = func(u string) bool { return strings.HasPrefix(u, "turns:") }
	}
	// The policy is "all": the client gathers its host candidate as any
	// client that does not know its UDP is blocked would.
	c, err := loadtest.Dial(ctx, loadtest.Options{URL: url, Token: os.Getenv(tbTokenEnv),
		AllowIPs: []net.IP{net.ParseIP(os.Getenv(tbIPEnv))},
		ICE:      loadtest.ICEOptions{FromJoined: true, KeepURL: keep}})
	if err != nil {
		fail(err)
	}
	defer c.Close()
	rep.Joined, rep.SelfID = time.Now(), c.Self.ID
	if err := c.Publish(loadtest.DefaultMedia); err != nil {
		fail(err)
	}
	gone := loadtest.ParentGone()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-gone:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rep.Publisher, rep.Subscriber = reportPair(c.Publisher()), reportPair(c.Subscriber())
		rep.Tracks = c.Received()
		if err := loadtest.Report(rep); err != nil {
			fail(err)
		}
	}
}
