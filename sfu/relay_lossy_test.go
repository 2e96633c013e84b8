package sfu_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sfu-project/sfu/sfu"
)

// lossyPath stands in the media path of one direction of a relay, on
// loopback: the exporting end's candidates in its offers and the
// importing end's in their answers are replaced by two sockets of its
// own, between which it forwards the packets, counting the video packets
// on their way to the importing end and losing the first arrival of those
// drop chooses, if drop is not nil (SRTP leaves the RTP header in the
// clear).
type lossyPath struct {
	t          *testing.T
	toExporter *net.UDPConn // the importing end sends here: the exporter's candidate
	toImporter *net.UDPConn // the exporting end sends here: the importer's candidate
	drop       func(seq uint16) bool
	videoPT    uint8
	lost       atomic.Int64
	wg         sync.WaitGroup

	mu       sync.Mutex // guards the fields below
	exporter *net.UDPAddr
	importer *net.UDPAddr
	dropped  map[uint64]bool // SSRC and sequence number of what was lost once
	packets  map[uint32]int  // RTP packets carried to the importing end, by SSRC
}

// newLossyPath puts a lossy path in the a-to-b direction of a relay
// opened with openRelay: pass its edit method to openRelay.
func newLossyPath(t *testing.T, drop func(seq uint16) bool) *lossyPath {
	t.Helper()
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	p := &lossyPath{t: t, toExporter: listen(), toImporter: listen(), drop: drop, dropped: make(map[uint64]bool), packets: make(map[uint32]int), videoPT: 96}
	p.wg.Add(2)
	go p.forward(p.toExporter, p.toImporter, func() *net.UDPAddr { return p.exporterAddr() }, false)
	go p.forward(p.toImporter, p.toExporter, func() *net.UDPAddr { return p.importerAddr() }, true)
	t.Cleanup(p.close)
	return p
}

// carried is how many video packets of stream ssrc the path carried.
func (p *lossyPath) carried(ssrc uint32) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.packets[ssrc]
}

func (p *lossyPath) close() {
	_ = p.toExporter.Close()
	_ = p.toImporter.Close()
	p.wg.Wait()
}

func (p *lossyPath) exporterAddr() *net.UDPAddr {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exporter
}

func (p *lossyPath) importerAddr() *net.UDPAddr {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.importer
}

// forward copies what arrives at in to the address to() names, from out;
// lossy is set for the direction of the media.
func (p *lossyPath) forward(in, out *net.UDPConn, to func() *net.UDPAddr, lossy bool) {
	defer p.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, _, err := in.ReadFromUDP(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.t.Errorf("lossy path: %v", err)
			}
			return
		}
		dst := to()
		if dst == nil || (lossy && p.lose(buf[:n])) {
			continue
		}
		_, _ = out.WriteToUDP(buf[:n], dst)
	}
}

// lose counts pkt if it is video RTP, and reports whether to lose it:
// the first arrival of a packet drop chooses.
func (p *lossyPath) lose(pkt []byte) bool {
	// RTP (RFC 3550) and not RTCP (RFC 5761, 4): version 2, a payload
	// type outside 64-95.
	if len(pkt) < 12 || pkt[0]>>6 != 2 || pkt[1]&0x7f != p.videoPT {
		return false
	}
	seq, ssrc := binary.BigEndian.Uint16(pkt[2:]), binary.BigEndian.Uint32(pkt[8:])
	p.mu.Lock()
	defer p.mu.Unlock()
	p.packets[ssrc]++
	if p.drop == nil || !p.drop(seq) {
		return false
	}
	key := uint64(ssrc)<<16 | uint64(seq)
	if p.dropped[key] {
		return false
	}
	p.dropped[key] = true
	p.lost.Add(1)
	return true
}

var candidateAddr = regexp.MustCompile(`(a=candidate:\S+ \d+ udp \d+ )(\S+) (\d+)( typ host)`)

// swapCandidates replaces the address of every candidate in sdp by via's,
// and returns the address it replaced.
func swapCandidates(sdp string, via *net.UDPAddr) (string, *net.UDPAddr, error) {
	var found *net.UDPAddr
	var bad error
	out := candidateAddr.ReplaceAllStringFunc(sdp, func(line string) string {
		m := candidateAddr.FindStringSubmatch(line)
		port, err := strconv.Atoi(m[3])
		addr := &net.UDPAddr{IP: net.ParseIP(m[2]), Port: port}
		if err != nil || addr.IP == nil || (found != nil && !found.IP.Equal(addr.IP)) || (found != nil && found.Port != port) {
			bad = fmt.Errorf("candidate %q: one host candidate expected", line)
		}
		found = addr
		return m[1] + via.IP.String() + " " + strconv.Itoa(via.Port) + m[4]
	})
	if found == nil && bad == nil {
		bad = errors.New("no candidate")
	}
	return out, found, bad
}

// edit puts the path between the a-side exporter and the b-side importer:
// for openRelay.
func (p *lossyPath) edit(ab, ba *relayLink) {
	ab.edit = func(m *sfu.RelayMessage) {
		if m.Kind != sfu.RelayOffer {
			return
		}
		sdp, real, err := swapCandidates(m.SDP, p.toExporter.LocalAddr().(*net.UDPAddr))
		if err != nil {
			p.t.Errorf("offer: %v", err)
			return
		}
		p.mu.Lock()
		p.exporter = real
		p.mu.Unlock()
		m.SDP = sdp
	}
	ba.edit = func(m *sfu.RelayMessage) {
		if m.Kind != sfu.RelayAnswer {
			return
		}
		sdp, real, err := swapCandidates(m.SDP, p.toImporter.LocalAddr().(*net.UDPAddr))
		if err != nil {
			p.t.Errorf("answer: %v", err)
			return
		}
		p.mu.Lock()
		p.importer = real
		p.mu.Unlock()
		m.SDP = sdp
	}
}
