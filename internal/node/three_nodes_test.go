package node_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
	"github.com/sfu-project/sfu/loadtest"
)

// TestThreeNodesInOneProcess runs three nodes in this process, on
// 127.0.0.1, 127.0.0.2 and 127.0.0.3, each with its HTTP listener and its
// media socket on its own address. Two Go clients join a room of the same
// name on each node and publish audio and video: each receives its
// room-mate's media over a connection to its own node's media address,
// and nothing from the clients of the other nodes. Once clients and nodes
// are closed, the process has the goroutines and file descriptors it had
// before: the assembly keeps nothing in globals.
func TestThreeNodesInOneProcess(t *testing.T) {
	// Network polling starts with the first socket and lives as long as
	// the process: start it before counting.
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
	}
	baseFDs := openFDs(t)
	baseGoroutines := runtime.NumGoroutine()
	ignore := goleak.IgnoreCurrent()
	var busyGoroutines, busyFDs int // with the six clients exchanging media
	// Registered first, so it runs after the clients and nodes are closed.
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		if c := settle(deadline, func() string {
			if err := goleak.Find(ignore); err != nil {
				return err.Error()
			}
			return ""
		}); c != "" {
			t.Errorf("goroutines left after shutdown: %s", c)
		}
		if c := settle(deadline, func() string {
			if extra := newFDs(t, baseFDs); len(extra) > 0 {
				return fmt.Sprintf("%d open against %d before: new %s", len(baseFDs)+len(extra), len(baseFDs), strings.Join(extra, ", "))
			}
			return ""
		}); c != "" {
			t.Errorf("file descriptors left after shutdown: %s", c)
		}
		t.Logf("goroutines %d -> %d -> %d, file descriptors %d -> %d -> %d (before, with media flowing, after)",
			baseGoroutines, busyGoroutines, runtime.NumGoroutine(), len(baseFDs), busyFDs, len(openFDs(t)))
	})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const room = "hall"
	type site struct {
		ip       string
		node     *node.Node
		ann, bob *loadtest.Client
	}
	sites := []*site{{ip: "127.0.0.1"}, {ip: "127.0.0.2"}, {ip: "127.0.0.3"}}
	for _, s := range sites {
		s.node = nodetest.Start(t, func(c *node.Config) { *c = nodetest.Config(s.ip) })
		if ip := s.node.Addr().(*net.TCPAddr).IP.String(); ip != s.ip {
			t.Fatalf("node for %s listens for HTTP on %s", s.ip, s.node.Addr())
		}
		if ip := s.node.MediaAddr().(*net.UDPAddr).IP.String(); ip != s.ip {
			t.Fatalf("node for %s has its media socket on %s", s.ip, s.node.MediaAddr())
		}
	}
	for _, s := range sites {
		join := func(identity string) *loadtest.Client {
			c, err := loadtest.Dial(ctx, loadtest.Options{URL: wsURL(s.node), Token: devToken(t, s.node, room, identity), LoopbackOnly: true})
			if err != nil {
				t.Fatalf("%s joining on %s: %v", identity, s.ip, err)
			}
			t.Cleanup(c.Close)
			if err := c.Publish(loadtest.DefaultMedia); err != nil {
				t.Fatal(err)
			}
			return c
		}
		s.ann, s.bob = join("ann"), join("bob")
	}

	for _, s := range sites {
		for _, pair := range [][2]*loadtest.Client{{s.ann, s.bob}, {s.bob, s.ann}} {
			rx, tx := pair[0], pair[1]
			what := fmt.Sprintf("%s on %s receiving from %s", rx.Self.Identity, s.ip, tx.Self.Identity)
			deadline := time.Now().Add(20 * time.Second)
			if c := settle(deadline, func() string {
				var video, audio loadtest.TrackCounts
				for _, tc := range rx.Received() {
					if tc.ParticipantID != tx.Self.ID || tc.Ended {
						continue
					}
					if tc.Kind == "video" {
						video = tc
					} else {
						audio = tc
					}
				}
				if video.Keyframes == 0 || video.Frames < 30 || audio.Packets < 10 {
					return fmt.Sprintf("video %d keyframes, %d frames; audio %d packets", video.Keyframes, video.Frames, audio.Packets)
				}
				return ""
			}); c != "" {
				t.Fatalf("%s: %s", what, c)
			}
			for _, tc := range rx.Received() {
				if tc.ParticipantID != tx.Self.ID {
					t.Errorf("%s: also a %s track from %s, who is not in this node's room", what, tc.Kind, tc.ParticipantID)
				}
			}
			// The media comes from this node's own socket.
			receivers := rx.Subscriber().GetReceivers()
			if len(receivers) == 0 {
				t.Fatalf("%s: no receivers", what)
			}
			selected, err := receivers[0].Transport().ICETransport().GetSelectedCandidatePair()
			if err != nil || selected == nil {
				t.Fatalf("%s: no selected candidate pair: %v", what, err)
			}
			remote := net.JoinHostPort(selected.Remote.Address, fmt.Sprint(selected.Remote.Port))
			if remote != s.node.MediaAddr().String() {
				t.Errorf("%s: media from %s, want the node's media address %s", what, remote, s.node.MediaAddr())
			}
		}
		st, ok := s.node.SFU().RoomState(room)
		var ids []string
		for _, p := range st.Participants {
			ids = append(ids, p.ID)
		}
		want := []string{s.ann.Self.ID, s.bob.Self.ID}
		slices.Sort(ids)
		slices.Sort(want)
		if !ok || !slices.Equal(ids, want) {
			t.Errorf("room %s on %s holds %v, want its own two clients %v", room, s.ip, ids, want)
		}
	}
	busyGoroutines, busyFDs = runtime.NumGoroutine(), len(openFDs(t))
}

// settle polls cond until it returns "" or the deadline passes, and
// returns its last complaint.
func settle(deadline time.Time, cond func() string) string {
	for {
		c := cond()
		if c == "" || time.Now().After(deadline) {
			return c
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// openFDs returns the process's open file descriptors and what each
// refers to (socket:[inode], a path, anon_inode:[eventpoll]...). It skips
// the test where /proc/self/fd is missing.
func openFDs(t *testing.T) map[string]string {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // the directory's own descriptor, closed by now
		}
		out[e.Name()] = target
	}
	return out
}

// newFDs describes the descriptors open now that were not open (to the
// same thing) in base.
func newFDs(t *testing.T, base map[string]string) []string {
	var extra []string
	for fd, target := range openFDs(t) {
		if base[fd] != target {
			extra = append(extra, fd+" -> "+target)
		}
	}
	slices.Sort(extra)
	return extra
}
