package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestBackoffWait: the n-th wait is between half and all of First doubled
// n-1 times, at most Max; and it varies.
func TestBackoffWait(t *testing.T) {
	b := Backoff{First: 500 * time.Millisecond, Max: 10 * time.Second}
	for n, full := range []time.Duration{1: 500 * time.Millisecond, 2: time.Second, 3: 2 * time.Second, 4: 4 * time.Second, 5: 8 * time.Second, 6: 10 * time.Second, 7: 10 * time.Second, 60: 10 * time.Second} {
		if n == 0 || full == 0 {
			continue
		}
		seen := map[time.Duration]bool{}
		for range 50 {
			w := b.Wait(n)
			if w < full/2 || w > full {
				t.Fatalf("wait %d = %v, want within [%v, %v]", n, w, full/2, full)
			}
			seen[w] = true
		}
		if len(seen) < 2 {
			t.Errorf("wait %d: always %v, want jitter", n, seen)
		}
	}
	if w := (Backoff{}).Wait(1); w != 0 {
		t.Errorf("zero backoff waits %v", w)
	}
}

// TestFailureReasons: a failed attempt is named for the report, and only
// a refused token or room, or a replaced session, stops the retries.
func TestFailureReasons(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tt := range []struct {
		err    error
		reason string
		fatal  bool
	}{
		{&ServerError{Code: "invalid_token"}, "error invalid_token", true},
		{&ServerError{Code: "bad_room"}, "error bad_room", true},
		{&ServerError{Code: "internal"}, "error internal", false},
		{&UpgradeError{Status: 503, Err: errors.New("bad handshake")}, "http 503", false},
		{&UpgradeError{Status: 429, Err: errors.New("bad handshake")}, "http 429", false},
		{fmt.Errorf("loadtest: dial: %w", refused), "refused", false},
		{Disconnect{Code: 1001, Bye: "shutdown"}, "closed 1001 going away", false},
		{Disconnect{Code: 4409, Bye: "replaced"}, "closed 4409 replaced", true},
		{context.DeadlineExceeded, "timeout", false},
		{fmt.Errorf("%w: %w", errToken, refused), "token refused", false},
		{fmt.Errorf("%w: %w", errPublish, errors.New("write: broken pipe")), "publish other", false},
	} {
		reason, fatal := failure(tt.err)
		if reason != tt.reason || fatal != tt.fatal {
			t.Errorf("%v: %q fatal %v, want %q fatal %v", tt.err, reason, fatal, tt.reason, tt.fatal)
		}
	}
	if !errors.Is(&ServerError{Code: "x"}, ErrServer) || !errors.Is(Disconnect{}, ErrDisconnected) {
		t.Error("ServerError is not ErrServer, or Disconnect not ErrDisconnected")
	}
}

// TestDisconnectFinal: a client rejoins after anything but a replaced
// session or a refused token or room, as the web client does.
func TestDisconnectFinal(t *testing.T) {
	for _, tt := range []struct {
		d      Disconnect
		final  bool
		reason string
	}{
		{Disconnect{Code: 1001, Bye: "shutdown"}, false, "1001 going away"},
		{Disconnect{Code: 1006}, false, "1006 dropped"},
		{Disconnect{Code: 1006, TimedOut: true}, false, "1006 timed out"},
		{Disconnect{Code: 1000}, false, "1000 closed"},
		{Disconnect{Code: 4408}, false, "4408 join timeout"},
		{Disconnect{Code: 4429}, false, "4429 rate limited"},
		{Disconnect{Code: 4409}, true, "4409 replaced"},
		{Disconnect{Code: 1006, Bye: "replaced"}, true, "1006 dropped"},
		{Disconnect{Code: 4401}, true, "4401 unauthorized"},
		{Disconnect{Code: 4400}, true, "4400 bad request"},
		{Disconnect{Code: 4999}, false, "4999"},
	} {
		if tt.d.Final() != tt.final || tt.d.Reason() != tt.reason {
			t.Errorf("%+v: final %v reason %q, want %v %q", tt.d, tt.d.Final(), tt.d.Reason(), tt.final, tt.reason)
		}
	}
}
