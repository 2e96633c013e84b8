package node

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/sfu-project/sfu/internal/turnserver"
	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signaling"
)

// turnConfig is cfg.TURN with what it leaves to the node filled in: the
// public address is node_ip's, and TLS uses the node's certificate.
func (c Config) turnConfig() turnserver.Config {
	t := c.TURN
	if t.PublicIP == "" {
		t.PublicIP = c.SFU.NodeIP
	}
	if t.TLSCert == "" {
		t.TLSCert, t.TLSKey = c.TLSCert, c.TLSKey
	}
	return t
}

// validateTURN refuses an enabled TURN server without a public address.
func (c Config) validateTURN() error {
	if err := c.TURN.Validate(); err != nil {
		return err
	}
	if c.TURN.Enabled && c.turnConfig().PublicIP == "" {
		return fmt.Errorf("turn: set turn.public_ip or sfu.node_ip (--turn-public-ip, --node-ip): the address peers reach relays at")
	}
	return nil
}

// turnPorts are the ports the TURN server is configured to listen on,
// for the media core's candidate policy (ports the system chooses are
// not known yet, and only tests use them).
func (c Config) turnPorts() []int {
	if !c.TURN.Enabled {
		return nil
	}
	return []int{c.TURN.UDPPort, c.TURN.TCPPort, c.TURN.TLSPort}
}

// turnRelays are where the embedded TURN server relays from: its public
// address, on its relay ports. The SFU accepts the relayed candidates of
// its clients whatever remote_networks says: an operator lists where
// clients are, and a client whose UDP is blocked reaches the SFU from
// this node's own address.
func (c Config) turnRelays() []sfu.RelayRange {
	if !c.TURN.Enabled {
		return nil
	}
	public, err := netip.ParseAddr(c.turnConfig().PublicIP)
	if err != nil {
		return nil // turnserver.New refuses it
	}
	return []sfu.RelayRange{{Addr: public.Unmap(), PortMin: uint16(c.TURN.RelayPortMin), PortMax: uint16(c.TURN.RelayPortMax)}}
}

// startTURN starts the embedded TURN server when the configuration
// enables it, and returns the signaling option that gives each
// participant its ICE servers, or nil when it gets none of its own.
func (n *Node) startTURN(media *sfu.SFU) (signaling.Option, error) {
	cfg := n.cfg.turnConfig()
	if cfg.Enabled {
		ports := append(listenPorts(n.cfg.Listen), listenPorts(n.cfg.MetricsListen)...)
		s, err := turnserver.New(cfg, turnserver.Options{
			Logger:       n.log,
			AllowedPeers: mediaPeers(n.cfg.SFU, media.MediaAddr()),
			OwnPorts:     ports,
		})
		if err != nil {
			return nil, err
		}
		n.turn = s
	}
	issuer := turnserver.NewIssuer(cfg, n.turn, time.Now)
	if issuer.Len() == 0 {
		return nil, nil
	}
	return signaling.WithICEServers(func(identity, _ string) []signaling.ICEServer {
		servers := issuer.ICEServers(identity)
		out := make([]signaling.ICEServer, len(servers))
		for i, s := range servers {
			out[i] = signaling.ICEServer(s)
		}
		return out
	}), nil
}

// mediaPeers are the addresses the SFU receives media on, as its
// candidates advertise them: the TURN server relays to them whatever
// their class.
func mediaPeers(cfg sfu.Config, media net.Addr) []netip.AddrPort {
	ua, ok := media.(*net.UDPAddr)
	if !ok {
		return nil
	}
	port := uint16(ua.Port)
	var out []netip.AddrPort
	if node, err := netip.ParseAddr(cfg.NodeIP); err == nil {
		out = append(out, netip.AddrPortFrom(node.Unmap(), port))
	}
	bound := ua.AddrPort().Addr().Unmap()
	if !bound.IsUnspecified() {
		return append(out, netip.AddrPortFrom(bound, port))
	}
	if len(out) > 0 {
		return out
	}
	// No node_ip and every address bound: candidates name every
	// interface address.
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if in, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(in.IP); ok {
				out = append(out, netip.AddrPortFrom(ip.Unmap(), port))
			}
		}
	}
	return out
}

// TURN is the node's embedded TURN server, or nil when it is off.
func (n *Node) TURN() *turnserver.Server { return n.turn }
