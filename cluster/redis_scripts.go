package cluster

import "github.com/redis/go-redis/v9"

// The Lua scripts of the Redis Directory. Each takes the keys of one room
// (one hash slot) and reads the time from the server, so that every expiry
// score comes from one clock. A serving node is live while its score (its
// expiry in ms) is above the server's time.

// luaPrologue defines now (ms, server time) and touch, which makes the
// servers and members keys expire with the latest serving node.
const luaPrologue = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function touch(servers, members)
  local top = redis.call('ZREVRANGE', servers, 0, 0, 'WITHSCORES')
  if top[2] then
    redis.call('PEXPIREAT', servers, top[2])
    redis.call('PEXPIREAT', members, top[2])
  end
end
`

// claimScript: KEYS host, servers, members; ARGV node, ttl (ms). Returns
// the host. The node holding the claim also serves the room.
var claimScript = redis.NewScript(luaPrologue + `
local host = redis.call('GET', KEYS[1])
if host and host ~= ARGV[1] then return host end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
touch(KEYS[2], KEYS[3])
return ARGV[1]
`)

// serveScript: KEYS host, servers, members; ARGV node, ttl (ms). Renews
// the claim when node holds it.
var serveScript = redis.NewScript(luaPrologue + `
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
touch(KEYS[2], KEYS[3])
return 1
`)

// leaveScript: KEYS host, servers, members; ARGV node. Removes node and
// the lapsed servers; then the whole room if no live server is left
// (returns 1), else the members of nodes no longer serving (returns 0).
var leaveScript = redis.NewScript(luaPrologue + `
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local live = redis.call('ZRANGE', KEYS[2], 0, -1)
if #live == 0 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  return 1
end
local serving = {}
for _, n in ipairs(live) do serving[n] = true end
local all = redis.call('HGETALL', KEYS[3])
for i = 1, #all, 2 do
  local ok, m = pcall(cjson.decode, all[i + 1])
  if not ok or type(m) ~= 'table' or not serving[m.node] then
    redis.call('HDEL', KEYS[3], all[i])
  end
end
return 0
`)

// releaseScript: KEYS host; ARGV node. Deletes the claim if node holds
// it (compared and deleted in one step, so that a claim another node
// made meanwhile stays). Returns 1 if it did.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`)

// serversScript: KEYS servers. Returns the live servers.
var serversScript = redis.NewScript(luaPrologue + `
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
`)

// membersScript: KEYS servers, members. Returns the live servers and
// every member; the caller keeps the members of live servers.
var membersScript = redis.NewScript(luaPrologue + `
return {redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf'), redis.call('HVALS', KEYS[2])}
`)

// putMemberScript: KEYS servers, members; ARGV id, member (JSON), orphan
// TTL (ms). The members key expires with the latest live server, or after
// the orphan TTL when no node serves the room yet.
var putMemberScript = redis.NewScript(luaPrologue + `
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local top = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if top[2] and tonumber(top[2]) > now then
  redis.call('PEXPIREAT', KEYS[2], top[2])
else
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return 1
`)

// pruneScript: KEYS index, then node keys; ARGV the nodes' IDs. Removes
// from the index each node whose key is gone (checked here, atomically,
// so that a node announcing itself meanwhile stays listed).
var pruneScript = redis.NewScript(`
for i, id in ipairs(ARGV) do
  if redis.call('EXISTS', KEYS[i + 1]) == 0 then
    redis.call('SREM', KEYS[1], id)
  end
end
return 1
`)
