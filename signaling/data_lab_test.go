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
	// audio is the subscriber's audio packets from pub at its next report.
	var last childReport
	audio := func() int {
		t.Helper()
		ok, err := sub.Next(&last, 3*time.Second)
		if err != nil || !ok {
			t.Fatalf("subscriber report: %v\n%s", err, sub.Stderr())
		}
		for _, tc := range last.Tracks {
			if tc.ParticipantID == pub.Self.ID && tc.Kind == "audio" && !tc.Ended {
				return tc.Packets
			}
		}
		return 0
	}
	// Settle: media flowing, the estimate found.
	for deadline := time.Now().Add(20 * time.Second); audio() < 100; {
		if time.Now().After(deadline) {
			t.Fatal("no audio at the subscriber")
		}
	}
	time.Sleep(3 * time.Second)
	const window = 5 * time.Second
	a0, r0 := audio(), ref()
	time.Sleep(window)
	a1, r1 := audio(), ref()
	before := float64(a1-a0) / float64(max(r1-r0, 1))

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
	during := float64(a3-a2) / float64(max(r3-r2, 1))
	congested := testutil.ToFloat64(ts.metrics.Data.Dropped.WithLabelValues("lossy_congested"))
	buffered := testutil.ToFloat64(ts.metrics.Data.Dropped.WithLabelValues("lossy_buffer"))
	dataRate := float64(got1-got0) * 1000 * 8 / t3.Sub(t2).Seconds()
	t.Logf("audio received/sent %.3f before the flood (%d packets), %.3f during (%d); flood sent %d, subscriber received %d lossy (%.0f kbit/s in the window); dropped: %v paced/congested, %v over the lossy queue",
		before, r1-r0, during, r3-r2, sent, last.Data.Received, dataRate/1000, congested, buffered)
	// A report's counts and the reference's are read a moment apart:
	// a packet or two either way.
	if before < 0.95 {
		t.Fatalf("only %.3f of the audio arrived before the flood", before)
	}
	if during < 0.98 {
		t.Errorf("only %.3f of the audio arrived under the lossy flood (%.3f before)", during, before)
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
