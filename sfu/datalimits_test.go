package sfu

import (
	"fmt"
	"testing"
	"time"
)

func TestDataLimiter(t *testing.T) {
	cfg := DataConfig{MessagesPerSecond: 10, MessageBurst: 3, BytesPerSecond: 1000, ByteBurst: 2000}
	var l dataLimiter
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at    time.Duration
		bytes int
		want  bool
	}{
		{0, 100, true}, {0, 100, true}, {0, 100, true},
		{0, 100, false},                     // the message burst is spent
		{100 * time.Millisecond, 100, true}, // one message back after 1/10 s
		{100 * time.Millisecond, 100, false},
		{time.Second, 2001, false}, // the bytes refilled (1700 + 900), capped at the burst
		{time.Second, 2000, true},
		{3 * time.Second, 2000, true}, // refilled to the burst, no more
		{3 * time.Second, 1, false},
	}
	for i, s := range steps {
		if got := l.allow(t0.Add(s.at), s.bytes, &cfg); got != s.want {
			t.Fatalf("step %d (%v, %d bytes): allowed %v, want %v", i, s.at, s.bytes, got, s.want)
		}
	}
}

func TestErrorThrottle(t *testing.T) {
	var th errorThrottle
	t0 := time.Unix(1000, 0)
	if !th.allow(t0, "a") || th.allow(t0.Add(999*time.Millisecond), "a") {
		t.Fatal("a second error of one code within a second was let through")
	}
	if !th.allow(t0.Add(10*time.Millisecond), "b") {
		t.Fatal("another code was held back")
	}
	if !th.allow(t0.Add(time.Second), "a") {
		t.Fatal("an error a second later was held back")
	}
	// Keyed by sender over a long meeting (a relay's reports), it stays
	// small: keys of more than a second ago go once it holds errorKeys,
	// while those within the second are kept and still held back.
	for i := range 10 * errorKeys {
		at := t0.Add(time.Duration(2+i/100) * time.Second)
		if !th.allow(at, fmt.Sprint("PA_", i)) {
			t.Fatalf("sender %d's first report held back", i)
		}
		if th.allow(at, fmt.Sprint("PA_", i)) {
			t.Fatalf("sender %d's second report within the second let through", i)
		}
	}
	if n := len(th.last); n > errorKeys+100 {
		t.Errorf("the throttle holds %d keys after %d senders, want at most %d", n, 10*errorKeys, errorKeys+100)
	}
}

func TestLossyPacer(t *testing.T) {
	var p lossyPacer
	t0 := time.Unix(1000, 0)
	if !p.allow(t0, 1<<20) {
		t.Fatal("unpaced (no estimate) refused")
	}
	p.setRate(10_000) // bytes/s
	if !p.allow(t0, lossyBurst) || p.allow(t0, 1) {
		t.Fatal("a fresh bucket does not hold exactly its burst")
	}
	if !p.allow(t0.Add(200*time.Millisecond), 2000) || p.allow(t0.Add(200*time.Millisecond), 1) {
		t.Fatal("after 200 ms at 10 kB/s, want 2000 bytes allowed and no more")
	}
	if !p.allow(t0.Add(time.Hour), lossyBurst) || p.allow(t0.Add(time.Hour), 1) {
		t.Fatal("the bucket holds more than its burst")
	}
}
