package loadtest

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/pion/dtls/v3"
	pionrtp "github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// srtpTap takes a subscriber connection's media where its socket is read:
// it decrypts each packet of a stream whose track the receiver already
// reads and runs the track's handler on it there, on the socket reader's
// goroutine.
//
// Even with streamBuffers, pion hands each packet between three
// goroutines before the receiver sees it: the ICE candidate's socket
// reader, the DTLS/SRTP demultiplexer and the SRTP session, each through
// a locked buffer and a wake-up. With hundreds of subscribers on a core,
// those hand-offs and the scheduling they cause cost the harness more than
// a third of its CPU per packet. A browser pays that once per packet for
// itself; a harness that pays it for hundreds of clients on a core measures
// itself instead of the server.
//
// Everything else stays pion's: ICE and its keepalives, the DTLS
// handshake, RTCP both ways, and each stream's first packets, which tell
// pion of the track. Packets of streams without a handler, packets the tap
// cannot decrypt, and everything that is not RTP go up to pion as before.
//
// The tap keeps no replay window, so a packet the SFU sends twice counts
// as a duplicate rather than vanishing in SRTP.
type srtpTap struct {
	mu        sync.Mutex // guards the fields below
	ctx       *srtp.Context
	failed    bool // the keys could not be had: the tap stays off
	installed bool // a socket reads through the tap
	streams   map[uint32]*tapStream
	hdr       pionrtp.Header // DecryptRTP's scratch
	taken     int            // packets decrypted and handed to a handler
}

// tapStream is a stream the tap takes.
type tapStream struct {
	handle tapHandler
	// failing counts the packets in a row that did not decrypt. The tap's
	// context follows a stream from the first packet it takes, pion's
	// from the stream's first; should the sequence numbers have wrapped
	// in between, the two disagree on the rollover counter and only
	// pion's decrypts, so after maxTapFailures the tap lets the stream go.
	failing int
}

const maxTapFailures = 16

// tapHandler takes one decrypted RTP packet b of a stream that arrived at
// at (zero: unknown, look its stamp up), using p as scratch. b is not kept.
type tapHandler func(b []byte, at time.Time, p *pionrtp.Packet)

func newSRTPTap() *srtpTap { return &srtpTap{streams: map[uint32]*tapStream{}} }

// install records that a socket reads through the tap.
func (t *srtpTap) install() {
	t.mu.Lock()
	t.installed = true
	t.mu.Unlock()
}

// start gives the tap the keys of dt, the connection's DTLS transport, on
// the first call; isClient tells whether the connection took the DTLS
// client role. It reports whether the tap takes packets: it has keys, and
// a socket reads through it (not with the lossy UDP mux, nor where the
// kernel lacks UDP_GRO).
func (t *srtpTap) start(dt *webrtc.DTLSTransport, isClient bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.installed {
		return false
	}
	if t.ctx == nil && !t.failed {
		ctx, err := remoteSRTPContext(dt, isClient)
		t.ctx, t.failed = ctx, err != nil
	}
	return t.ctx != nil
}

// attach makes the tap take the packets of stream ssrc and run h on them.
func (t *srtpTap) attach(ssrc uint32, h tapHandler) {
	t.mu.Lock()
	t.streams[ssrc] = &tapStream{handle: h}
	t.mu.Unlock()
}

// detach makes the tap leave stream ssrc to pion again.
func (t *srtpTap) detach(ssrc uint32) {
	t.mu.Lock()
	delete(t.streams, ssrc)
	t.mu.Unlock()
}

// decrypt returns the handler of the SRTP packet b's stream and the packet
// decrypted into dst, or a nil handler if the tap does not take b: not
// RTP, a stream without a handler, or a packet that does not decrypt
// (pion's context may, see tapStream.failing).
func (t *srtpTap) decrypt(b, dst []byte) (tapHandler, []byte) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return nil, nil
	}
	if pt := b[1] & 0x7f; pt >= 64 && pt <= 95 {
		return nil, nil // RTCP (RFC 5761)
	}
	ssrc := uint32(b[8])<<24 | uint32(b[9])<<16 | uint32(b[10])<<8 | uint32(b[11])
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.streams[ssrc]
	if s == nil || t.ctx == nil {
		return nil, nil
	}
	out, err := t.ctx.DecryptRTP(dst[:0], b, &t.hdr)
	if err != nil {
		if s.failing++; s.failing >= maxTapFailures {
			delete(t.streams, ssrc)
		}
		return nil, nil
	}
	s.failing = 0
	t.taken++
	return s.handle, out
}

var errNoDTLSConn = errors.New("loadtest: the DTLS transport's connection is not reachable")

// remoteSRTPContext returns an SRTP context that decrypts what the far end
// of dt sends, from the keys its DTLS handshake exported (RFC 5764).
//
// pion keeps the DTLS connection in an unexported field; it is read by
// name, once the handshake is over (pion sets it before it starts SRTP,
// and so before any track exists). A pion release that renames it turns
// the tap off, and the harness falls back on pion's own path (TestSRTPTap
// fails then, to say so).
func remoteSRTPContext(dt *webrtc.DTLSTransport, isClient bool) (*srtp.Context, error) {
	if dt == nil {
		return nil, errNoDTLSConn
	}
	f := reflect.ValueOf(dt).Elem().FieldByName("conn")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*dtls.Conn]() {
		return nil, errNoDTLSConn
	}
	conn := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(*dtls.Conn)
	if conn == nil {
		return nil, errNoDTLSConn
	}
	state, ok := conn.ConnectionState()
	if !ok {
		return nil, errNoDTLSConn
	}
	profile, ok := conn.SelectedSRTPProtectionProfile()
	if !ok {
		return nil, errNoDTLSConn
	}
	cfg := srtp.Config{Profile: srtp.ProtectionProfile(profile)}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, isClient); err != nil {
		return nil, err
	}
	return tapContext(cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, cfg.Profile)
}

// tapContext returns the tap's decrypting context for a master key and
// salt. It takes packets whose header extensions and CSRCs are encrypted
// (Cryptex, RFC 9335), which pion negotiates when both ends offer it, as
// well as packets whose are not.
func tapContext(key, salt []byte, profile srtp.ProtectionProfile) (*srtp.Context, error) {
	return srtp.CreateContext(key, salt, profile, srtp.Cryptex(srtp.CryptexModeEnabled))
}

// dtlsClient reports whether pc took the DTLS client role, as its local
// description says (RFC 5763: setup:active), and false if it says neither.
func dtlsClient(pc *webrtc.PeerConnection) (client, known bool) {
	d := pc.CurrentLocalDescription()
	switch {
	case d == nil:
		return false, false
	case strings.Contains(d.SDP, "a=setup:active"):
		return true, true
	case strings.Contains(d.SDP, "a=setup:passive"):
		return false, true
	}
	return false, false
}
