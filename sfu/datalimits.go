package sfu

import (
	"fmt"
	"sync"
	"time"
)

// DataConfig bounds the application data clients send each other on
// their data channels (data.go; signaling/PROTOCOL.md, "Application
// data").
type DataConfig struct {
	// MaxMessage is the largest message a client may send, envelope
	// included, in bytes; larger ones are dropped (data_too_large).
	MaxMessage int `yaml:"max_message"`
	// MaxBuffered is how many bytes the server queues per receiver on the
	// reliable channel; a message that does not fit is dropped for that
	// receiver and its sender told (data_dropped).
	MaxBuffered int `yaml:"max_buffered"`
	// LossyBuffered is the same for the lossy channel, whose messages are
	// dropped silently: kept small, so lossy data never queues.
	LossyBuffered int `yaml:"lossy_buffered"`
	// MessagesPerSecond and MessageBurst bound the messages one
	// participant sends, BytesPerSecond and ByteBurst their bytes (token
	// buckets); over either, messages are dropped (rate_limited).
	MessagesPerSecond float64 `yaml:"messages_per_second"`
	MessageBurst      int     `yaml:"message_burst"`
	BytesPerSecond    float64 `yaml:"bytes_per_second"`
	ByteBurst         int     `yaml:"byte_burst"`
}

// defaultDataConfig is DataConfig's part of Default.
func defaultDataConfig() DataConfig {
	return DataConfig{
		MaxMessage:        64 << 10,
		MaxBuffered:       1 << 20,
		LossyBuffered:     64 << 10,
		MessagesPerSecond: 500,
		MessageBurst:      1000,
		BytesPerSecond:    4 << 20,
		ByteBurst:         8 << 20,
	}
}

// validate reports the first problem with the data limits.
func (c DataConfig) validate() error {
	if c.MaxMessage < 64 || c.MaxMessage > 1<<20 {
		return fmt.Errorf("sfu: data max_message %d: want 64 to 1048576 bytes", c.MaxMessage)
	}
	if c.MaxBuffered < c.MaxMessage || c.LossyBuffered <= 0 {
		return fmt.Errorf("sfu: data max_buffered must hold one message, and lossy_buffered be positive")
	}
	if c.MessagesPerSecond <= 0 || c.BytesPerSecond <= 0 || c.MessageBurst < 1 || c.ByteBurst < c.MaxMessage {
		return fmt.Errorf("sfu: data rates must be positive, message_burst at least 1 and byte_burst at least max_message")
	}
	return nil
}

// DataLimits are the limits of DataConfig a client's application data
// must keep, as its Joined event tells it: a client that paces what it
// sends under them (a file transfer) has none of it dropped.
type DataLimits struct {
	MaxMessage        int
	MessagesPerSecond float64
	MessageBurst      int
	BytesPerSecond    float64
	ByteBurst         int
}

// limits are the client's side of c.
func (c DataConfig) limits() *DataLimits {
	return &DataLimits{MaxMessage: c.MaxMessage, MessagesPerSecond: c.MessagesPerSecond, MessageBurst: c.MessageBurst,
		BytesPerSecond: c.BytesPerSecond, ByteBurst: c.ByteBurst}
}

// sctpMaxMessage is the largest message the server's SCTP stack takes
// from a client: larger than MaxMessage, so that a message over the limit
// arrives and is refused with data_too_large, and bounded, so that a
// client cannot make the server reassemble megabytes. A browser's own
// limit is 256 KiB.
func (c DataConfig) sctpMaxMessage() uint32 { return uint32(max(4*c.MaxMessage, 256<<10)) }

// dataLimiter is a participant's two token buckets, for messages and
// bytes, of the sizes and rates cfg gives. Time is passed in.
type dataLimiter struct {
	mu      sync.Mutex // guards the fields below; a leaf
	msgs    float64
	bytes   float64
	last    time.Time
	started bool
}

// allow reports whether a message of n bytes fits the buckets at now,
// taking its tokens if it does.
func (l *dataLimiter) allow(now time.Time, n int, cfg *DataConfig) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.started {
		l.started, l.last = true, now
		l.msgs, l.bytes = float64(cfg.MessageBurst), float64(cfg.ByteBurst)
	}
	if dt := now.Sub(l.last).Seconds(); dt > 0 {
		l.msgs = min(l.msgs+dt*cfg.MessagesPerSecond, float64(cfg.MessageBurst))
		l.bytes = min(l.bytes+dt*cfg.BytesPerSecond, float64(cfg.ByteBurst))
		l.last = now
	}
	if l.msgs < 1 || l.bytes < float64(n) {
		return false
	}
	l.msgs--
	l.bytes -= float64(n)
	return true
}

// errorThrottle lets at most one error of each key through per
// errorEvery, so that a flood of bad messages is not answered by a flood
// of errors. The key is an error code, or a sender (a relay's reports of
// data dropped, datarelay.go): it holds at most errorKeys of them, and
// forgets those of more than errorEvery ago beyond that, so that a relay
// that lives through a long meeting's churn of senders stays small.
type errorThrottle struct {
	mu   sync.Mutex // guards last; a leaf
	last map[string]time.Time
}

// errorEvery is the least time between two data errors of one code sent
// to one client.
const errorEvery = time.Second

// errorKeys is how many keys an errorThrottle holds before it forgets
// the stale ones.
const errorKeys = 256

// allow reports whether an error of code may be sent at now.
func (t *errorThrottle) allow(now time.Time, code string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last = make(map[string]time.Time, 4)
	}
	if last, ok := t.last[code]; ok && now.Sub(last) < errorEvery {
		return false
	}
	if len(t.last) >= errorKeys {
		for k, at := range t.last {
			if now.Sub(at) >= errorEvery {
				delete(t.last, k)
			}
		}
	}
	t.last[code] = now
	return true
}
