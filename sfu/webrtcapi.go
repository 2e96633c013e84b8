package sfu

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/logging"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// webrtcAPI holds the two pion APIs, one per direction, sharing one ICE UDP
// mux on one socket, whose writes are batched (see batchConn on Linux).
// They differ in codecs and interceptors so that each RTCP function has
// exactly one owner:
//
//   - publisher side: pion generates NACKs, receiver reports and TWCC
//     feedback for what the browser sends us;
//   - subscriber side: pion adds the TWCC header extension and generates
//     sender reports; NACKs and keyframe requests from subscribers are
//     answered by our own code (DownTrack), from the packet cache;
//   - relays between nodes (relay.go), both directions alike: pion
//     generates NACKs and receiver reports for what it receives and
//     sender reports for what it sends; NACKs and keyframe requests from
//     the receiving node are answered by DownTrack as a subscriber's are.
//     No bandwidth estimation: nodes are on a provisioned network.
type webrtcAPI struct {
	pub      *webrtc.API
	sub      *webrtc.API
	relayOut *webrtc.API // on the mux
	relayIn  *webrtc.API // each connection on a socket of its own
	mux      ice.UDPMux
	conn     net.PacketConn // the media socket; the mux closes it

	subMu sync.Mutex // one subscriber connection created at a time, to pair it with its estimator
	bwe   *bweFactory
}

// mediaSocketBuffer is the media socket's receive and send buffer size.
const mediaSocketBuffer = 4 << 20

// newWebRTCAPI opens the media socket on a host with the local addresses
// given and makes the APIs around it.
//
// The socket is bound to the advertised address when that is one of the
// host's (see Config.MediaBind): bound to every address, the kernel gives
// each reply the source address of the interface its route leaves by, and
// on a host with several interfaces that need not be the one the client's
// packets arrived at, which a client's NAT drops as coming from a stranger.
func newWebRTCAPI(cfg Config, local []netip.Addr, policy *candidatePolicy, logs logging.LoggerFactory, now func() time.Time) (*webrtcAPI, error) {
	bind := &net.UDPAddr{IP: cfg.mediaBindIP(local), Port: cfg.UDPPort}
	nodeIP := net.ParseIP(cfg.NodeIP)
	conn, err := net.ListenUDP("udp4", bind)
	if err != nil {
		return nil, fmt.Errorf("sfu: media port: %w", err)
	}
	// Before the policy is used: no candidate can arrive yet.
	policy.addPort(conn.LocalAddr().(*net.UDPAddr).Port)
	// Every publisher's media and every subscriber's feedback arrive on
	// this one socket: the default 208 KiB buffer holds a few milliseconds
	// of that under load. The kernel caps these at net.core.rmem_max and
	// wmem_max.
	_ = conn.SetReadBuffer(mediaSocketBuffer)
	_ = conn.SetWriteBuffer(mediaSocketBuffer)
	media, flushes, err := newMediaConn(conn, now, logs.NewLogger("udpbatch"))
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("sfu: media port: %w", err)
	}
	mux := webrtc.NewICEUDPMux(logs.NewLogger("udpmux"), media)

	se := webrtc.SettingEngine{LoggerFactory: logs}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetICETimeouts(cfg.DisconnectTimeout, 2*cfg.DisconnectTimeout, 2*time.Second)
	se.SetSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80)
	if nodeIP != nil && nodeIP.IsLoopback() || bind.IP.IsLoopback() {
		se.SetIncludeLoopbackCandidate(true)
	} else if nodeIP != nil {
		se.SetNAT1To1IPs([]string{nodeIP.String()}, webrtc.ICECandidateTypeHost)
	}
	// Candidates are admitted by the participant (remoteCandidates); the
	// filter also covers peer-reflexive ones, learnt from requests.
	se.SetRemoteIPFilter(policy.keepIP)
	own, err := ownSocketSettings(se, cfg, bind.IP)
	if err != nil {
		_ = mux.Close()
		return nil, err
	}
	se.SetICEUDPMux(mux)

	a := &webrtcAPI{mux: mux, conn: media, bwe: newBWEFactory(now, flushes)}
	// Clients' data channels end on the publisher connections (data.go).
	pubSE := se
	pubSE.SetSCTPMaxMessageSize(cfg.Data.sctpMaxMessage())
	a.pub, err = newPublisherAPI(pubSE)
	if err == nil {
		a.sub, err = newSubscriberAPI(se, a.bwe)
	}
	if err == nil {
		a.relayOut, err = newRelayAPI(se)
	}
	if err == nil {
		a.relayIn, err = newRelayAPI(own)
	}
	if err != nil {
		_ = mux.Close()
		return nil, err
	}
	return a, nil
}

// ownSocketSettings are the settings se makes, for connections that have
// a UDP socket of their own, in the relay port range, on the address the
// media socket is bound to (bindIP; every address when nil).
//
// A relay's receiving connection is one: the UDP mux tells connections
// apart by the remote address once ICE is done, and between two nodes
// both directions of every relayed room would have the same two
// addresses, the two media sockets'. With the receiving end on a socket of
// its own, each connection has its own pair.
func ownSocketSettings(se webrtc.SettingEngine, cfg Config, bindIP net.IP) (webrtc.SettingEngine, error) {
	if cfg.RelayPortMin != 0 || cfg.RelayPortMax != 0 {
		if err := se.SetEphemeralUDPPortRange(uint16(cfg.RelayPortMin), uint16(cfg.RelayPortMax)); err != nil {
			return se, fmt.Errorf("sfu: relay ports: %w", err)
		}
	}
	if bindIP != nil && !bindIP.IsUnspecified() {
		bound, err := newBoundNet(bindIP)
		if err != nil {
			return se, err
		}
		se.SetNet(bound)
		se.SetIPFilter(func(ip net.IP) bool { return ip.Equal(bindIP) })
	}
	return se, nil
}

func newPublisherAPI(se webrtc.SettingEngine) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return nil, err
	}
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, err
	}
	ir.Add(gen)
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, err
	}
	ir.Add(rr)
	if err := webrtc.ConfigureTWCCSender(m, ir); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

func newSubscriberAPI(se webrtc.SettingEngine, bwe *bweFactory) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	// Nearest the network, so it sees the transport-wide sequence number
	// that the TWCC header extension interceptor (added below) sets.
	ir.Add(bwe)
	sr, err := report.NewSenderInterceptor()
	if err != nil {
		return nil, err
	}
	ir.Add(sr)
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(m, ir); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

func newRelayAPI(se webrtc.SettingEngine) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m); err != nil {
		return nil, err
	}
	// The audio level crosses to the receiving node, for its active
	// speaker detection.
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, err
	}
	ir.Add(gen)
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, err
	}
	ir.Add(rr)
	sr, err := report.NewSenderInterceptor()
	if err != nil {
		return nil, err
	}
	ir.Add(sr)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// newSubscriber creates a subscriber connection and its bandwidth estimator.
func (a *webrtcAPI) newSubscriber() (*webrtc.PeerConnection, *BandwidthEstimator, error) {
	a.subMu.Lock()
	defer a.subMu.Unlock()
	pc, err := a.sub.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, nil, err
	}
	return pc, a.bwe.take(), nil
}

// LocalAddr is the media socket's address.
func (a *webrtcAPI) LocalAddr() net.Addr { return a.conn.LocalAddr() }

func (a *webrtcAPI) Close() error { return a.mux.Close() }
