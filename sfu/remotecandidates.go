package sfu

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/pion/ice/v4"
)

// verdict is what becomes of one remote ICE candidate.
type verdict uint8

const (
	// candidateUsed goes to pion (again, if it was seen before).
	candidateUsed verdict = iota
	// candidateIgnored is one the server cannot use but a browser may
	// well send: TCP, IPv6 (the server gathers UDP over IPv4 only), an
	// mDNS name (resolution is off), a second component (RTCP is muxed).
	// It is dropped without an error.
	candidateIgnored
	// candidateRefused is malformed, names a host name, or an address the
	// policy refuses.
	candidateRefused
	// candidateOverLimit would be one distinct address too many.
	candidateOverLimit
)

// remoteCandidates admits the remote ICE candidates of one of a
// participant's connections, from descriptions and trickled alike: only
// those the policy allows, and at most limit distinct transport addresses
// per ICE generation (a publisher connection replaced after a refused
// offer keeps the count; an ICE restart, which makes pion forget the
// previous generation's candidates, starts a new one), so one client
// cannot make the server check more at once. It is owned by the
// participant's event loop.
type remoteCandidates struct {
	target Target
	policy *candidatePolicy
	limit  int
	seen   map[netip.AddrPort]struct{}
	ufrag  string // the client's ICE username fragment of this generation
}

// generation notes the client's ICE username fragment from one of its
// descriptions; a new one (an ICE restart) starts a new count.
func (r *remoteCandidates) generation(ufrag string) {
	if ufrag == "" || ufrag == r.ufrag {
		return
	}
	if r.ufrag != "" {
		clear(r.seen)
	}
	r.ufrag = ufrag
}

// iceUfrag is the first a=ice-ufrag of a description, "" if none.
func iceUfrag(sdp string) string {
	_, rest, ok := strings.Cut(sdp, "a=ice-ufrag:")
	if !ok {
		return ""
	}
	line, _, _ := strings.Cut(rest, "\n")
	return strings.TrimSpace(line)
}

func newRemoteCandidates(t Target, policy *candidatePolicy, limit int) *remoteCandidates {
	return &remoteCandidates{target: t, policy: policy, limit: limit, seen: make(map[netip.AddrPort]struct{})}
}

// admit decides about one candidate, given as in an a=candidate line or a
// trickled RTCIceCandidateInit ("candidate:..."). The error says why a
// candidate was refused or over the limit.
func (r *remoteCandidates) admit(value string) (verdict, error) {
	c, err := ice.UnmarshalCandidate(value)
	if err != nil {
		if errors.Is(err, ice.ErrUnknownCandidateTyp) || errors.Is(err, ice.ErrDetermineNetworkType) {
			return candidateIgnored, nil // pion discards these too
		}
		if host, ok := hostName(value); ok {
			return candidateRefused, fmt.Errorf("%w: %q is not an IP address; the server looks up no names", ErrBadCandidate, host)
		}
		return candidateRefused, fmt.Errorf("%w: %v", ErrBadCandidate, err)
	}
	addr, err := netip.ParseAddr(c.Address())
	if err != nil {
		if c.Type() == ice.CandidateTypeHost && strings.HasSuffix(c.Address(), ".local") {
			return candidateIgnored, nil
		}
		return candidateRefused, fmt.Errorf("%w: %q is not an IP address; the server looks up no names", ErrBadCandidate, c.Address())
	}
	addr = addr.Unmap()
	if c.Component() != ice.ComponentRTP || c.NetworkType() != ice.NetworkTypeUDP4 || !addr.Is4() {
		return candidateIgnored, nil
	}
	ap := netip.AddrPortFrom(addr, uint16(c.Port()))
	if err := r.policy.allowAddr(ap); err != nil {
		return candidateRefused, err
	}
	if _, ok := r.seen[ap]; ok {
		return candidateUsed, nil
	}
	if len(r.seen) >= r.limit {
		return candidateOverLimit, r.overLimit()
	}
	r.seen[ap] = struct{}{}
	return candidateUsed, nil
}

func (r *remoteCandidates) overLimit() error {
	return fmt.Errorf("%w: over the limit of %d remote candidates on the %s connection", ErrBadCandidate, r.limit, r.target)
}

// hostName returns the address field of a candidate whose address is not
// an IP address.
func hostName(value string) (string, bool) {
	f := strings.Fields(strings.TrimPrefix(value, "candidate:"))
	if len(f) < 5 {
		return "", false
	}
	if _, err := netip.ParseAddr(f[4]); err != nil && strings.ContainsAny(f[4], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		return f[4], true
	}
	return "", false
}

// filterSDP returns the description without the a=candidate lines that
// admit does not use; every other byte is kept. refused counts the lines
// refused or over the limit. The error names the limit when candidates
// were over it; the description is still usable without them.
func (r *remoteCandidates) filterSDP(sdp string) (out string, refused int, err error) {
	if !strings.Contains(sdp, "a=candidate") {
		return sdp, 0, nil
	}
	var b strings.Builder
	b.Grow(len(sdp))
	over := 0
	for rest := sdp; rest != ""; {
		line, next, found := strings.Cut(rest, "\n")
		full := line
		if found {
			full += "\n"
		}
		rest = next
		content := strings.TrimSuffix(line, "\r")
		if content == "a=candidate" || strings.HasPrefix(content, "a=candidate:") {
			switch v, _ := r.admit(content[len("a="):]); v {
			case candidateUsed:
			case candidateOverLimit:
				over++
				refused++
				continue
			case candidateRefused:
				refused++
				continue
			default:
				continue
			}
		}
		b.WriteString(full)
	}
	if over > 0 {
		err = fmt.Errorf("%w; %d of the description's candidates dropped", r.overLimit(), over)
	}
	return b.String(), refused, err
}
