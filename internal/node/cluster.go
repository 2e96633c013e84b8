package node

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sfu-project/sfu/cluster"
	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signaling"
)

// ClusterConfig is the node's part in a cluster. With no Redis URL the
// node is a cluster of one, its shared state held in memory.
type ClusterConfig struct {
	// Redis is the URL of the shared state: redis://[user:pass@]host:port/db,
	// rediss:// for TLS, redis://h1:p1,h2:p2,h3:p3 for a Redis Cluster,
	// redis+sentinel://[:pass@]h1:p1,h2:p2/master[/db] for Sentinel.
	Redis string `yaml:"redis"`
	// Prefix starts every Redis key, so deployments can share one Redis.
	Prefix string `yaml:"prefix"`
	// NodeID names this node; empty picks a random one at start.
	NodeID string `yaml:"node_id"`
	// MaxParticipants, MaxTracks and MaxCPU (a fraction of the machine,
	// 0..1) are the node's capacity for placing rooms; zero is no limit.
	MaxParticipants int     `yaml:"max_participants"`
	MaxTracks       int     `yaml:"max_tracks"`
	MaxCPU          float64 `yaml:"max_cpu"`
	// Announce is how often the node renews its entry and its rooms.
	Announce time.Duration `yaml:"announce_interval"`
	// NodeTTL is how long after its last renewal a stopped node is dead
	// to the others.
	NodeTTL time.Duration `yaml:"node_ttl"`
	// CallTimeout bounds a call to another node or to Redis.
	CallTimeout time.Duration `yaml:"call_timeout"`
}

func defaultClusterConfig() ClusterConfig {
	c := cluster.DefaultConfig()
	return ClusterConfig{Prefix: "sfu", Announce: c.Announce, NodeTTL: c.TTL, CallTimeout: c.CallTimeout}
}

func (c ClusterConfig) validate() error {
	switch {
	case c.MaxParticipants < 0 || c.MaxTracks < 0:
		return fmt.Errorf("cluster: max_participants and max_tracks must not be negative")
	case c.MaxCPU < 0 || c.MaxCPU > 1:
		return fmt.Errorf("cluster: max_cpu %v is not a fraction of the machine (0..1)", c.MaxCPU)
	case c.Announce <= 0 || c.NodeTTL < 2*c.Announce:
		return fmt.Errorf("cluster: node_ttl (%s) must be at least twice announce_interval (%s)", c.NodeTTL, c.Announce)
	case c.CallTimeout <= 0:
		return fmt.Errorf("cluster: call_timeout must be positive")
	}
	return nil
}

// WithStore makes the node use store as its shared state instead of the
// one its configuration names: tests run several nodes in one process on
// one cluster.Memory, or on a Redis they started.
func WithStore(store cluster.Store) Option {
	return func(o *options) { o.store = &store }
}

// openStore returns the node's shared state and what to close with it.
func openStore(cfg ClusterConfig, given *cluster.Store) (cluster.Store, redis.UniversalClient, error) {
	if given != nil {
		return *given, nil, nil
	}
	if cfg.Redis == "" {
		m := cluster.NewMemory(time.Now)
		return cluster.Store{Registry: m, Directory: m, Bus: m, Chat: signaling.NewMemoryChat()}, nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.CallTimeout)
	defer cancel()
	client, err := cluster.Open(ctx, cfg.Redis)
	if err != nil {
		return cluster.Store{}, nil, err
	}
	r, err := cluster.NewRedis(client, cluster.WithPrefix(cfg.Prefix))
	if err != nil {
		_ = client.Close()
		return cluster.Store{}, nil, err
	}
	chat, err := cluster.NewRedisChat(client, cluster.WithPrefix(cfg.Prefix))
	if err != nil {
		_ = client.Close()
		return cluster.Store{}, nil, err
	}
	return cluster.Store{Registry: r, Directory: r, Bus: r, Chat: chat}, client, nil
}

// newBackend builds the node's cluster backend around media.
func (n *Node) newBackend(cfg ClusterConfig, media *sfu.SFU, store cluster.Store) *cluster.Backend {
	meter := newLoadMeter(media, time.Now)
	return cluster.NewBackend(cluster.Config{
		NodeID:      cfg.NodeID,
		MediaAddrs:  []string{advertisedMedia(n.cfg.SFU, media)},
		Limits:      cluster.Limits{Participants: cfg.MaxParticipants, Tracks: cfg.MaxTracks, CPU: cfg.MaxCPU},
		Announce:    cfg.Announce,
		TTL:         cfg.NodeTTL,
		CallTimeout: cfg.CallTimeout,
	}, media, store, meter.sample, n.log)
}

// advertisedMedia is the media address clients are given.
func advertisedMedia(cfg sfu.Config, media *sfu.SFU) string {
	addr := media.MediaAddr().(*net.UDPAddr)
	if cfg.NodeIP != "" {
		return net.JoinHostPort(cfg.NodeIP, fmt.Sprint(addr.Port))
	}
	return addr.String()
}

var _ signaling.Backend = (*cluster.Backend)(nil)
