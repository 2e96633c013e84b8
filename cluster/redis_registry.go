package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Announce implements Registry: the node's key with its TTL and its entry
// in the index, in one round trip.
func (r *Redis) Announce(ctx context.Context, info NodeInfo, ttl time.Duration) error {
	if err := checkName("node", info.ID); err != nil {
		return err
	}
	if err := checkTTL(ttl); err != nil {
		return err
	}
	b, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("cluster: node %q: %w", info.ID, err)
	}
	_, err = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, r.nodeKey(info.ID), b, ttl)
		p.SAdd(ctx, r.nodeIndex(), info.ID)
		return nil
	})
	return wrapErr("announce", err)
}

// Withdraw implements Registry.
func (r *Redis) Withdraw(ctx context.Context, id string) error {
	if err := checkName("node", id); err != nil {
		return err
	}
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, r.nodeKey(id))
		p.SRem(ctx, r.nodeIndex(), id)
		return nil
	})
	return wrapErr("withdraw", err)
}

// Nodes implements Registry. The index entries of nodes whose key expired
// are removed on the way.
func (r *Redis) Nodes(ctx context.Context) ([]NodeInfo, error) {
	ids, err := r.client.SMembers(ctx, r.nodeIndex()).Result()
	if err != nil || len(ids) == 0 {
		return nil, wrapErr("nodes", err)
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = r.nodeKey(id)
	}
	vals, err := r.client.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, wrapErr("nodes", err)
	}
	var out []NodeInfo
	gone := []string{r.nodeIndex()}
	var goneIDs []any
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			gone = append(gone, keys[i])
			goneIDs = append(goneIDs, ids[i])
			continue
		}
		var info NodeInfo
		if err := json.Unmarshal([]byte(s), &info); err != nil {
			return nil, fmt.Errorf("cluster: node %q: %w", ids[i], err)
		}
		out = append(out, info)
	}
	if len(goneIDs) > 0 {
		if err := pruneScript.Run(ctx, r.client, gone, goneIDs...).Err(); err != nil {
			return nil, wrapErr("nodes", err)
		}
	}
	return out, nil
}
