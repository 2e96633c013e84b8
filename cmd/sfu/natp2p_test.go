package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sfu-project/sfu/loadtest"
)

const forwardedMetric = "sfu_rtp_packets_forwarded_total"

// natCall starts the server and two clients, a behind site 0 and b
// behind site 1, b joining once a is in.
func natCall(t *testing.T, lab *loadtest.NATLab) (*natServer, *loadtest.Child, *loadtest.Child) {
	t.Helper()
	srv := startNATServer(t, lab)
	a := startNATClient(t, lab, 0, "ann")
	b := startNATClient(t, lab, 1, "bob")
	return srv, a, b
}

// direct is true once both clients are in mode p2p with their peer's
// video playing over the peer connection.
func direct(a, b natReport) bool {
	return a.Mode == "p2p" && b.Mode == "p2p" && a.PeerVideo.Frames >= 30 && b.PeerVideo.Frames >= 30
}

// firstDirect is how long after the second client joined the first
// direct media played on each side.
func firstDirect(a, b natReport) (time.Duration, time.Duration) {
	joined := b.JoinedAt
	if a.JoinedAt.After(joined) {
		joined = a.JoinedAt
	}
	return a.FirstMedia.Sub(joined).Round(time.Millisecond), b.FirstMedia.Sub(joined).Round(time.Millisecond)
}

// quietSFU checks for d that the server forwards nothing while each
// client receives the other's video over its peer connection.
func quietSFU(t *testing.T, srv *natServer, a, b *loadtest.Child, d time.Duration) {
	t.Helper()
	var ra0, rb0, ra, rb natReport
	_, _ = a.Latest(&ra0)
	_, _ = b.Latest(&rb0)
	fwd := srv.metric(t, forwardedMetric)
	time.Sleep(d)
	n := srv.metric(t, forwardedMetric) - fwd
	_, _ = a.Latest(&ra)
	_, _ = b.Latest(&rb)
	t.Logf("in %v of mode p2p: %v packets forwarded by the SFU (%v before, in mode sfu), %d and %d video frames over the peer connection",
		d, n, fwd, ra.PeerVideo.Frames-ra0.PeerVideo.Frames, rb.PeerVideo.Frames-rb0.PeerVideo.Frames)
	if n != 0 {
		t.Errorf("the SFU forwarded %v packets in %v of mode p2p, want 0", n, d)
	}
	want := int(d.Seconds() * 10) // a third of 30 fps, whatever the load
	for _, p := range [][2]natReport{{ra0, ra}, {rb0, rb}} {
		if got := p[1].PeerVideo.Frames - p[0].PeerVideo.Frames; got < want {
			t.Errorf("%s received %d video frames over the peer connection in %v, want at least %d", p[1].ID, got, d, want)
		}
	}
}

// TestNATHolePunch: two clients behind two endpoint-independent NATs
// (masquerade) punch through: the room goes p2p, each side's selected
// pair goes from its own socket behind its NAT (pion's host or server
// reflexive candidate, not a relay) to the peer's NAT mapping (the
// peer's public address: a server reflexive or peer reflexive
// candidate, not a relay, not the peer's private address), video plays
// over the peer connection, and the SFU forwards nothing.
func TestNATHolePunch(t *testing.T) {
	lab := loadtest.NewTestNATLab(t, loadtest.NATMasquerade, loadtest.NATMasquerade)
	srv, a, b := natCall(t, lab)
	ra, rb := natUntil(t, a, b, 20*time.Second, "direct", direct)
	da, db := firstDirect(ra, rb)
	t.Logf("first direct media %v (%s) and %v (%s) after the second joined", da, ra.ID, db, rb.ID)
	for i, r := range []natReport{ra, rb} {
		t.Logf("%v", r)
		peerNAT := lab.Sites[1-i].PublicIP
		if host, _, _ := net.SplitHostPort(r.RemoteAddr); host != peerNAT.String() || r.Local == "relay" || r.Remote == "relay" || r.Remote == "host" {
			t.Errorf("%s: selected pair %s -> %s %s, want from its own socket (host or srflx) to the peer's NAT at %s (srflx or prflx)",
				r.ID, r.Local, r.Remote, r.RemoteAddr, peerNAT)
		}
		// A host candidate behind a NAT pairs with the peer's NAT address
		// (ICE prunes a server reflexive local candidate to its base):
		// the path is punched through the NATs, and says so.
		if r.Path != "srflx" {
			t.Errorf("%s: reported path %q, want srflx (through the NATs, by STUN)", r.ID, r.Path)
		}
		if len(r.Errors) > 0 {
			t.Errorf("%s: %v", r.ID, r.Errors)
		}
	}
	time.Sleep(300 * time.Millisecond) // what was on its way through the SFU arrives
	quietSFU(t, srv, a, b, 2*time.Second)
}

// TestNATSymmetricFallsBack: where hole punching cannot work, the call
// still carries media, through the TURN relay (mode p2p over relayed
// candidates) or through the SFU (mode sfu after peer_timeout or
// peer_failed); the test logs which.
func TestNATSymmetricFallsBack(t *testing.T) {
	for _, tc := range []struct {
		name  string
		kinds []loadtest.NATKind
		block bool // site 0's firewall drops UDP to and from site 1
	}{
		{"both fully-random", []loadtest.NATKind{loadtest.NATFullyRandom, loadtest.NATFullyRandom}, false},
		{"firewall drops the peer's UDP", []loadtest.NATKind{loadtest.NATMasquerade, loadtest.NATMasquerade}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lab := loadtest.NewTestNATLab(t, tc.kinds...)
			if tc.block {
				if err := lab.Sites[0].BlockUDP(lab.Sites[1].PublicIP); err != nil {
					t.Fatal(err)
				}
			}
			srv, a, b := natCall(t, lab)
			fellBack := func(r natReport) bool {
				for _, e := range r.Events {
					if e == "mode sfu peer_timeout" || e == "mode sfu peer_failed" || e == "peer_end peer_timeout" || e == "peer_end peer_failed" {
						return true
					}
				}
				return false
			}
			relayed := func(r natReport) bool { return (r.Local == "relay" || r.Remote == "relay") && r.Path == "relay" }
			ra, rb := natUntil(t, a, b, 25*time.Second, "relayed or back on the SFU", func(a, b natReport) bool {
				return (direct(a, b) && relayed(a) && relayed(b)) ||
					(fellBack(a) && fellBack(b) && a.SFUVideo.Frames >= 30 && b.SFUVideo.Frames >= 30)
			})
			for _, r := range []natReport{ra, rb} {
				t.Logf("%v", r)
			}
			if direct(ra, rb) {
				da, db := firstDirect(ra, rb)
				t.Logf("through the TURN relay: pairs %s -> %s and %s -> %s; first media %v and %v after the second joined",
					ra.Local, ra.Remote, rb.Local, rb.Remote, da, db)
				time.Sleep(300 * time.Millisecond)
				quietSFU(t, srv, a, b, 2*time.Second)
				return
			}
			t.Logf("through the SFU: %v / %v", ra.Events, rb.Events)
			time.Sleep(time.Second)
			var ra2, rb2 natReport
			_, _ = a.Latest(&ra2)
			_, _ = b.Latest(&rb2)
			if ra2.SFUVideo.Frames-ra.SFUVideo.Frames < 10 || rb2.SFUVideo.Frames-rb.SFUVideo.Frames < 10 {
				t.Errorf("through the SFU in 1 s: %d and %d video frames, want at least 10 each",
					ra2.SFUVideo.Frames-ra.SFUVideo.Frames, rb2.SFUVideo.Frames-rb.SFUVideo.Frames)
			}
		})
	}
}

// TestNATNetworkChange: in a direct call, the NAT of the first client
// rebinds its UDP to another public address, so the call's 5-tuples die
// (the peer's NAT drops what comes from the new address until the peer
// sends there). The call recovers over the peer connection with an ICE
// restart, in the same WebSocket session: no second join, no fall back
// to the SFU. It reports how long the video paused.
func TestNATNetworkChange(t *testing.T) {
	lab := loadtest.NewTestNATLab(t, loadtest.NATMasquerade, loadtest.NATMasquerade)
	srv, a, b := natCall(t, lab)
	ra0, rb0 := natUntil(t, a, b, 20*time.Second, "direct", direct)
	time.Sleep(500 * time.Millisecond)
	_, _ = a.Latest(&ra0)
	_, _ = b.Latest(&rb0)
	changed := time.Now()
	if err := lab.Sites[0].RebindUDP(net.IPv4(10, 250, 0, 101)); err != nil {
		t.Fatal(err)
	}
	// The pause of each side's video over the peer connection, from the
	// arrival times of the newest frame in successive reports (100 ms
	// apart): the longest interval between two of them.
	type pause struct {
		last, end time.Time
		longest   time.Duration
	}
	pauses := [2]pause{{last: ra0.PeerVideo.LastFrame}, {last: rb0.PeerVideo.LastFrame}}
	ra, rb := natUntil(t, a, b, 25*time.Second, "recovered with an ICE restart", func(a, b natReport) bool {
		for i, r := range []natReport{a, b} {
			p := &pauses[i]
			if r.PeerVideo.LastFrame.After(p.last) {
				if d := r.PeerVideo.LastFrame.Sub(p.last); d > p.longest {
					p.longest, p.end = d, r.PeerVideo.LastFrame
				}
				p.last = r.PeerVideo.LastFrame
			}
		}
		restarted := a.ICERestarts > ra0.ICERestarts || b.ICERestarts > rb0.ICERestarts
		resumed := func(p pause) bool { return p.longest > 0 && p.last.Sub(p.end) >= time.Second }
		return restarted && resumed(pauses[0]) && resumed(pauses[1])
	})
	for i, r := range []natReport{ra, rb} {
		p := pauses[i]
		t.Logf("%s: video over the peer connection paused %v, resumed %v after the change", r.ID,
			p.longest.Round(10*time.Millisecond), p.end.Sub(changed).Round(10*time.Millisecond))
	}
	for _, r := range []natReport{ra, rb} {
		t.Logf("%v", r)
		if r.Joins != 1 || r.Disconnect != "" {
			t.Errorf("%s: %d joins, disconnect %q: want the same session", r.ID, r.Joins, r.Disconnect)
		}
		if r.Mode != "p2p" || len(r.Events) != 1 {
			t.Errorf("%s: mode %q after %v, want p2p throughout", r.ID, r.Mode, r.Events)
		}
	}
	if ra.ID != ra0.ID || rb.ID != rb0.ID {
		t.Errorf("participants %s, %s became %s, %s", ra0.ID, rb0.ID, ra.ID, rb.ID)
	}
	quietSFU(t, srv, a, b, 2*time.Second)
	// The connections to the SFU carry no media in mode p2p, but they
	// stay ready for a third participant or a fall back: those of the
	// client whose NAT rebound recover too, by ICE restart (the server
	// restarts the subscriber connection, the client the publisher
	// connection; signaling/PROTOCOL.md, "ICE restarts"). Say what the
	// client saw of them.
	time.Sleep(3 * time.Second)
	_, _ = a.Latest(&ra)
	var changes []string
	for _, h := range ra.ICEHistory {
		f := strings.Fields(h)
		if ms, err := strconv.ParseInt(f[2], 10, 64); err == nil && len(f) == 3 && time.UnixMilli(ms).After(changed) {
			changes = append(changes, fmt.Sprintf("%s %s at +%v", f[0], f[1], time.UnixMilli(ms).Sub(changed).Round(100*time.Millisecond)))
		}
	}
	t.Logf("%s's connections to the SFU %v after the change: publisher %s, subscriber %s; changes since the change: %v", ra.ID,
		time.Since(changed).Round(100*time.Millisecond), ra.PubICE, ra.SubICE, changes)
	if ra.PubICE != "connected" || ra.SubICE != "connected" {
		t.Errorf("%s's connections to the SFU: publisher %s, subscriber %s; want both connected again", ra.ID, ra.PubICE, ra.SubICE)
	}
}
