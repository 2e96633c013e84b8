package loadtest_test

import (
	"encoding/binary"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sfu-project/sfu/loadtest"
)

// sinkPort is where the sink listens inside the namespace, which is ours.
const sinkPort = 4000

// sinkEnv names the address TestNetlabHelperProcess listens on; only the
// child re-executed inside the lab has it.
const sinkEnv = "SFU_NETLAB_SINK"

// sinkCounts is what the sink received of one phase (the first byte of
// each datagram names its phase).
type sinkCounts struct {
	Packets     int
	WireBytes   int // with the Ethernet, IP and UDP headers tbf counts
	First, Last time.Time
}

// wireOverhead is what the link adds to a UDP payload: Ethernet 14, IPv4
// 20, UDP 8.
const wireOverhead = 42

// TestNetlabHelperProcess is the UDP sink run inside the namespace; in a
// normal test run it does nothing.
func TestNetlabHelperProcess(t *testing.T) {
	addr := os.Getenv(sinkEnv)
	if addr == "" {
		return
	}
	conn, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gone := loadtest.ParentGone()
	counts := map[byte]*sinkCounts{}
	_ = loadtest.Report(counts) // ready
	buf := make([]byte, 2048)
	next := time.Now()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		select {
		case <-gone:
			return
		default:
		}
		_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if n, _, err := conn.ReadFrom(buf); err == nil && n > 0 {
			now := time.Now()
			c := counts[buf[0]]
			if c == nil {
				c = &sinkCounts{First: now}
				counts[buf[0]] = c
			}
			c.Packets++
			c.WireBytes += n + wireOverhead
			c.Last = now
		}
		if time.Now().After(next) {
			_ = loadtest.Report(counts)
			next = time.Now().Add(50 * time.Millisecond)
		}
	}
}

// TestNetlab builds a lab and checks each of its knobs with UDP sent from
// the root namespace to a sink inside it: an unconstrained link delivers
// everything, a 350 kbit/s limit holds the rate near that, 20% loss loses
// about a fifth, and Close leaves nothing behind.
func TestNetlab(t *testing.T) {
	lab := loadtest.NewTestLab(t)
	if !lab.Net.Contains(lab.HostIP) || !lab.Net.Contains(lab.NSIP) {
		t.Fatalf("addresses %v and %v outside %v", lab.HostIP, lab.NSIP, lab.Net)
	}
	sinkAddr := &net.UDPAddr{IP: lab.NSIP, Port: sinkPort}
	child, err := lab.StartSelf([]string{sinkEnv + "=" + sinkAddr.String()}, "-test.run=^TestNetlabHelperProcess$")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Stop() })
	var counts map[byte]*sinkCounts
	if ok, err := child.Next(&counts, 15*time.Second); !ok || err != nil {
		t.Fatalf("sink did not start: %v", err)
	}
	conn, err := net.DialUDP("udp4", &net.UDPAddr{IP: lab.HostIP}, sinkAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	phase := byte(0)
	// send paces n datagrams of size bytes at bitsPerSecond (payload) and
	// returns what the sink received of them.
	send := func(n, size int, bitsPerSecond int64) sinkCounts {
		phase++
		pkt := make([]byte, size)
		pkt[0] = phase
		gap := time.Duration(int64(size*8) * int64(time.Second) / bitsPerSecond)
		start := time.Now()
		for i := range n {
			binary.BigEndian.PutUint32(pkt[1:], uint32(i))
			_, _ = conn.Write(pkt)
			if d := time.Until(start.Add(time.Duration(i+1) * gap)); d > 0 {
				time.Sleep(d)
			}
		}
		time.Sleep(300 * time.Millisecond) // the queue drains
		var got map[byte]*sinkCounts
		for range 2 { // the first may be a report from before the sleep
			if _, err := child.Next(&got, time.Second); err != nil {
				t.Fatal(err)
			}
		}
		if c := got[phase]; c != nil {
			return *c
		}
		return sinkCounts{}
	}

	clear := send(500, 1000, 2_000_000)
	t.Logf("unconstrained: %d of 500 datagrams", clear.Packets)
	if clear.Packets < 495 {
		t.Errorf("unconstrained link delivered %d of 500", clear.Packets)
	}

	if err := lab.SetRate(350_000); err != nil {
		t.Fatal(err)
	}
	limited := send(500, 1000, 1_000_000) // 4 s of offered load at 1 Mbit/s
	rate := float64(limited.WireBytes*8) / limited.Last.Sub(limited.First).Seconds()
	t.Logf("350 kbit/s limit: %d of 500 datagrams at %.0f kbit/s", limited.Packets, rate/1000)
	if rate < 0.8*350_000 || rate > 1.25*350_000 {
		t.Errorf("rate under a 350 kbit/s limit = %.0f kbit/s", rate/1000)
	}
	if err := lab.ClearRate(); err != nil {
		t.Fatal(err)
	}

	if err := lab.SetLoss(20); err != nil {
		t.Fatal(err)
	}
	lossy := send(1000, 200, 1_000_000)
	loss := 100 - float64(lossy.Packets)/10
	t.Logf("20%% loss: %d of 1000 datagrams, %.1f%% lost", lossy.Packets, loss)
	if loss < 14 || loss > 26 {
		t.Errorf("loss = %.1f%%, want about 20%%", loss)
	}
	if err := lab.SetLoss(0); err != nil {
		t.Fatal(err)
	}
	if healed := send(500, 200, 1_000_000); healed.Packets < 495 {
		t.Errorf("after removing the loss %d of 500 arrived", healed.Packets)
	}

	if err := child.Stop(); err != nil {
		t.Errorf("sink: %v: %s", err, child.Stderr())
	}
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	if err := lab.Leftovers(); err != nil {
		t.Error(err)
	}
	goleak.VerifyNone(t)
}
