// Package cluster coordinates the nodes of one deployment through shared
// state, so that any node can be a front door and a room can be served by
// more than one node.
//
// It declares small interfaces, each with two implementations: one held in
// this process (a single node, the default, no Redis) and one on Redis
// (go-redis UniversalClient: standalone, Sentinel or Redis Cluster). The
// node assembly picks one from the configuration, once; nothing else
// type-switches on the implementation, and one contract test suite runs
// against both.
//
//   - Registry: which nodes are alive, what they advertise and how loaded
//     they are. An entry lives for a TTL the node keeps renewing; a node
//     whose entry expired is dead to everyone.
//   - Directory: which node hosts each room (claimed atomically, so
//     concurrent joins on different nodes never place one room twice),
//     which nodes serve its participants, and who the participants are.
//     A room's keys share one Redis Cluster hash tag, so its scripts run
//     in one slot.
//   - Bus: ordered messages from one node to another.
//   - Chat (signaling.ChatLog; RedisChat on Redis): each room's capped
//     chat history, and its new messages carried to every node with
//     members in the room. The history is forgotten when the room is.
//
// State that nodes rely on is always kept in Redis data structures and
// can be rebuilt from them; messages on the Bus are for what happens next,
// never the only record of what is.
//
// Backend is what a node's signaling server joins clients through. A
// room is placed on the least loaded node with capacity (Place) and
// claimed there; a client whose WebSocket is on another node (the front
// door) is joined on the room's node, its session's calls and events
// relayed over the Bus. When the room's node is full, further clients
// are served by another node: the room spans both, and every pair of
// nodes serving a room keeps a media relay (sfu.Relay) whose messages
// travel over the Bus too. Each node renews its registry entry and its
// rooms every round (Config.Announce); a node missing from the registry
// for two rounds is gone, and the sessions that depended on it end, their
// clients told to rejoin.
//
// The package knows the signaling Backend seam, the media core's events
// and relay messages; it must not know WebSocket, the wire protocol or
// pion.
package cluster
