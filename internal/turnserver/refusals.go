package turnserver

import (
	"log/slog"
	"sync"
	"sync/atomic"
)

// reason is why the server refused something: a request, a datagram, a
// connection. Each is counted (sfu_turn_refusals_total) and logged once
// at debug level per client (or per allocation, for datagrams).
type reason uint8

const (
	reasonNone reason = iota
	reasonBadUsername
	reasonExpired
	reasonBadCredential
	reasonQuota
	reasonTCPRelay
	reasonFamily
	reasonNoRelayPort
	reasonPeerLoopback
	reasonPeerPrivate
	reasonPeerLinkLocal
	reasonPeerUnusable
	reasonPeerOwnPort
	reasonBitrate
	reasonServerFull
	reasonAddressFull
	reasonCount
)

var reasonNames = [reasonCount]string{
	reasonNone:          "",
	reasonBadUsername:   "bad_username",
	reasonExpired:       "expired",
	reasonBadCredential: "bad_credential",
	reasonQuota:         "quota",
	reasonTCPRelay:      "tcp_relay",
	reasonFamily:        "address_family",
	reasonNoRelayPort:   "no_relay_port",
	reasonPeerLoopback:  "peer_loopback",
	reasonPeerPrivate:   "peer_private",
	reasonPeerLinkLocal: "peer_link_local",
	reasonPeerUnusable:  "peer_unusable",
	reasonPeerOwnPort:   "peer_own_port",
	reasonBitrate:       "bitrate",
	reasonServerFull:    "server_full",
	reasonAddressFull:   "address_full",
}

func (r reason) String() string {
	if r < reasonCount {
		return reasonNames[r]
	}
	return "unknown"
}

// maxLogged bounds the refusals remembered as logged; when it is reached
// the memory starts over, so a flood of distinct ones logs a line per
// maxLogged at worst per key.
const maxLogged = 4096

// refusals counts refusals by reason and logs each (reason, key) once.
type refusals struct {
	log    *slog.Logger
	counts [reasonCount]atomic.Uint64

	mu     sync.Mutex // guards logged
	logged map[refusalKey]struct{}
}

type refusalKey struct {
	r   reason
	key string
}

func newRefusals(log *slog.Logger) *refusals {
	return &refusals{log: log, logged: make(map[refusalKey]struct{})}
}

// note counts a refusal and logs it at debug level, with attrs, unless a
// refusal for the same reason and key was logged already.
func (f *refusals) note(r reason, key string, attrs ...any) {
	f.counts[r].Add(1)
	k := refusalKey{r, key}
	f.mu.Lock()
	_, seen := f.logged[k]
	if !seen {
		if len(f.logged) >= maxLogged {
			clear(f.logged)
		}
		f.logged[k] = struct{}{}
	}
	f.mu.Unlock()
	if !seen {
		f.log.Debug("turn: refused", append([]any{"reason", r.String()}, attrs...)...)
	}
}

// count counts a refusal that its caller logs once itself (per datagram
// refusals, where note's map would cost too much).
func (f *refusals) count(r reason) { f.counts[r].Add(1) }

// Count returns how many refusals of the named reason (as in
// sfu_turn_refusals_total) there were.
func (f *refusals) Count(name string) uint64 {
	for r := reason(1); r < reasonCount; r++ {
		if reasonNames[r] == name {
			return f.counts[r].Load()
		}
	}
	return 0
}
