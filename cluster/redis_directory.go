package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Claim implements Directory. The node that holds the claim also serves
// the room for ttl, as if it had called Serve.
func (r *Redis) Claim(ctx context.Context, room, node string, ttl time.Duration) (string, error) {
	if err := checkRoomNode(room, node); err != nil {
		return "", err
	}
	if err := checkTTL(ttl); err != nil {
		return "", err
	}
	host, err := claimScript.Run(ctx, r.client, r.roomKeys(room), node, ttl.Milliseconds()).Text()
	return host, wrapErr("claim", err)
}

// Host implements Directory.
func (r *Redis) Host(ctx context.Context, room string) (string, error) {
	if err := checkName("room", room); err != nil {
		return "", err
	}
	host, err := r.client.Get(ctx, r.roomKey(room, "host")).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return host, wrapErr("host", err)
}

// Serve implements Directory.
func (r *Redis) Serve(ctx context.Context, room, node string, ttl time.Duration) error {
	if err := checkRoomNode(room, node); err != nil {
		return err
	}
	if err := checkTTL(ttl); err != nil {
		return err
	}
	return wrapErr("serve", serveScript.Run(ctx, r.client, r.roomKeys(room), node, ttl.Milliseconds()).Err())
}

// Leave implements Directory.
func (r *Redis) Leave(ctx context.Context, room, node string) (bool, error) {
	if err := checkRoomNode(room, node); err != nil {
		return false, err
	}
	n, err := leaveScript.Run(ctx, r.client, r.roomKeys(room), node).Int()
	return n == 1, wrapErr("leave", err)
}

// Release implements Directory.
func (r *Redis) Release(ctx context.Context, room, node string) error {
	if err := checkRoomNode(room, node); err != nil {
		return err
	}
	return wrapErr("release", releaseScript.Run(ctx, r.client, []string{r.roomKey(room, "host")}, node).Err())
}

// Servers implements Directory.
func (r *Redis) Servers(ctx context.Context, room string) ([]string, error) {
	if err := checkName("room", room); err != nil {
		return nil, err
	}
	nodes, err := serversScript.Run(ctx, r.client, []string{r.roomKey(room, "servers")}).StringSlice()
	return nodes, wrapErr("servers", err)
}

// PutMember implements Directory.
func (r *Redis) PutMember(ctx context.Context, room string, m Member) error {
	if err := checkMember(room, m); err != nil {
		return err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("cluster: member %q: %w", m.ID, err)
	}
	keys := []string{r.roomKey(room, "servers"), r.roomKey(room, "members")}
	return wrapErr("put member", putMemberScript.Run(ctx, r.client, keys, m.ID, b, orphanTTL.Milliseconds()).Err())
}

// RemoveMember implements Directory.
func (r *Redis) RemoveMember(ctx context.Context, room, id string) error {
	if err := checkName("room", room); err != nil {
		return err
	}
	if err := checkName("member id", id); err != nil {
		return err
	}
	return wrapErr("remove member", r.client.HDel(ctx, r.roomKey(room, "members"), id).Err())
}

// Members implements Directory.
func (r *Redis) Members(ctx context.Context, room string) ([]Member, error) {
	if err := checkName("room", room); err != nil {
		return nil, err
	}
	keys := []string{r.roomKey(room, "servers"), r.roomKey(room, "members")}
	res, err := membersScript.Run(ctx, r.client, keys).Slice()
	if err != nil {
		return nil, wrapErr("members", err)
	}
	if len(res) != 2 {
		return nil, fmt.Errorf("cluster: members: unexpected reply of %d parts", len(res))
	}
	live := map[string]bool{}
	for _, n := range asSlice(res[0]) {
		if s, ok := n.(string); ok {
			live[s] = true
		}
	}
	var out []Member
	for _, v := range asSlice(res[1]) {
		s, _ := v.(string)
		var m Member
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return nil, fmt.Errorf("cluster: members of %q: %w", room, err)
		}
		if live[m.Node] {
			out = append(out, m)
		}
	}
	return out, nil
}

// asSlice is v as a slice, nil when it is not one (an empty reply).
func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}
