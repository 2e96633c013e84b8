package signaling_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sfu-project/sfu/loadtest"
)

// TestNACKRepair loses 5% of the video packets between the SFU and a
// subscriber, and separately between a publisher and the SFU. In both cases
// every lost packet must reach the subscriber in the end: the SFU answers
// the subscriber's NACKs from its packet cache and NACKs the publisher for
// what it lost.
func TestNACKRepair(t *testing.T) {
	cases := []struct {
		name     string
		pub, sub func(*loadtest.Options)
		counter  func(ts *testServer) float64
	}{
		{
			name:    "subscriber link",
			sub:     func(o *loadtest.Options) { o.DropIncoming = func(seq uint16) bool { return seq%20 == 0 } },
			counter: func(ts *testServer) float64 { return testutil.ToFloat64(ts.metrics.PacketsRetransmit) },
		},
		{
			name: "publisher link",
			pub:  func(o *loadtest.Options) { o.DropOutgoing = func(seq uint16) bool { return seq%20 == 5 } },
			// The publisher retransmits only when NACKed, so a hole that
			// closes at the subscriber proves the SFU asked for it.
			counter: nil,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			ts := newTestServer(t, nil)
			var pubOpts, subOpts []func(*loadtest.Options)
			if tc.pub != nil {
				pubOpts = append(pubOpts, tc.pub)
			}
			if tc.sub != nil {
				subOpts = append(subOpts, tc.sub)
			}
			pub := ts.join(ctx, "nack", pubOpts...)
			sub := ts.join(ctx, "nack", subOpts...)
			if err := pub.Publish(loadtest.DefaultMedia); err != nil {
				t.Fatal(err)
			}
			receivesFrom(t, sub, pub.Self.ID, 90)

			// Losses are repaired within a few round trips; only the
			// newest can still be missing at any moment.
			var v loadtest.TrackCounts
			eventually(t, 15*time.Second, "500 packets past the settle window", func() bool {
				v, _ = videoFrom(sub, pub.Self.ID)
				return v.Unique > 500+loadtest.SettleWindow
			})
			t.Logf("%s: %d packets, %d unique, %d missing now, %d unrepaired, %d duplicates, %d frames",
				tc.name, v.Packets, v.Unique, v.Missing, v.Unrepaired, v.Duplicates, v.Frames)
			if v.Unrepaired != 0 {
				t.Errorf("%d packets lost for good; every one should have been repaired", v.Unrepaired)
			}
			if v.Duplicates > v.Unique/100 {
				t.Errorf("%d duplicates for %d packets: repairs are sent more than once", v.Duplicates, v.Unique)
			}
			if tc.counter != nil {
				if n := tc.counter(ts); n < float64(v.Unique)/40 {
					t.Errorf("SFU retransmitted %v packets; want about a twentieth of %d", n, v.Unique)
				}
			}
		})
	}
}
