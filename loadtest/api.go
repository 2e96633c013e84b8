package loadtest

// The pion APIs and setting engines of a client's connections.

import (
	"io"
	"net"
	"slices"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"
)

// newAPIs returns the APIs of the publisher and the subscriber connection.
// They differ in that the subscriber accepts RTX, as browsers do, records
// arrivals for transport-wide congestion control feedback, and hands its
// packets to recv where they are decrypted.
func newAPIs(opts Options, rids *ridTagger, recv *receiver) (pub, sub *webrtc.API, mux io.Closer, err error) {
	se, udpMux, err := newSettingEngine(opts)
	if err != nil {
		return nil, nil, nil, err
	}
	subSE := se
	subSE.BufferFactory = recv.streams.factory
	if udpMux == nil {
		// The subscriber's own sockets, which hand its media to the tap.
		var n transport.Net
		if n, err = newHarnessNet(recv.stamps, recv.tap); err == nil {
			subSE.SetNet(n)
		}
	}
	if err == nil {
		pub, err = newAPI(opts, rids, se, nil)
	}
	if err == nil {
		sub, err = newAPI(opts, rids, subSE, recv.twcc)
	}
	if err != nil {
		if udpMux != nil {
			_ = udpMux.Close()
		}
		return nil, nil, nil, err
	}
	if udpMux == nil {
		return pub, sub, nil, nil
	}
	return pub, sub, udpMux, nil
}

// newAPI returns the API of a publisher connection, or with rec that of a
// subscriber connection.
func newAPI(opts Options, rids *ridTagger, se webrtc.SettingEngine, rec *twccRecorder) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	video := webrtc.MimeTypeVP8
	if rec != nil && opts.SubscribeCodec != "" {
		video = opts.SubscribeCodec
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: video, ClockRate: 90000, RTCPFeedback: fb}, PayloadType: videoPayloadType}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if rec == nil {
		if err := registerPublishCodecs(m, opts, fb); err != nil {
			return nil, err
		}
	}
	if rec != nil {
		c := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: "apt=96"}, PayloadType: videoPayloadType + 1}
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	ir.Add(rids)
	// Order matters: the first added is nearest the network, so the loss
	// is injected below the NACK machinery that must repair it.
	if opts.DropOutgoing != nil {
		ir.Add(&dropFactory{out: opts.DropOutgoing})
	}
	// The subscriber's NACKs, receiver reports and congestion control
	// feedback come from its receiver, on the feedback clock.
	resp, err := nack.NewResponderInterceptor()
	if err != nil {
		return nil, err
	}
	sr, err := report.NewSenderInterceptor()
	if err != nil {
		return nil, err
	}
	ir.Add(resp)
	ir.Add(sr)
	if err := configureTWCCFeedback(m, ir, rec); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// newSettingEngine restricts ICE as the options say; with DropIncoming it
// also returns the lossy UDP mux both connections share (whose packets
// get no receive times).
func newSettingEngine(opts Options) (webrtc.SettingEngine, ice.UDPMux, error) {
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if opts.LoopbackOnly {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	} else if len(opts.AllowIPs) > 0 {
		se.SetIPFilter(func(ip net.IP) bool { return slices.ContainsFunc(opts.AllowIPs, ip.Equal) })
	}
	var mux ice.UDPMux
	if opts.DropIncoming == nil {
		n, err := newHarnessNet(nil, nil)
		if err != nil {
			return se, nil, err
		}
		se.SetNet(n)
	} else {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return se, nil, err
		}
		_ = conn.SetReadBuffer(socketBuffer)
		mux = webrtc.NewICEUDPMux(nil, &lossyConn{PacketConn: conn, pt: videoPayloadType, drop: opts.DropIncoming, seen: seenSet{}})
		se.SetICEUDPMux(mux)
	}
	return se, mux, nil
}

// videoPayloadType is the payload type the client registers VP8 with.
const videoPayloadType = 96
