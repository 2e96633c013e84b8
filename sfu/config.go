package sfu

import (
	"fmt"
	"net"
	"time"
)

// Config is the media core's part of the server configuration.
type Config struct {
	// UDPPort is the single UDP port all ICE traffic is multiplexed on.
	// Zero picks a free port (tests).
	UDPPort int `yaml:"udp_port"`
	// NodeIP is the address advertised in ICE candidates. Empty advertises
	// every local interface address. A loopback address binds the media
	// socket to it and offers only loopback candidates.
	NodeIP string `yaml:"node_ip"`
	// RemoteNetworks, when not empty, restricts the remote ICE candidates
	// used to these CIDR blocks (for example 127.0.0.0/8 in tests).
	RemoteNetworks []string `yaml:"remote_networks"`
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
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		UDPPort:           7882,
		KeyframeInterval:  500 * time.Millisecond,
		VideoCacheSize:    1024,
		AudioCacheSize:    128,
		DisconnectTimeout: 5 * time.Second,
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
	if _, err := c.remoteNets(); err != nil {
		return err
	}
	if c.KeyframeInterval <= 0 || c.VideoCacheSize <= 0 || c.AudioCacheSize <= 0 || c.DisconnectTimeout <= 0 {
		return fmt.Errorf("sfu: keyframe interval, cache sizes and disconnect timeout must be positive")
	}
	return nil
}

func (c Config) remoteNets() ([]*net.IPNet, error) {
	nets := make([]*net.IPNet, 0, len(c.RemoteNetworks))
	for _, s := range c.RemoteNetworks {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("sfu: remote network %q: %w", s, err)
		}
		nets = append(nets, n)
	}
	return nets, nil
}
