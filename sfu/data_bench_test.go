package sfu

import (
	"fmt"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/internal/datamsg"
)

// discardChan is a data channel that takes every message and queues
// nothing: the benchmark measures the server's own work per message.
type discardChan struct{ bytes int }

func (d *discardChan) Send(b []byte) error    { d.bytes += len(b); return nil }
func (d *discardChan) BufferedAmount() uint64 { return 0 }
func (d *discardChan) Close() error           { return nil }

// dataBench is a room of one sender and n receivers with open channels.
func dataBench(n int) (*Participant, []*discardChan) {
	cfg := Default()
	cfg.Data.MessagesPerSecond, cfg.Data.BytesPerSecond = 1e12, 1e15
	cfg.Data.MessageBurst, cfg.Data.ByteBurst = 1<<30, 1<<50
	s := &SFU{cfg: cfg, metrics: NewMetrics(nil), now: time.Now}
	r := newRoom(s, "bench")
	roster := &dataRoster{byID: make(map[string]*Participant)}
	newP := func(id string) *Participant {
		p := &Participant{id: id, sfu: s, room: r, who: Identity{Grants: Grants{Data: true}}}
		roster.clients = append(roster.clients, p)
		roster.byID[id] = p
		return p
	}
	sender := newP("PA_SENDER")
	sender.data.channels[0].Store(&dataChan{&discardChan{}})
	chans := make([]*discardChan, n)
	for i := range n {
		p := newP(fmt.Sprintf("PA_%04d", i))
		chans[i] = &discardChan{}
		p.data.channels[0].Store(&dataChan{chans[i]})
	}
	r.data.Store(roster)
	return sender, chans
}

// BenchmarkDataForward is the server's work for one message of 1 KiB
// from one sender to everybody else: checks, parsing, stamping the
// sender and routing to n receivers (whose channels take it at once).
func BenchmarkDataForward(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("receivers=%d", n), func(b *testing.B) {
			sender, chans := dataBench(n)
			env, err := datamsg.AppendOutgoing(nil, "topic", nil, make([]byte, 1024))
			if err != nil {
				b.Fatal(err)
			}
			msg := webrtc.DataChannelMessage{Data: env}
			var buf []byte
			b.SetBytes(int64(len(env)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				buf = sender.onData(msg, false, buf)
			}
			b.StopTimer()
			if want := b.N*datamsg.HeaderLen(sender.id, "topic") + b.N*1024; chans[n-1].bytes != want {
				b.Fatalf("receiver got %d bytes, want %d", chans[n-1].bytes, want)
			}
		})
	}
}
