package sfu

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"
)

// Config is the media core's part of the server configuration.
type Config struct {
	// UDPPort is the single UDP port all ICE traffic is multiplexed on.
	// Zero picks a free port (tests).
	UDPPort int `yaml:"udp_port"`
	// NodeIP is the address advertised in ICE candidates. Empty advertises
	// every local interface address. A loopback address offers only
	// loopback candidates.
	NodeIP string `yaml:"node_ip"`
	// MediaBind is the IPv4 address the media socket is bound to. Empty
	// binds it to NodeIP when that is an address of this host, so that
	// media leaves from the advertised address whichever interface the
	// route to a client takes (a node with a public and a private
	// interface), and to every address (0.0.0.0) otherwise: no NodeIP, or
	// one a 1:1 NAT maps to this host's private address. Set it to that
	// private address on a NATed host with several interfaces, or to
	// 0.0.0.0 to bind every address whatever NodeIP is.
	MediaBind string `yaml:"media_bind"`
	// RemoteNetworks, when not empty, are the only CIDR blocks remote ICE
	// candidates may name (for example 127.0.0.0/8 in tests), private and
	// loopback ones included. When empty, candidates may name public
	// addresses, and private, loopback or link-local ones only if the
	// server advertises such an address itself (NodeIP, or its interfaces
	// when NodeIP is empty) or AllowPrivateCandidates is set. Multicast,
	// broadcast, unspecified addresses and this node's own ports are
	// refused either way; the relayed addresses of the node's own TURN
	// server (Options.Relays) are accepted either way.
	RemoteNetworks []string `yaml:"remote_networks"`
	// AllowPrivateCandidates, when RemoteNetworks is empty, accepts remote
	// candidates on private addresses (10/8, 172.16/12, 192.168/16,
	// 100.64/10, fc00::/7) even when the server advertises a public one:
	// for clients that reach it from inside the same private network.
	AllowPrivateCandidates bool `yaml:"allow_private_candidates"`
	// MaxRemoteCandidates bounds the distinct remote ICE candidates (transport
	// addresses) each connection uses, those in descriptions and trickled
	// ones together: a client names the addresses the server sends
	// connectivity checks to.
	MaxRemoteCandidates int `yaml:"max_remote_candidates"`
	// KeyframeInterval is the minimum time between two keyframe requests
	// sent to a publisher for one track.
	KeyframeInterval time.Duration `yaml:"keyframe_interval"`
	// VideoCacheSize and AudioCacheSize are the packet cache sizes, in
	// packets, kept per published track to answer NACKs.
	VideoCacheSize int `yaml:"video_cache_size"`
	AudioCacheSize int `yaml:"audio_cache_size"`
	// DisconnectTimeout is how long ICE may stay disconnected before a
	// PeerConnection is considered failed.
	DisconnectTimeout time.Duration `yaml:"disconnect_timeout"`
	// RelayPortMin and RelayPortMax bound the UDP ports of the
	// connections on which this node receives the tracks of another node
	// that serves the same room (one port each); zero for both lets the
	// system choose. The other nodes must reach them, as they reach
	// UDPPort.
	RelayPortMin int `yaml:"relay_port_min"`
	RelayPortMax int `yaml:"relay_port_max"`
	// P2P: rooms of two go peer to peer.
	P2P P2PConfig `yaml:"p2p"`
	// Data bounds application data on data channels (datalimits.go).
	Data DataConfig `yaml:"data"`
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		UDPPort:           7882,
		KeyframeInterval:  500 * time.Millisecond,
		VideoCacheSize:    1024,
		AudioCacheSize:    128,
		DisconnectTimeout: 5 * time.Second,
		// A browser offers one host candidate per interface, one server
		// reflexive per STUN server and a few relayed per TURN server:
		// typically 2 to 10 over UDP and IPv4, the only ones counted.
		MaxRemoteCandidates: 32,
		P2P:                 P2PConfig{Enabled: true, Delay: 10 * time.Second, Timeout: 5 * time.Second},
		Data:                defaultDataConfig(),
	}
}

// Validate reports the first problem with the configuration.
func (c Config) Validate() error {
	if c.UDPPort < 0 || c.UDPPort > 65535 {
		return fmt.Errorf("sfu: udp port %d out of range", c.UDPPort)
	}
	if c.NodeIP != "" && net.ParseIP(c.NodeIP) == nil {
		return fmt.Errorf("sfu: node ip %q is not an IP address", c.NodeIP)
	}
	if ip := net.ParseIP(c.MediaBind); c.MediaBind != "" && (ip == nil || ip.To4() == nil) {
		return fmt.Errorf("sfu: media bind %q is not an IPv4 address", c.MediaBind)
	}
	if _, err := c.remotePrefixes(); err != nil {
		return err
	}
	if c.RelayPortMin != 0 || c.RelayPortMax != 0 {
		if c.RelayPortMin < 1 || c.RelayPortMax > 65535 || c.RelayPortMin > c.RelayPortMax {
			return fmt.Errorf("sfu: relay ports %d-%d: want 1 <= min <= max <= 65535, or both 0", c.RelayPortMin, c.RelayPortMax)
		}
	}
	if c.MaxRemoteCandidates <= 0 {
		return fmt.Errorf("sfu: max remote candidates must be positive")
	}
	if c.KeyframeInterval <= 0 || c.VideoCacheSize <= 0 || c.AudioCacheSize <= 0 || c.DisconnectTimeout <= 0 {
		return fmt.Errorf("sfu: keyframe interval, cache sizes and disconnect timeout must be positive")
	}
	return c.Data.validate()
}

func (c Config) remotePrefixes() ([]netip.Prefix, error) {
	nets := make([]netip.Prefix, 0, len(c.RemoteNetworks))
	for _, s := range c.RemoteNetworks {
		n, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("sfu: remote network %q: %w", s, err)
		}
		nets = append(nets, n.Masked())
	}
	return nets, nil
}

// mediaBindIP is the address the media socket binds to on a host with the
// local addresses given (see MediaBind); nil binds every address.
func (c Config) mediaBindIP(local []netip.Addr) net.IP {
	if c.MediaBind != "" {
		ip := net.ParseIP(c.MediaBind).To4()
		if ip.IsUnspecified() {
			return nil
		}
		return ip
	}
	node, err := netip.ParseAddr(c.NodeIP)
	if err != nil || !node.Unmap().Is4() {
		return nil
	}
	node = node.Unmap()
	// Any loopback address is this host's, listed on lo or not.
	if node.IsLoopback() || slices.Contains(local, node) {
		return net.IP(node.AsSlice())
	}
	return nil
}
