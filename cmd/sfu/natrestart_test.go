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

// TestNATRestartSFU: in a call through the SFU (two clients that join
// with p2p false), the NAT of the first client rebinds its UDP to
// another public address, so both its connections to the SFU lose their
// 5-tuples while its WebSocket (TCP) lives on. Both recover by ICE
// restart, in the same session: the client restarts its publisher
// connection, the server its subscriber connection; no second join, the
// same participant, and video flows both ways again. It reports how long
// each side's video paused.
func TestNATRestartSFU(t *testing.T) {
	lab := loadtest.NewTestNATLab(t, loadtest.NATMasquerade, loadtest.NATMasquerade)
	srv := startNATServer(t, lab)
	a := startNATClient(t, lab, 0, "ann", natNoP2PEnv+"=1")
	b := startNATClient(t, lab, 1, "bob", natNoP2PEnv+"=1")
	// fromPeer is the video frames r received through the SFU from the
	// other client, and when the newest arrived.
	fromPeer := func(r natReport) (int, time.Time) {
		for id, n := range r.SFUFrames {
			if id != r.ID {
				return n, r.SFULast[id]
			}
		}
		return 0, time.Time{}
	}
	flowing := func(a, b natReport) bool {
		na, _ := fromPeer(a)
		nb, _ := fromPeer(b)
		return na >= 30 && nb >= 30
	}
	ra0, rb0 := natUntil(t, a, b, 20*time.Second, "receiving each other through the SFU", flowing)
	time.Sleep(500 * time.Millisecond)
	_, _ = a.Latest(&ra0)
	_, _ = b.Latest(&rb0)
	restarts0 := srv.restarts(t)
	changed := time.Now()
	if err := lab.Sites[0].RebindUDP(net.IPv4(10, 250, 0, 101)); err != nil {
		t.Fatal(err)
	}
	// The pause of each side's video, from the arrival times of the
	// newest frame in successive reports (100 ms apart): the longest
	// interval between two of them.
	type pause struct {
		last, end time.Time
		longest   time.Duration
		frames0   int
	}
	var pauses [2]pause
	for i, r := range []natReport{ra0, rb0} {
		pauses[i].frames0, pauses[i].last = fromPeer(r)
	}
	ra, rb := natUntil(t, a, b, 40*time.Second, "recovered with ICE restarts", func(a, b natReport) bool {
		for i, r := range []natReport{a, b} {
			p := &pauses[i]
			if _, last := fromPeer(r); last.After(p.last) {
				if d := last.Sub(p.last); d > p.longest {
					p.longest, p.end = d, last
				}
				p.last = last
			}
		}
		resumed := func(p pause) bool { return p.longest > 0 && p.last.Sub(p.end) >= time.Second }
		return a.PubRestarts > ra0.PubRestarts && a.SubRestarts > ra0.SubRestarts && resumed(pauses[0]) && resumed(pauses[1])
	})
	for i, r := range []natReport{ra, rb} {
		p := pauses[i]
		n, _ := fromPeer(r)
		t.Logf("%s: video through the SFU paused %v, resumed %v after the change; %d frames since", r.ID,
			p.longest.Round(10*time.Millisecond), p.end.Sub(changed).Round(10*time.Millisecond), n-p.frames0)
		t.Logf("%v; restarts: publisher %d, subscriber %d; the server asked for %d", r, r.PubRestarts, r.SubRestarts, r.RestartAsks)
		if n-p.frames0 < 30 {
			t.Errorf("%s: %d video frames through the SFU since the change, want at least 30", r.ID, n-p.frames0)
		}
		if r.Joins != 1 || r.Disconnect != "" {
			t.Errorf("%s: %d joins, disconnect %q: want the same session", r.ID, r.Joins, r.Disconnect)
		}
		if r.Mode == "p2p" {
			t.Errorf("%s: mode p2p, want the call on the SFU throughout", r.ID)
		}
		if len(r.Errors) > 0 {
			t.Errorf("%s: %v", r.ID, r.Errors)
		}
	}
	var changes []string
	for _, h := range ra.ICEHistory {
		f := strings.Fields(h)
		if ms, err := strconv.ParseInt(f[2], 10, 64); err == nil && len(f) == 3 && time.UnixMilli(ms).After(changed) {
			changes = append(changes, fmt.Sprintf("%s %s at +%v", f[0], f[1], time.UnixMilli(ms).Sub(changed).Round(100*time.Millisecond)))
		}
	}
	t.Logf("%s's ICE states since the change: %v", ra.ID, changes)
	if ra.ID != ra0.ID || rb.ID != rb0.ID {
		t.Errorf("participants %s, %s became %s, %s", ra0.ID, rb0.ID, ra.ID, rb.ID)
	}
	if rb.PubRestarts != rb0.PubRestarts || rb.SubRestarts != rb0.SubRestarts {
		t.Errorf("%s, whose network did not change: restarts publisher %d -> %d, subscriber %d -> %d, want none",
			rb.ID, rb0.PubRestarts, rb.PubRestarts, rb0.SubRestarts, rb.SubRestarts)
	}
	// Both ways, the video flows now, not only for a while after the
	// first restart.
	time.Sleep(time.Second)
	var ra1, rb1 natReport
	_, _ = a.Latest(&ra1)
	_, _ = b.Latest(&rb1)
	time.Sleep(2 * time.Second)
	var ra2, rb2 natReport
	_, _ = a.Latest(&ra2)
	_, _ = b.Latest(&rb2)
	for _, p := range [][2]natReport{{ra1, ra2}, {rb1, rb2}} {
		n1, _ := fromPeer(p[0])
		n2, _ := fromPeer(p[1])
		t.Logf("%s: %d video frames through the SFU in 2 s, %d s after the change", p[1].ID, n2-n1, int(time.Since(changed).Seconds()))
		if n2-n1 < 20 {
			t.Errorf("%s: %d video frames through the SFU in 2 s after the recovery, want at least 20", p[1].ID, n2-n1)
		}
	}
	r := srv.restarts(t)
	t.Logf("server's ice restarts: publisher %v, subscriber %v (before the change %v, %v)",
		r[0], r[1], restarts0[0], restarts0[1])
	if r[0] <= restarts0[0] || r[1] <= restarts0[1] {
		t.Errorf("server counted restarts publisher %v -> %v, subscriber %v -> %v, want more of each",
			restarts0[0], r[0], restarts0[1], r[1])
	}
}

// restarts is the server's sfu_ice_restarts_total of the publisher and
// subscriber connections.
func (s *natServer) restarts(t *testing.T) [2]float64 {
	t.Helper()
	var m map[string]float64
	for range 2 { // the first report may be one already waiting
		if ok, err := s.scrape.Next(&m, 5*time.Second); !ok || err != nil {
			t.Fatalf("no metrics from the sfu (%v): %s", err, s.stderr.String())
		}
	}
	return [2]float64{m[`sfu_ice_restarts_total{connection="publisher"}`], m[`sfu_ice_restarts_total{connection="subscriber"}`]}
}
