package signaling_test

import (
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/sfu-project/sfu/loadtest"
)

// qualityOf decodes a quality message: the level of the receiver itself,
// and of the others by participant ID.
func qualityOf(t *testing.T, m loadtest.Message) (self int, others map[string]int) {
	t.Helper()
	var q struct {
		Level  int            `json:"level"`
		Others map[string]int `json:"others"`
	}
	if err := json.Unmarshal(m.Raw, &q); err != nil {
		t.Fatalf("quality message %s: %v", m.Raw, err)
	}
	return q.Level, q.Others
}

// TestQualityLossySubscriber: a subscriber whose link from the SFU loses
// 10% of the packets (a loadtest.Lab namespace) is given a lower network
// quality level than a subscriber on a clean link, in the quality
// messages the publisher receives, and the clean one rates itself good.
func TestQualityLossySubscriber(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := newConstrainedRoom(ctx, t, "quality")
	clean := r.ts.join(ctx, "quality", func(o *loadtest.Options) {
		o.LoopbackOnly = false
		o.AllowIPs = []net.IP{r.lab.HostIP}
	})
	r.waitFor(15*time.Second, "video on a clean link", 4, func(s sample) bool { return s.layer >= 0 })
	if err := r.lab.SetLoss(10); err != nil {
		t.Fatal(err)
	}
	lossy := ""
	var last string
	deadline := time.Now().Add(25 * time.Second)
	for time.Now().Before(deadline) {
		wait, stop := context.WithTimeout(ctx, 3*time.Second)
		m, err := r.pub.WaitFor(wait, func(m loadtest.Message) bool { return m.Type == "quality" })
		stop()
		if err != nil {
			continue
		}
		last = string(m.Raw)
		_, others := qualityOf(t, m)
		for id := range others {
			if id != clean.Self.ID {
				lossy = id
			}
		}
		if lossy != "" && others[lossy] < others[clean.Self.ID] && others[lossy] <= 1 {
			t.Logf("quality at the publisher: %s (lossy %s, clean %s)", m.Raw, lossy, clean.Self.ID)
			break
		}
	}
	if lossy == "" {
		t.Fatalf("no quality message naming the lossy subscriber; last %s", last)
	}
	for {
		m, err := clean.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "quality" })
		if err != nil {
			t.Fatalf("the clean subscriber got no quality message showing the lossy one poorer than itself; the publisher's last: %s", last)
		}
		self, others := qualityOf(t, m)
		if others[lossy] < self && self == 3 {
			t.Logf("quality at the clean subscriber: %s", m.Raw)
			return
		}
	}
}
