package signaling_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sfu-project/sfu/loadtest"
)

func TestDbgSimulcast(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ts := newTestServer(t, nil)
	media := loadtest.DefaultMedia
	media.Simulcast = true
	pub := ts.join(ctx, "simulcast")
	if err := pub.Publish(media); err != nil {
		t.Fatal(err)
	}
	m, _ := pub.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "answer" })
	fmt.Println(m.SDP)

	time.Sleep(2 * time.Second)
}
