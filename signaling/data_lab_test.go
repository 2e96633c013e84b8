package signaling_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// TestDataLossyFloodSparesAudio: a subscriber on a 1.5 Mbit/s link
// (loadtest.Lab) receives a publisher's audio and video, and a lossy
// data flood of about 4 Mbit/s from a third participant. The SFU paces
// the lossy data to the room its estimate leaves beside the media and
// drops the rest: the subscriber's audio arrives whole, as before the
// flood, and the data it gets stays within the link's spare room.
func TestDataLossyFloodSparesAudio(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	lab := loadtest.NewTestLab(t)
	if err := lab.SetRate(1_500_000); err != nil {
		t.Fatal(err)
	}
	ts := newTestServerOn(t, lab.HostIP, lab.Net.String())
	const room = "data-lab"
	onHost := func(o *loadtest.Options) {
		o.LoopbackOnly = false
		o.AllowIPs = []net.IP{lab.HostIP}
	}
	pub := ts.join(ctx, room, onHost)
	if err := pub.Publish(loadtest.DefaultMedia); err != nil {
		t.Fatal(err)
	}
	sub, err := lab.StartSelf([]string{
		netlabChildEnv + "=1",
		netlabDataEnv + "=1",
		netlabURLEnv + "=" + ts.wsURL,
		netlabTokenEnv + "=" + ts.token(room, signaling.Grants{Subscribe: true}),
		netlabIPEnv + "=" + lab.NSIP.String(),
	}, "-test.run=^$")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sub.Stop(); err != nil {
			t.Errorf("subscriber: %v\n%s", err, sub.Stderr())
		}
	})
	flooder := ts.join(ctx, room, onHost)
	if err := flooder.OpenData(ctx); err != nil {
		t.Fatal(err)
	}

	// ref is the flooder's count of pub's audio packets: on loopback, it
	// receives what pub sends, which on a busy machine is not always 50 a
	// second.
	ref := func() int {
		tc, _ := audioFrom(flooder, pub.Self.ID)
		return tc.Packets
	}
	// audio is the subscriber's count of pub's audio at its next report.
	var last childReport
	audio := func() loadtest.TrackCounts {
		t.Helper()
		ok, err := sub.Next(&last, 3*time.Second)
		if err != nil || !ok {
			t.Fatalf("subscriber report: %v\n%s", err, sub.Stderr())
		}
		for _, tc := range last.Tracks {
			if tc.ParticipantID == pub.Self.ID && tc.Kind == "audio" && !tc.Ended {
				return tc
			}
		}
		return loadtest.TrackCounts{}
	}
	// window is the audio between two reports: the share of the packets
	// the reference counted that arrived (the two counts are read a
	// moment apart, in two processes: a few packets either way), and
	// the share lost on the link by the subscriber's own count of the
	// sequence numbers' holes, which is exact.
	type audioWindow struct {
		arrived, lost float64
		refPackets    int
	}
	measure := func(a0, a1 loadtest.TrackCounts, r0, r1 int) audioWindow {
		got, missing := a1.Unique-a0.Unique, a1.Missing-a0.Missing
		return audioWindow{
			arrived:    float64(got) / float64(max(r1-r0, 1)),
			lost:       float64(missing) / float64(max(got+missing, 1)),
			refPackets: r1 - r0,
		}
	}
	// Settle: media flowing, the estimate found.
	for deadline := time.Now().Add(20 * time.Second); audio().Packets < 100; {
		if time.Now().After(deadline) {
			t.Fatal("no audio at the subscriber")
		}
	}
	time.Sleep(3 * time.Second)
	const window = 5 * time.Second
	a0, r0 := audio(), ref()
	time.Sleep(window)
	a1, r1 := audio(), ref()
	before := measure(a0, a1, r0, r1)

	// The flood: 1 KiB lossy messages, 500 a second (4 Mbit/s), within
	// the sender's rate limit, to everybody (the subscriber has data
	// channels; the publisher has none).
	stop := make(chan struct{})
	flooded := make(chan int)
	go func() {
		payload := make([]byte, 1000)
		n := 0
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				flooded <- n
				return
			case <-tick.C:
				for range 5 {
					if flooder.SendData("flood", nil, payload, true) == nil {
						n++
					}
				}
			}
		}
	}()
	time.Sleep(2 * time.Second)
	a2, r2, t2 := audio(), ref(), last.At
	got0 := last.Data.Received
	time.Sleep(window)
	a3, r3, t3 := audio(), ref(), last.At
	got1 := last.Data.Received
	close(stop)
	sent := <-flooded
	during := measure(a2, a3, r2, r3)
	congested := testutil.ToFloat64(ts.metrics.Data.Dropped.WithLabelValues("lossy_congested"))
	buffered := testutil.ToFloat64(ts.metrics.Data.Dropped.WithLabelValues("lossy_buffer"))
	dataRate := float64(got1-got0) * 1000 * 8 / t3.Sub(t2).Seconds()
	t.Logf("audio received/sent %.3f before the flood (%d packets, %.3f lost on the link), %.3f during (%d, %.3f lost); flood sent %d, subscriber received %d lossy (%.0f kbit/s in the window); dropped: %v paced/congested, %v over the lossy queue",
		before.arrived, before.refPackets, before.lost, during.arrived, during.refPackets, during.lost, sent, last.Data.Received, dataRate/1000, congested, buffered)
	// What the flood is measured against: the link carries the audio
	// beside the video. (In one CI run 0.948 of the packets counted
	// arrived by the cross-process count, with nothing to tell loss from
	// the counts' skew: the loss on the link is now counted apart.)
	if before.lost > 0.02 || before.arrived < 0.9 {
		t.Fatalf("before the flood %.3f of the audio arrived, %.3f lost on the link", before.arrived, before.lost)
	}
	// The flood costs the audio nothing: no packet lost on the link
	// (1%: two or three of 250), and none held back by the server.
	if during.lost > 0.01 || during.arrived < 0.95 {
		t.Errorf("under the lossy flood %.3f of the audio arrived, %.3f lost on the link (before: %.3f, %.3f)", during.arrived, during.lost, before.arrived, before.lost)
	}
	// The lossy data took no more than the link leaves beside the
	// media (600 kbit/s of video): what fills the link's queue costs the
	// audio behind it.
	if dataRate > 900_000 {
		t.Errorf("the subscriber received %.0f kbit/s of lossy data on a 1500 kbit/s link carrying 600 kbit/s of video", dataRate/1000)
	}
	if congested+buffered == 0 {
		t.Error("no lossy data dropped: the flood did not exceed the link")
	}
}
