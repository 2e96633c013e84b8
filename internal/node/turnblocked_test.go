package node_test

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
	"github.com/sfu-project/sfu/internal/testcert"
	"github.com/sfu-project/sfu/loadtest"
)

// A client on a network that lets no UDP through at all still joins a
// group room: the node's embedded TURN server, reached over TCP or TLS,
// relays its media to and from the SFU's UDP media port on the same host.
//
// TestTURNBlockedUDPClient runs a node on the host side of a lab
// (loadtest.Lab), with TURN on UDP, TCP and TLS; a client inside the
// lab's namespace, whose nftables drop every UDP datagram in and out but
// loopback's (TestTURNBlockedClientProcess, the test binary re-executed
// there); and two ordinary clients in this process, on loopback. All
// three publish and subscribe, so the room runs through the SFU. The
// node's remote_networks name where the clients are, not the node's own
// address, from which the relayed client reaches the SFU: the SFU
// accepts its own TURN server's relayed addresses whatever they say.
//
// pion/ice dials a turns: URL with crypto/tls and a tls.Config of only
// ServerName (the URL's host) and InsecureSkipVerify, which pion/webrtc
// does not expose (v4.2.26: no SettingEngine option sets it, nor a root
// pool): the certificate is checked against the system's roots, as a
// real client's is. The blocked client is a process of its own, so it is
// given the test certificate as its system roots (SSL_CERT_FILE, which Go
// reads on Linux): the TLS handshake really verifies the server's
// certificate for the address in the URL.

// turnBlockedRoom is the room of TestTURNBlockedUDPClient.
const turnBlockedRoom = "turnblocked"

// blockUDP makes the lab's namespace drop every UDP datagram entering or
// leaving it, loopback's excepted, in a table of its own (the Lab's
// SetLoss uses another).
func blockUDP(t *testing.T, lab *loadtest.Lab) {
	t.Helper()
	script := `table inet turnblocked {
	chain input {
		type filter hook input priority filter; policy accept;
		iif "lo" accept
		meta l4proto udp drop
	}
	chain output {
		type filter hook output priority filter; policy accept;
		oif "lo" accept
		meta l4proto udp drop
	}
}
`
	if err := loadtest.RunToolIn(lab.Name, script, "nft", "-f", "-"); err != nil {
		t.Fatal(err)
	}
}

// TestTURNBlockedUDPClient: with only turn:?transport=tcp (tcp) or only
// turns: (tls) kept of its joined message's ICE servers, the client
// whose UDP is blocked exchanges audio and video with the two others
// through the SFU; both its connections select a relayed candidate its
// TURN server is reached at over that transport, and the SFU's media
// address as the remote one; its UDP probe never arrives; the TURN
// server holds its allocations, over connections from the lab to the
// port of that transport only.
func TestTURNBlockedUDPClient(t *testing.T) {
	for _, over := range []string{"tcp", "tls"} {
		t.Run(over, func(t *testing.T) { testTURNBlocked(t, over) })
	}
}

func testTURNBlocked(t *testing.T, over string) {
	lab := loadtest.NewTestLab(t)
	blockUDP(t, lab)
	certFile, keyFile := testcert.WriteFor(t, t.TempDir(), lab.HostIP)
	n := nodetest.Start(t, func(c *node.Config) {
		c.Listen = net.JoinHostPort(lab.HostIP.String(), "0")
		c.SFU.NodeIP = lab.HostIP.String()
		// Where the clients are, as an operator lists them: loopback (ann
		// and bob) and the lab's side (carol), not the node's own address,
		// which carol's relayed candidates name.
		c.SFU.RemoteNetworks = []string{"127.0.0.0/8", lab.NSIP.String() + "/32"}
		c.TURN.Enabled = true
		c.TURN.UDPPort, c.TURN.TCPPort, c.TURN.TLSPort = 0, 0, 0
		c.TURN.RelayPortMin, c.TURN.RelayPortMax = 0, 0
		c.TURN.TLSCert, c.TURN.TLSKey = certFile, keyFile
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The probe's target: a UDP socket on the host side of the lab.
	probe, err := net.ListenUDP("udp4", &net.UDPAddr{IP: lab.HostIP})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()

	others := make([]*loadtest.Client, 2)
	for i, who := range []string{"ann", "bob"} {
		c, err := loadtest.Dial(ctx, loadtest.Options{URL: wsURL(n), Token: devToken(t, n, turnBlockedRoom, who),
			LoopbackOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		if err := c.Publish(loadtest.DefaultMedia); err != nil {
			t.Fatal(err)
		}
		others[i] = c
	}

	env := []string{
		tbURLEnv + "=" + wsURL(n),
		tbTokenEnv + "=" + devToken(t, n, turnBlockedRoom, "carol"),
		tbIPEnv + "=" + lab.NSIP.String(),
		tbOverEnv + "=" + over,
		tbProbeEnv + "=" + probe.LocalAddr().String(),
		// The roots crypto/tls checks the turns: server's certificate
		// against, in the client process (see the comment at the top).
		"SSL_CERT_FILE=" + certFile,
		"SSL_CERT_DIR=" + t.TempDir(),
	}
	child, err := lab.StartSelf(env, "-test.run=^TestTURNBlockedClientProcess$")
	if err != nil {
		t.Fatal(err)
	}
	var rep turnBlockedReport
	t.Cleanup(func() {
		if err := child.Stop(); err != nil {
			t.Errorf("blocked client: %v\n%s", err, strings.TrimSpace(child.Stderr()))
		}
	})

	// Everyone receives everyone's audio and video.
	flowing := func(from string, tracks map[string]loadtest.TrackCounts) string {
		video, audio := mediaFrom(from, tracks)
		if video.Keyframes == 0 || video.Frames < 30 || audio.Packets < 10 {
			return fmt.Sprintf("%d frames (%d keyframes) and %d audio packets", video.Frames, video.Keyframes, audio.Packets)
		}
		return ""
	}
	if c := settle(time.Now().Add(20*time.Second), func() string {
		select {
		case <-child.Exited():
			return "the blocked client exited: " + child.Stderr()
		default:
		}
		if ok, err := child.Latest(&rep); !ok || err != nil {
			return fmt.Sprintf("no report from the blocked client (%v)", err)
		}
		var missing []string
		for i, o := range others {
			if c := flowing(o.Self.ID, rep.Tracks); c != "" {
				missing = append(missing, fmt.Sprintf("carol received %s from %s", c, []string{"ann", "bob"}[i]))
			}
			if c := flowing(rep.SelfID, o.Received()); c != "" {
				missing = append(missing, fmt.Sprintf("%s received %s from carol", []string{"ann", "bob"}[i], c))
			}
		}
		return strings.Join(missing, "; ")
	}); c != "" {
		t.Fatalf("%s (carol's publisher: %s; subscriber: %s)", c, rep.Publisher, rep.Subscriber)
	}
	firstIn, firstOut := firstMedia(rep, others)
	t.Logf("TURN over %s: joined %v after the start, first media %v (received) and %v (sent) after the start",
		over, rep.Joined.Sub(rep.Start).Round(time.Millisecond), firstIn.Sub(rep.Start).Round(time.Millisecond),
		firstOut.Sub(rep.Start).Round(time.Millisecond))

	media := n.MediaAddr().String()
	for name, p := range map[string]pairReport{"publisher": rep.Publisher, "subscriber": rep.Subscriber} {
		if p.LocalType != "relay" || p.RelayProtocol != over || p.Remote != media {
			t.Errorf("carol's %s: %s; want a relayed candidate reached over %s, to the SFU's %s", name, p, over, media)
		}
	}

	// Five seconds of media, each way.
	before := windowCounts(t, child, rep.SelfID, others)
	time.Sleep(5 * time.Second)
	after := windowCounts(t, child, rep.SelfID, others)
	for _, key := range slices.Sorted(maps.Keys(before)) {
		b, a := before[key], after[key]
		packets, lost := a.Unique-b.Unique, a.Missing-b.Missing
		if strings.HasSuffix(key, "audio") {
			t.Logf("%s over 5 s: %d packets, %d missing", key, packets, lost)
		} else {
			t.Logf("%s over 5 s: %d frames, %d packets, %d missing (%d unrepaired); longest freeze since the start %v",
				key, a.Frames-b.Frames, packets, lost, a.Unrepaired-b.Unrepaired, a.LongestGap.Round(time.Millisecond))
		}
		if packets == 0 || a.Frames == b.Frames {
			t.Errorf("%s: nothing arrived over 5 s", key)
		}
	}

	// The server's side: the blocked client's allocations (one per
	// connection), held over connections from the lab to the port of the
	// transport in use, and none to the other.
	allocations, conns := turnGauges(t, n)
	if allocations < 2 || conns < 2 {
		t.Errorf("the TURN server holds %v allocations over %v TCP/TLS connections, want at least 2 of each", allocations, conns)
	}
	tcpPort, tlsPort := n.TURN().TCPAddr().(*net.TCPAddr).Port, n.TURN().TLSAddr().(*net.TCPAddr).Port
	want, other := tcpPort, tlsPort
	if over == "tls" {
		want, other = tlsPort, tcpPort
	}
	host, ns := addrOf(lab.HostIP), addrOf(lab.NSIP)
	if got := established(t, netip.AddrPortFrom(host, uint16(want)), ns); got < 2 {
		t.Errorf("%d connections from %s to the TURN %s port %d, want one per allocation", got, ns, over, want)
	}
	if got := established(t, netip.AddrPortFrom(host, uint16(other)), ns); got != 0 {
		t.Errorf("%d connections from %s to the TURN port %d of the other transport", got, ns, other)
	}

	_ = probe.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, from, err := probe.ReadFromUDP(make([]byte, 64)); err == nil {
		t.Errorf("a UDP datagram from %s left the lab, which should let none out", from)
	}
	if rep.ProbeErr != "" {
		t.Logf("the UDP probe's send: %s", rep.ProbeErr)
	}
}

// mediaFrom is the newest video and audio track of participant from in
// tracks.
func mediaFrom(from string, tracks map[string]loadtest.TrackCounts) (video, audio loadtest.TrackCounts) {
	for _, tc := range tracks {
		if tc.ParticipantID != from || tc.Ended {
			continue
		}
		if tc.Kind == "video" {
			video = tc
		} else if tc.Kind == "audio" {
			audio = tc
		}
	}
	return video, audio
}

// firstMedia is when the blocked client received its first packet of the
// others, and when the first of them received its first packet.
func firstMedia(rep turnBlockedReport, others []*loadtest.Client) (in, out time.Time) {
	earliest := func(t *time.Time, tc loadtest.TrackCounts) {
		if !tc.First.IsZero() && (t.IsZero() || tc.First.Before(*t)) {
			*t = tc.First
		}
	}
	for _, o := range others {
		v, a := mediaFrom(o.Self.ID, rep.Tracks)
		earliest(&in, v)
		earliest(&in, a)
		v, a = mediaFrom(rep.SelfID, o.Received())
		earliest(&out, v)
		earliest(&out, a)
	}
	return in, out
}

// windowCounts are the counts of every track between the blocked client
// (carol) and the others, keyed "sender -> receiver kind", after the
// client's next report.
func windowCounts(t *testing.T, child *loadtest.Child, carol string, others []*loadtest.Client) map[string]loadtest.TrackCounts {
	t.Helper()
	var rep turnBlockedReport
	if ok, err := child.Next(&rep, 2*time.Second); !ok || err != nil {
		t.Fatalf("no report from the blocked client: %v", err)
	}
	out := make(map[string]loadtest.TrackCounts)
	for i, o := range others {
		name := []string{"ann", "bob"}[i]
		v, a := mediaFrom(o.Self.ID, rep.Tracks)
		out[name+" -> carol video"], out[name+" -> carol audio"] = v, a
		v, a = mediaFrom(carol, o.Received())
		out["carol -> "+name+" video"], out["carol -> "+name+" audio"] = v, a
	}
	return out
}

// turnGauges reads the TURN server's allocations and connections gauges.
func turnGauges(t *testing.T, n *node.Node) (allocations, conns float64) {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := reg.Register(n.TURN().Metrics()); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		switch f.GetName() {
		case "sfu_turn_allocations":
			allocations = f.GetMetric()[0].GetGauge().GetValue()
		case "sfu_turn_connections":
			conns = f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return allocations, conns
}

func addrOf(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip.To4())
	return a
}

// established counts this namespace's established TCP connections from
// local to any port of remote (/proc/net/tcp: addresses in hexadecimal,
// IPv4 in the host's byte order, which is little-endian here).
func established(t *testing.T, local netip.AddrPort, remote netip.Addr) int {
	t.Helper()
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hexIP := func(a netip.Addr) string {
		b := a.As4()
		return fmt.Sprintf("%02X%02X%02X%02X", b[3], b[2], b[1], b[0])
	}
	wantLocal := fmt.Sprintf("%s:%04X", hexIP(local.Addr()), local.Port())
	wantRemote := hexIP(remote) + ":"
	count := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 3 && fields[1] == wantLocal && strings.HasPrefix(fields[2], wantRemote) && fields[3] == "01" {
			count++
		}
	}
	return count
}
