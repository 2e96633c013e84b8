package main

import (
	"slices"
	"testing"
	"time"

	"github.com/sfu-project/sfu/loadtest"
)

// TestNATDirectPathBreaks: a call that went direct between two
// masquerade NATs loses its direct path for good: a firewall at one site
// starts dropping the other site's UDP, and the TURN server may not relay
// into the lab's private segment, so the ICE restart finds no way either.
// The call moves to the SFU by itself (mode sfu, peer_failed), in the same
// sessions, and each side's video flows again through the server.
func TestNATDirectPathBreaks(t *testing.T) {
	lab := loadtest.NewTestNATLab(t, loadtest.NATMasquerade, loadtest.NATMasquerade)
	srv := startNATServerWith(t, lab, "sfu:\n  p2p:\n    enabled: true\n")
	a := startNATClient(t, lab, 0, "ann")
	b := startNATClient(t, lab, 1, "bob")
	natUntil(t, a, b, 20*time.Second, "direct", direct)
	broken := time.Now()
	if err := lab.Sites[0].BlockUDP(lab.Sites[1].PublicIP); err != nil {
		t.Fatal(err)
	}
	backOnSFU := func(r natReport) bool {
		return r.Mode == "sfu" && slices.Contains(r.Events, "mode sfu peer_failed") &&
			r.SFUVideo.LastFrame.After(broken) && time.Since(r.SFUVideo.LastFrame) < 500*time.Millisecond
	}
	ra, rb := natUntil(t, a, b, 45*time.Second, "back on the SFU", func(a, b natReport) bool { return backOnSFU(a) && backOnSFU(b) })
	for _, r := range []natReport{ra, rb} {
		t.Logf("%v; ICE restarts %d; events %v", r, r.ICERestarts, r.Events)
		if r.Joins != 1 || r.Disconnect != "" {
			t.Errorf("%s: %d joins, disconnect %q: want the same session", r.ID, r.Joins, r.Disconnect)
		}
	}
	if ra.ICERestarts+rb.ICERestarts == 0 {
		t.Error("no ICE restart was tried before the call gave its direct path up")
	}
	t.Logf("back on the SFU %v after the direct path broke", time.Since(broken).Round(100*time.Millisecond))
	// The SFU carries the call now: video of each flows through it.
	fwd := srv.metric(t, forwardedMetric)
	time.Sleep(2 * time.Second)
	_, _ = a.Latest(&ra)
	_, _ = b.Latest(&rb)
	if n := srv.metric(t, forwardedMetric) - fwd; n < 100 {
		t.Errorf("the SFU forwarded %v packets in 2 s after the fall back, want the call's", n)
	}
	for _, r := range []natReport{ra, rb} {
		if time.Since(r.SFUVideo.LastFrame) > time.Second {
			t.Errorf("%s: the other's video through the SFU stopped %v ago", r.ID, time.Since(r.SFUVideo.LastFrame).Round(time.Millisecond))
		}
	}
}
