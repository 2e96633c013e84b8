package sfu

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// loopbackPolicy is the policy of a node on 127.0.0.1 with its media on
// port 7882.
func loopbackPolicy(t *testing.T) *candidatePolicy {
	t.Helper()
	cfg := Default()
	cfg.NodeIP = "127.0.0.1"
	p, err := newCandidatePolicy(cfg, []netip.Addr{netip.MustParseAddr("127.0.0.1")}, []int{7882})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAdmitCandidate(t *testing.T) {
	for _, tc := range []struct {
		name, cand string
		want       verdict
		says       string // in the error, if refused
	}{
		{"host", "candidate:1 1 udp 2130706431 127.0.0.2 5000 typ host", candidateUsed, ""},
		{"without the prefix", "1 1 UDP 2130706431 127.0.0.2 5000 typ host", candidateUsed, ""},
		{"server reflexive", "candidate:2 1 udp 1694498815 127.0.0.3 5000 typ srflx raddr 0.0.0.0 rport 0", candidateUsed, ""},
		{"relayed", "candidate:3 1 udp 16777215 127.0.0.4 3478 typ relay raddr 127.0.0.9 rport 5000", candidateUsed, ""},
		{"with extensions", "candidate:1 1 udp 2130706431 127.0.0.2 5000 typ host generation 0 ufrag abcd network-id 1", candidateUsed, ""},
		{"IPv4-mapped", "candidate:1 1 udp 2130706431 ::ffff:127.0.0.5 5000 typ host", candidateUsed, ""},
		{"TCP passive", "candidate:4 1 tcp 1518280447 127.0.0.2 9 typ host tcptype passive", candidateIgnored, ""},
		{"TCP active", "candidate:4 1 tcp 1518280447 127.0.0.2 9 typ host tcptype active", candidateIgnored, ""},
		{"IPv6", "candidate:5 1 udp 2122262783 ::1 5000 typ host", candidateIgnored, ""},
		{"mDNS name", "candidate:6 1 udp 2113937151 1f0b0bd4-5c1e-4a4b-9a0b-123456789abc.local 5000 typ host", candidateIgnored, ""},
		{"RTCP component", "candidate:7 2 udp 2130706430 127.0.0.2 5001 typ host", candidateIgnored, ""},
		{"unknown transport", "candidate:8 1 sctp 2130706431 127.0.0.2 5000 typ host", candidateIgnored, ""},
		{"unknown type", "candidate:9 1 udp 2130706431 127.0.0.2 5000 typ bogus", candidateIgnored, ""},
		{"host name", "candidate:1 1 udp 2130706431 media.example.com 5000 typ host", candidateRefused, "looks up no names"},
		{"reflexive host name", "candidate:1 1 udp 1694498815 media.example.com 5000 typ srflx raddr 0.0.0.0 rport 0", candidateRefused, "looks up no names"},
		{"relay on mDNS name", "candidate:1 1 udp 16777215 x.local 3478 typ relay raddr 0.0.0.0 rport 0", candidateRefused, "looks up no names"},
		{".invalid name", "candidate:1 1 udp 2130706431 x.invalid 5000 typ host", candidateRefused, "looks up no names"},
		{"garbage", "candidate:garbage", candidateRefused, "bad ICE candidate"},
		{"no value", "candidate", candidateRefused, "bad ICE candidate"},
		{"private on a loopback node", "candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host", candidateRefused, "private address, not accepted"},
		{"unspecified", "candidate:1 1 udp 2130706431 0.0.0.0 5000 typ host", candidateRefused, "non-unicast address, not accepted"},
		{"multicast", "candidate:1 1 udp 2130706431 224.0.0.251 5353 typ host", candidateRefused, "non-unicast"},
		{"broadcast", "candidate:1 1 udp 2130706431 255.255.255.255 5000 typ host", candidateRefused, "non-unicast"},
		{"the media port", "candidate:1 1 udp 2130706431 127.0.0.1 7882 typ host", candidateRefused, "this server's own"},
		{"port 0", "candidate:1 1 udp 2130706431 127.0.0.2 0 typ host", candidateRefused, "port 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRemoteCandidates(TargetPublisher, loopbackPolicy(t), 4)
			got, err := r.admit(tc.cand)
			if got != tc.want {
				t.Fatalf("verdict %d (%v), want %d", got, err, tc.want)
			}
			switch {
			case tc.want == candidateRefused && (!errors.Is(err, ErrBadCandidate) || !strings.Contains(err.Error(), tc.says)):
				t.Fatalf("error %v, want ErrBadCandidate saying %q", err, tc.says)
			case tc.want != candidateRefused && err != nil:
				t.Fatalf("error %v, want none", err)
			}
			if want := map[verdict]int{candidateUsed: 1}[tc.want]; len(r.seen) != want {
				t.Fatalf("%d addresses counted, want %d", len(r.seen), want)
			}
		})
	}
}

func TestAdmitCandidateLimit(t *testing.T) {
	r := newRemoteCandidates(TargetSubscriber, loopbackPolicy(t), 3)
	cand := func(i int) string { return fmt.Sprintf("candidate:%d 1 udp 2130706431 127.0.0.%d 5000 typ host", i, i) }
	for i := 1; i <= 3; i++ {
		if v, err := r.admit(cand(i)); v != candidateUsed {
			t.Fatalf("candidate %d: %d %v", i, v, err)
		}
	}
	v, err := r.admit(cand(4))
	if v != candidateOverLimit || !errors.Is(err, ErrBadCandidate) || !strings.Contains(err.Error(), "limit of 3 remote candidates on the subscriber connection") {
		t.Fatalf("fourth candidate: %d %v; want over the limit of 3", v, err)
	}
	// The same address again, of another type or foundation, is no new
	// destination.
	if v, err := r.admit("candidate:9 1 udp 1694498815 127.0.0.2 5000 typ srflx raddr 0.0.0.0 rport 0"); v != candidateUsed {
		t.Fatalf("a known address refused: %d %v", v, err)
	}
	// Ignored and refused candidates use none of the budget.
	r = newRemoteCandidates(TargetPublisher, loopbackPolicy(t), 1)
	for _, c := range []string{"candidate:1 1 tcp 1 127.0.0.2 9 typ host tcptype active", "candidate:1 1 udp 1 10.0.0.1 5000 typ host", "candidate:garbage"} {
		_, _ = r.admit(c)
	}
	if v, err := r.admit(cand(1)); v != candidateUsed {
		t.Fatalf("budget used by unused candidates: %d %v", v, err)
	}
}

func TestFilterSDP(t *testing.T) {
	offer := clientOffer(t)
	kept := []string{
		"a=candidate:1 1 udp 2130706431 127.0.0.2 5000 typ host",
		"a=candidate:2 1 udp 2130706431 127.0.0.3 5000 typ host",
		"a=candidate:3 1 udp 1694498815 127.0.0.2 5000 typ srflx raddr 0.0.0.0 rport 0", // known address
	}
	dropped := []string{
		"a=candidate:4 1 udp 2130706431 10.0.0.1 5000 typ host",
		"a=candidate:5 1 udp 2130706431 127.0.0.1 7882 typ host",
		"a=candidate:6 1 tcp 1518280447 127.0.0.2 9 typ host tcptype active",
		"a=candidate:7 1 udp 2130706431 abc.local 5000 typ host",
		"a=candidate:8 1 udp 2130706431 0.0.0.0 5000 typ host",
		"a=candidate:9 1 udp 2130706431 224.0.0.1 5000 typ host",
		"a=candidate",
		"a=candidate:10 1 udp 2130706431 127.0.0.4 5000 typ host", // over the limit of 2
	}
	// Lines of both endings, in a media section and at session level.
	want := strings.Replace(offer, "a=mid:0\r\n", "a=mid:0\r\n"+kept[0]+"\r\n"+kept[1]+"\n"+kept[2]+"\r\n", 1)
	in := strings.Replace(offer, "a=mid:0\r\n", "a=mid:0\r\n"+kept[0]+"\r\n"+dropped[0]+"\r\n"+dropped[1]+"\r\n"+kept[1]+"\n"+
		strings.Join(dropped[2:7], "\r\n")+"\r\n"+kept[2]+"\r\n"+dropped[7]+"\r\n", 1)
	want = strings.Replace(want, "t=0 0\r\n", "t=0 0\r\na=candidate:11 1 udp 2130706431 127.0.0.2 5000 typ host\r\n", 1)
	in = strings.Replace(in, "t=0 0\r\n", "t=0 0\r\na=candidate:11 1 udp 2130706431 127.0.0.2 5000 typ host\r\n", 1)
	if in == offer || want == offer {
		t.Fatal("the offer has no a=mid:0 or t= line to put candidates after")
	}
	r := newRemoteCandidates(TargetPublisher, loopbackPolicy(t), 2)
	out, refused, err := r.filterSDP(in)
	if out != want {
		t.Errorf("filtered description:\n%q\nwant\n%q", out, want)
	}
	if refused != 6 {
		t.Errorf("%d refused, want 6 (private, own port, unspecified, multicast, no value, over the limit)", refused)
	}
	if !errors.Is(err, ErrBadCandidate) || !strings.Contains(err.Error(), "limit of 2") || !strings.Contains(err.Error(), "1 of the description's candidates dropped") {
		t.Errorf("error %v, want one over the limit of 2", err)
	}
	// Without candidates, the description is the same string.
	if out, _, err := newRemoteCandidates(TargetPublisher, loopbackPolicy(t), 2).filterSDP(offer); out != offer || err != nil {
		t.Errorf("a description without candidates changed: %v", err)
	}
}

// TestOfferCandidatesReachPionFiltered sends an offer through HandleOffer
// and reads back what pion holds: the description without the refused
// candidates, and only the admitted remote candidates. The admitted ones
// name loopback addresses on the discard port.
func TestOfferCandidatesReachPionFiltered(t *testing.T) {
	s := testSFU(t)
	media := s.MediaAddr().(*net.UDPAddr)
	sink := &recordingSink{}
	p, err := s.Join("r", Identity{Identity: "a", Grants: Grants{Publish: true, Subscribe: true}}, sink)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	admitted := "a=candidate:1 1 udp 2130706431 127.0.0.2 9 typ host\r\n"
	refused := fmt.Sprintf("a=candidate:2 1 udp 2130706431 127.0.0.1 %d typ host\r\n", media.Port) +
		"a=candidate:3 1 udp 2130706431 0.0.0.0 9 typ host\r\n" +
		"a=candidate:4 1 udp 2130706431 media.example.com 9 typ host\r\n" +
		"a=candidate:5 1 udp 2130706431 abc.local 9 typ host\r\n"
	offer := clientOffer(t)
	in := strings.Replace(offer, "a=mid:0\r\n", "a=mid:0\r\n"+admitted+refused, 1)
	if err := p.HandleOffer(in, nil); err != nil {
		t.Fatalf("HandleOffer: %v", err)
	}
	if err := p.AddCandidate(TargetPublisher, webrtc.ICECandidateInit{Candidate: "candidate:6 1 udp 2130706431 127.0.0.3 9 typ host"}); err != nil {
		t.Fatalf("trickled loopback candidate: %v", err)
	}
	err = p.AddCandidate(TargetPublisher, webrtc.ICECandidateInit{Candidate: fmt.Sprintf("candidate:7 1 udp 2130706431 127.0.0.1 %d typ host", media.Port)})
	if !errors.Is(err, ErrBadCandidate) {
		t.Fatalf("trickled candidate naming the media port: %v, want ErrBadCandidate", err)
	}

	var desc string
	var pc *webrtc.PeerConnection
	_ = p.do(func() error {
		desc, pc = p.pub.RemoteDescription().SDP, p.pub
		return nil
	})
	if want := strings.Replace(offer, "a=mid:0\r\n", "a=mid:0\r\n"+admitted, 1); desc != want {
		t.Errorf("pion got the description\n%q\nwant\n%q", desc, want)
	}
	// pion adds remote candidates on its own goroutine.
	want := []string{"127.0.0.2:9", "127.0.0.3:9"}
	var got []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got = remoteCandidateAddrs(pc); len(got) >= len(want) {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("pion's remote candidates: %v, want %v", got, want)
	}
}

// remoteCandidateAddrs are the addresses of pc's remote candidates, sorted.
func remoteCandidateAddrs(pc *webrtc.PeerConnection) []string {
	var out []string
	for _, st := range pc.GetStats() {
		if c, ok := st.(webrtc.ICECandidateStats); ok && c.Type == webrtc.StatsTypeRemoteCandidate {
			out = append(out, fmt.Sprintf("%s:%d", c.IP, c.Port))
		}
	}
	slices.Sort(out)
	return out
}

// TestAdmitCandidateLimitPerGeneration: an ICE restart (a new username
// fragment in the client's description) starts a new count, since pion
// forgets the previous generation's candidates; the same fragment again
// does not.
func TestAdmitCandidateLimitPerGeneration(t *testing.T) {
	r := newRemoteCandidates(TargetPublisher, loopbackPolicy(t), 2)
	cand := func(i int) string { return fmt.Sprintf("candidate:%d 1 udp 2130706431 127.0.0.%d 5000 typ host", i, i) }
	r.generation("one")
	for i := 1; i <= 2; i++ {
		if v, err := r.admit(cand(i)); v != candidateUsed {
			t.Fatalf("candidate %d: %d %v", i, v, err)
		}
	}
	r.generation("one") // a renegotiation without restart
	if v, _ := r.admit(cand(3)); v != candidateOverLimit {
		t.Fatalf("third candidate of one generation: %d, want over the limit", v)
	}
	r.generation("") // a description without a fragment changes nothing
	if v, _ := r.admit(cand(3)); v != candidateOverLimit {
		t.Fatalf("third candidate after a description without ufrag: %d, want over the limit", v)
	}
	r.generation("two")
	for i := 3; i <= 4; i++ {
		if v, err := r.admit(cand(i)); v != candidateUsed {
			t.Fatalf("candidate %d of the restart: %d %v", i, v, err)
		}
	}
	if v, _ := r.admit(cand(5)); v != candidateOverLimit {
		t.Fatalf("third candidate of the restart: %d, want over the limit", v)
	}
}

func TestICEUfrag(t *testing.T) {
	for sdp, want := range map[string]string{
		"v=0\r\na=ice-ufrag:abcd\r\na=ice-pwd:x\r\n": "abcd",
		"v=0\na=ice-ufrag:ef+/\n":                    "ef+/",
		"v=0\r\n":                                    "",
	} {
		if got := iceUfrag(sdp); got != want {
			t.Errorf("iceUfrag(%q) = %q, want %q", sdp, got, want)
		}
	}
}
