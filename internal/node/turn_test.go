package node_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
	"github.com/sfu-project/sfu/internal/testcert"
	"github.com/sfu-project/sfu/internal/turnserver"
	"github.com/sfu-project/sfu/loadtest"
)

// turnNode starts a node with the embedded TURN server on, on ports the
// system picks.
func turnNode(t *testing.T) *node.Node {
	return nodetest.Start(t, func(c *node.Config) {
		c.TURN.Enabled = true
		c.TURN.UDPPort, c.TURN.TCPPort, c.TURN.TLSPort = 0, 0, 0
		c.TURN.RelayPortMin, c.TURN.RelayPortMax = 0, 0
		c.TURN.Secret = "the-cluster-turn-secret"
		c.Signaling.ICEServers = []string{"stun:stun.example.com:3478"}
	})
}

// TestJoinedICEServers: the joined message carries the configured
// ice_servers, then the embedded server's STUN URL and TURN URLs with a
// credential of the participant's own, in the TURN REST form, valid for
// credential_ttl.
func TestJoinedICEServers(t *testing.T) {
	n := turnNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var creds []turnserver.Credential
	for _, who := range []string{"ann", "bob"} {
		c, err := loadtest.Dial(ctx, loadtest.Options{URL: wsURL(n), Token: devToken(t, n, "ice", who), LoopbackOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var joined struct {
			ICEServers []struct {
				URLs       []string `json:"urls"`
				Username   *string  `json:"username"`
				Credential *string  `json:"credential"`
			} `json:"iceServers"`
		}
		if err := json.Unmarshal(c.Joined.Raw, &joined); err != nil {
			t.Fatal(err)
		}
		ice := joined.ICEServers
		if len(ice) != 3 {
			t.Fatalf("%s: %d ICE servers, want 3: %s", who, len(ice), c.Joined.Raw)
		}
		host := "127.0.0.1"
		udp, tcp, tls := n.TURN().UDPAddr().String(), n.TURN().TCPAddr().String(), n.TURN().TLSAddr()
		if tls != nil {
			t.Errorf("a TLS listener without a certificate: %s", tls)
		}
		want := [][]string{
			{"stun:stun.example.com:3478"},
			{"stun:" + udp},
			{"turn:" + udp + "?transport=udp", "turn:" + tcp + "?transport=tcp"},
		}
		for i := range want {
			if strings.Join(ice[i].URLs, " ") != strings.Join(want[i], " ") {
				t.Errorf("%s: server %d has URLs %v, want %v", who, i, ice[i].URLs, want[i])
			}
		}
		if ice[0].Username != nil || ice[1].Username != nil || ice[1].Credential != nil {
			t.Errorf("%s: STUN servers with credentials: %s", who, c.Joined.Raw)
		}
		if ice[2].Username == nil || ice[2].Credential == nil {
			t.Fatalf("%s: TURN without credentials: %s", who, c.Joined.Raw)
		}
		exp, id, err := turnserver.ParseUsername(*ice[2].Username)
		if err != nil || id != who || exp.Before(time.Now().Add(node.Default().TURN.CredentialTTL-time.Minute)) {
			t.Errorf("%s: username %q: expiry %v, identity %q (%v)", who, *ice[2].Username, exp, id, err)
		}
		if !strings.HasPrefix(ice[2].URLs[0], "turn:"+host) {
			t.Errorf("%s: TURN URL %s", who, ice[2].URLs[0])
		}
		creds = append(creds, turnserver.Credential{Username: *ice[2].Username, Password: *ice[2].Credential})
	}
	if creds[0].Password == creds[1].Password {
		t.Error("two participants got the same credential")
	}
}

// TestTURNRelayOverTCP: two clients that may use relayed candidates only,
// and reach TURN over TCP only, join with the credentials of their joined
// message; one publishes, the other receives its audio and video, and
// the connections of both run over relayed candidate pairs whose relay
// the client reaches over TCP (pion's stats).
func TestTURNRelayOverTCP(t *testing.T) {
	n := turnNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dial := func(who string) *loadtest.Client {
		c, err := loadtest.Dial(ctx, loadtest.Options{URL: wsURL(n), Token: devToken(t, n, "relayed", who), LoopbackOnly: true,
			ICE: loadtest.ICEOptions{FromJoined: true, Policy: webrtc.ICETransportPolicyRelay,
				KeepURL: func(u string) bool { return strings.HasPrefix(u, "turn:") && strings.HasSuffix(u, "?transport=tcp") }}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	ann, bob := dial("ann"), dial("bob")
	if err := ann.Publish(loadtest.DefaultMedia); err != nil {
		t.Fatal(err)
	}
	if c := settle(time.Now().Add(30*time.Second), func() string {
		var video, audio loadtest.TrackCounts
		for _, tc := range bob.Received() {
			if tc.ParticipantID == ann.Self.ID && tc.Kind == "video" {
				video = tc
			}
			if tc.ParticipantID == ann.Self.ID && tc.Kind == "audio" {
				audio = tc
			}
		}
		if video.Keyframes == 0 || video.Frames < 30 || audio.Packets < 10 {
			return fmt.Sprintf("bob received %d frames (%d keyframes) and %d audio packets from ann", video.Frames, video.Keyframes, audio.Packets)
		}
		return ""
	}); c != "" {
		t.Fatal(c)
	}
	for name, pc := range map[string]*webrtc.PeerConnection{"ann's publisher": ann.Publisher(), "bob's subscriber": bob.Subscriber()} {
		local, remote, err := selectedPair(pc)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if local.CandidateType != webrtc.ICECandidateTypeRelay || local.RelayProtocol != "tcp" {
			t.Errorf("%s: local candidate %s %s:%d over %q, want a relayed one reached over TCP",
				name, local.CandidateType, local.IP, local.Port, local.RelayProtocol)
		}
		if media := n.MediaAddr().(*net.UDPAddr); remote.Port != int32(media.Port) || remote.IP != media.IP.String() {
			t.Errorf("%s: remote candidate %s:%d, want the node's media address %s", name, remote.IP, remote.Port, media)
		}
	}
	if a := n.TURN().Allocations(); a < 2 {
		t.Errorf("the TURN server holds %d allocations, want one per connection in use", a)
	}
}

// selectedPair is pc's selected candidate pair, from its stats.
func selectedPair(pc *webrtc.PeerConnection) (local, remote webrtc.ICECandidateStats, err error) {
	pair, ok := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePairStats()
	if !ok {
		return local, remote, fmt.Errorf("no selected candidate pair")
	}
	stats := pc.GetStats()
	local, lok := stats[pair.LocalCandidateID].(webrtc.ICECandidateStats)
	remote, rok := stats[pair.RemoteCandidateID].(webrtc.ICECandidateStats)
	if !lok || !rok {
		return local, remote, fmt.Errorf("the selected pair's candidates are not in the stats")
	}
	return local, remote, nil
}

// TestTURNOverTLSWithNodeCertificate: a node serving HTTPS runs TURN over
// TLS with its own certificate, lists the turns: URL, and a TURN client
// that trusts only that certificate allocates with the credential of the
// joined message.
func TestTURNOverTLSWithNodeCertificate(t *testing.T) {
	certFile, keyFile := testcert.Write(t, t.TempDir())
	n := nodetest.Start(t, func(c *node.Config) {
		c.TLSCert, c.TLSKey = certFile, keyFile
		c.TURN.Enabled = true
		c.TURN.UDPPort, c.TURN.TCPPort, c.TURN.TLSPort = 0, 0, 0
		c.TURN.RelayPortMin, c.TURN.RelayPortMax = 0, 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Joined over wss://, with a plain WebSocket client: only the joined
	// message is needed.
	dialer := websocket.Dialer{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // the signaling connection is not under test
	ws, _, err := dialer.DialContext(ctx, "wss://"+n.Addr().String()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteJSON(map[string]any{"type": "join", "version": 2, "token": devToken(t, n, "tls", "ann")}); err != nil {
		t.Fatal(err)
	}
	var joined loadtest.Message
	for joined.Type != "joined" {
		joined = loadtest.Message{}
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		if err := ws.ReadJSON(&joined); err != nil || joined.Type == "error" {
			t.Fatalf("join: %v %+v", err, joined)
		}
	}
	var server *webrtc.ICEServer
	for i, s := range joined.ICEServers {
		if slices.Contains(s.URLs, "turns:"+n.TURN().TLSAddr().String()+"?transport=tcp") {
			server = &joined.ICEServers[i]
		}
	}
	if server == nil {
		t.Fatalf("no turns: URL for %s in %+v", n.TURN().TLSAddr(), joined.ICEServers)
	}
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	conn, err := tls.Dial("tcp4", n.TURN().TLSAddr().String(), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("TLS to the TURN server with the node's certificate: %v", err)
	}
	defer conn.Close()
	client, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: conn.RemoteAddr().String(), TURNServerAddr: conn.RemoteAddr().String(),
		Conn: turn.NewSTUNConn(conn), Username: server.Username, Password: server.Credential.(string), Realm: "sfu"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := client.Allocate()
	if err != nil {
		t.Fatalf("allocate over TLS with the joined credential: %v", err)
	}
	relay.Close()
}

// TestTURNConfigYAML: every turn key decodes; an unknown one is refused.
func TestTURNConfigYAML(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/sfu.yaml"
	yaml := `sfu:
  node_ip: 203.0.113.5
turn:
  enabled: true
  listen_ip: 10.0.0.5
  public_ip: 203.0.113.6
  host: turn.example.com
  udp_port: 3479
  tcp_port: 3480
  tls_port: 443
  tls_cert: c.pem
  tls_key: k.pem
  relay_port_min: 40000
  relay_port_max: 40100
  realm: example
  secret: a-secret-of-the-cluster
  credential_ttl: 2h
  allowed_peers: [10.0.0.0/8, "192.168.1.5:7882"]
  max_allocations_per_user: 5
  max_user_bitrate: 1000000
  max_connections: 10
  max_connections_per_address: 2
  handshake_timeout: 3s
  idle_timeout: 1m
  external:
    - urls: ["turn:coturn.example.com:3478"]
      secret: another-secret-for-coturn
    - urls: ["turns:other.example.com:443?transport=tcp"]
      username: u
      credential: p
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := node.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	got := cfg.TURN
	want := turnserver.Config{Enabled: true, ListenIP: "10.0.0.5", PublicIP: "203.0.113.6", Host: "turn.example.com",
		UDPPort: 3479, TCPPort: 3480, TLSPort: 443, TLSCert: "c.pem", TLSKey: "k.pem", RelayPortMin: 40000, RelayPortMax: 40100,
		Realm: "example", Secret: "a-secret-of-the-cluster", CredentialTTL: 2 * time.Hour,
		AllowedPeers: []string{"10.0.0.0/8", "192.168.1.5:7882"}, MaxAllocationsPerUser: 5, MaxUserBitrate: 1_000_000,
		MaxConnections: 10, MaxConnectionsPerAddress: 2, HandshakeTimeout: 3 * time.Second, IdleTimeout: time.Minute,
		External: []turnserver.ExternalServer{{URLs: []string{"turn:coturn.example.com:3478"}, Secret: "another-secret-for-coturn"},
			{URLs: []string{"turns:other.example.com:443?transport=tcp"}, Username: "u", Credential: "p"}}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, want)
	}
	if err := os.WriteFile(path, []byte("turn:\n  enable: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := node.LoadConfig(path); err == nil {
		t.Error("unknown turn key accepted")
	}
}
