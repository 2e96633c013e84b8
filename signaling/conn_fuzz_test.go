package signaling

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/sfu"
)

// closeRule is what PROTOCOL.md's error table says of the close that
// follows an error: always (code), never, or only in a rare case (code).
type closeRule struct {
	always, sometimes int
}

// documentedCodes reads PROTOCOL.md's error table: the codes a client may
// be sent, and the close that follows each.
func documentedCodes(tb testing.TB) map[string]closeRule {
	b, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		tb.Fatal(err)
	}
	codes := map[string]closeRule{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| .* \\| (no|[0-9]{4})(; ([0-9]{4}))?[^|]*\\|$").FindAllSubmatch(b, -1) {
		var r closeRule
		if string(m[2]) != "no" {
			r.always, _ = strconv.Atoi(string(m[2]))
		}
		r.sometimes, _ = strconv.Atoi(string(m[4]))
		codes[string(m[1])] = r
	}
	if len(codes) < 16 || codes[CodeInvalidToken].always != CloseUnauthorized || codes[CodeBadSDP].sometimes != websocket.CloseInternalServerErr {
		tb.Fatalf("PROTOCOL.md's error table not read: %v", codes)
	}
	return codes
}

// sessionErrors are what a stub session answers, chosen by the length of
// the argument: every error the media core returns, and one it does not.
var sessionErrors = []error{
	nil,
	fmt.Errorf("%w: no ice-ufrag", sfu.ErrBadSDP),
	fmt.Errorf("%w: after a refused renegotiation", sfu.ErrRejoin),
	sfu.ErrNoOffer,
	fmt.Errorf("%w: unknown target", sfu.ErrBadCandidate),
	sfu.ErrNotAllowed,
	sfu.ErrBadKind,
	sfu.ErrBadLayer,
	sfu.ErrUnknownTrack,
	sfu.ErrClosed,
	errors.New("sfu: something unforeseen"),
}

// stubSession records the calls that reach the media core. It stands in
// for a participant only where the parse layer is under test.
type stubSession struct {
	calls   []string
	lastErr error
	closed  bool
}

func (s *stubSession) answer(call, arg string) error {
	s.calls = append(s.calls, call)
	s.lastErr = sessionErrors[len(arg)%len(sessionErrors)]
	return s.lastErr
}

func (s *stubSession) HandleOffer(sdp string, _ sfu.Sources) error {
	return s.answer("offer", sdp)
}
func (s *stubSession) HandleAnswer(sdp string) error { return s.answer("answer", sdp) }
func (s *stubSession) AddCandidate(t sfu.Target, c webrtc.ICECandidateInit) error {
	return s.answer("candidate", string(t)+c.Candidate)
}
func (s *stubSession) SetMuted(kind string, muted bool) error { return s.answer("mute", kind) }
func (s *stubSession) SetMaxLayer(trackID string, layer int) error {
	return s.answer("set_layer", trackID)
}
func (s *stubSession) SignalPeer(p sfu.PeerSignal) error { return s.answer("peer_"+p.Kind, p.SDP) }
func (s *stubSession) ReportPeer(st sfu.PeerState) error {
	return s.answer("peer_state", fmt.Sprint(st))
}
func (s *stubSession) RestartICE(t sfu.Target) error { return s.answer("restart", string(t)) }
func (s *stubSession) Close()                        { s.closed = true }

// stubBackend admits every join, sending Joined as the media core does.
type stubBackend struct{ session *stubSession }

func (b *stubBackend) Join(room string, who sfu.Identity, sink sfu.EventSink) (Session, error) {
	b.session = &stubSession{}
	sink.Send(sfu.Joined{Room: room, Self: sfu.ParticipantInfo{ID: "PA_self", Identity: who.Identity}})
	return b.session, nil
}

// fuzzNow is the clock of the fuzzed connections' server.
var fuzzNow = time.Unix(1_700_000_000, 0)

var fuzzKeys = Keys{"k1": "0123456789abcdef0123456789abcdef", "k2": "fedcba9876543210fedcba9876543210"}

// fuzzConn is a connection as serve leaves it before the first message,
// without a socket: handle writes only to out, which is drained before it
// can fill.
func fuzzConn(backend Backend) *conn {
	s := NewServer(Default(), fuzzKeys, backend, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.now = func() time.Time { return fuzzNow }
	return &conn{
		s: s, log: s.log,
		out:     make(chan outMsg, 64),
		done:    make(chan struct{}),
		written: make(chan struct{}),
	}
}

// FuzzHandle runs arbitrary client messages, one per line, through a
// connection's decoding, validation and dispatch (conn.handle) with the
// media core stubbed. Every message sent back is a JSON object with a
// type; every error carries a code PROTOCOL.md documents, is followed by
// the close its table gives, and names the refused message's type; a
// frame that is not a JSON object with a string type, or has a field of
// the wrong type, gets exactly one bad_message; a ping exactly one pong;
// nothing reaches the media core before a join with a valid token for the
// room asked, nor an offer or answer without an SDP, a candidate without
// a candidate or a set_layer without a layer; leave closes the session,
// and a refusal it cannot recover from closes the connection.
func FuzzHandle(f *testing.F) {
	codes := documentedCodes(f)
	token := func(kid, room string, ttl time.Duration) string {
		tok, err := fuzzKeys.Mint(kid, TokenRequest{Room: room, Identity: "alice", Name: "Alice", Grants: Grants{Publish: true, Subscribe: true}, TTL: ttl}, fuzzNow)
		if err != nil {
			f.Fatal(err)
		}
		return tok
	}
	lines := func(msgs ...string) []byte { return []byte(strings.Join(msgs, "\n")) }
	join := fmt.Sprintf(`{"type":"join","version":2,"token":%q,"room":"r"}`, token("k1", "r", time.Hour))
	f.Add(lines(`{"type":"ping"}`, join, `{"type":"offer","sdp":"v=0\r\n"}`,
		`{"type":"candidate","target":"publisher","candidate":{"candidate":"candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host","sdpMid":"0","sdpMLineIndex":0}}`,
		`{"type":"answer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}`, `{"type":"mute","kind":"audio","muted":true}`,
		`{"type":"set_layer","trackId":"TR_x","maxLayer":1}`, `{"type":"ping"}`, `{"type":"leave"}`))
	f.Add(lines(`{"type":"offer","sdp":"v=0"}`, `{"type":"join","token":""}`, `{"type":"join","version":3,"token":"x"}`,
		fmt.Sprintf(`{"type":"join","token":%q}`, token("k2", "other", time.Hour)), join))
	f.Add(lines(fmt.Sprintf(`{"type":"join","token":%q,"room":"r"}`, token("k1", "r", -time.Minute)), `{"type":"ping"}`))
	f.Add(lines(join, join, `{"type":"offer","sdp":"  \r\n"}`, `{"type":"candidate"}`, `{"type":"set_layer","trackId":"TR_x"}`,
		`{"type":"set_layer","trackId":"TR_x","maxLayer":"1"}`, `{"type":"mute","kind":"smell"}`, `{"type":"answer","sdp":"0123456789"}`))
	f.Add(lines(`garbage`, `[]`, `{"type":1}`, `{}`, `{"type":""}`, `{"type":"dance"}`, `null`, `{"type":"ping"}{"type":"ping"}`,
		`{"type":"ping","version":"2"}`, `{"type":"mute","muted":"yes"}`))
	f.Add(lines(fmt.Sprintf(`{"type":"join","token":%q,"room":"r\u0000"}`, token("k1", "r", time.Hour))))
	f.Add(lines(join, `{"type":"offer","target":"peer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}`,
		`{"type":"offer","target":"peer","sdp":"nope"}`, `{"type":"answer","target":"peer"}`,
		`{"type":"candidate","target":"peer","candidate":{"candidate":"candidate:1 1 udp 1 x.local 9 typ host"}}`,
		`{"type":"candidate","target":"peer","candidate":{"candidate":"candidate:"}}`, `{"type":"candidate","target":"peer"}`,
		`{"type":"peer_state","state":"connected","path":"relay"}`, `{"type":"peer_state","state":7}`, `{"type":"peer_state"}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		backend := &stubBackend{}
		c := fuzzConn(backend)
		defer c.endRoster()
		for n, line := range bytes.Split(data, []byte("\n")) {
			if n == 32 {
				break
			}
			var probe struct {
				Type *string `json:"type"`
			}
			isObject := json.Unmarshal(line, &probe) == nil && probe.Type != nil && *probe.Type != ""
			// A field of the wrong type makes the whole message bad.
			wellTyped := json.Unmarshal(line, &inbound{}) == nil
			session, wasClosing := backend.session, c.closing.Load()
			var before int
			if session != nil {
				before = len(session.calls)
			}

			c.handle(line)

			var replies []map[string]any
			closeCode := 0
			for len(c.out) > 0 {
				m := <-c.out
				if m.closeCode != 0 {
					closeCode = m.closeCode
					continue
				}
				var reply map[string]any
				if err := json.Unmarshal(m.data, &reply); err != nil {
					t.Fatalf("message %d: reply %s is not a JSON object", n, m.data)
				}
				if _, ok := reply["type"].(string); !ok {
					t.Fatalf("message %d: reply %s has no type", n, m.data)
				}
				replies = append(replies, reply)
			}
			wantClose, mayClose := 0, 0
			for _, r := range replies {
				if r["type"] != "error" {
					continue
				}
				code, _ := r["code"].(string)
				rule, ok := codes[code]
				if !ok {
					t.Fatalf("message %d: error code %q is not in PROTOCOL.md", n, code)
				}
				wantClose, mayClose = max(wantClose, rule.always), max(mayClose, rule.sometimes)
				ref, _ := r["ref"].(string)
				if (isObject && ref != *probe.Type && ref != "") || (!isObject && ref != "") {
					t.Fatalf("message %d (%q): error refers to %q", n, line, ref)
				}
			}
			switch {
			case !isObject || !wellTyped:
				if len(replies) != 1 || replies[0]["code"] != CodeBadMessage {
					t.Fatalf("message %d (%q): replies %v, want one bad_message", n, line, replies)
				}
			case *probe.Type == "ping":
				if len(replies) != 1 || replies[0]["type"] != "pong" {
					t.Fatalf("message %d: replies %v, want one pong", n, replies)
				}
			}

			if session == nil {
				if backend.session != nil {
					checkJoin(t, n, line)
					if len(backend.session.calls) > 0 {
						t.Fatalf("message %d: the join itself called %v", n, backend.session.calls)
					}
				}
			} else {
				calls := session.calls[before:]
				checkDispatch(t, n, line, calls)
				if len(calls) > 0 && errors.Is(session.lastErr, sfu.ErrRejoin) {
					wantClose = websocket.CloseInternalServerErr
				}
				if isObject && *probe.Type == "leave" {
					if !session.closed {
						t.Fatalf("message %d: leave did not close the session", n)
					}
					wantClose = websocket.CloseNormalClosure
				}
			}
			switch {
			case wasClosing:
				if closeCode != 0 {
					t.Fatalf("message %d: a second close (%d)", n, closeCode)
				}
			case closeCode != wantClose && (closeCode == 0 || closeCode != mayClose):
				t.Fatalf("message %d (%q): close %d, want %d (replies %v)", n, line, closeCode, wantClose, replies)
			}
		}
	})
}

// checkJoin checks that the message that joined had a valid token for the
// room it named, if any, and a supported version.
func checkJoin(t *testing.T, n int, line []byte) {
	var m inbound
	if err := json.Unmarshal(line, &m); err != nil || m.Type != "join" {
		t.Fatalf("message %d (%q) joined", n, line)
	}
	claims, err := fuzzKeys.Verify(m.Token, fuzzNow)
	if err != nil || m.Version < 0 || m.Version > Version || (m.Room != nil && *m.Room != claims.Room) {
		t.Fatalf("message %d (%q) joined: token %v, version %d", n, line, err, m.Version)
	}
}

// checkDispatch checks what one message of a joined client asked of the
// media core.
func checkDispatch(t *testing.T, n int, line []byte, calls []string) {
	var m inbound
	if json.Unmarshal(line, &m) != nil {
		if len(calls) > 0 {
			t.Fatalf("message %d (%q), not valid, called %v", n, line, calls)
		}
		return
	}
	want := ""
	switch {
	case m.Target == "peer" && (m.Type == "offer" || m.Type == "answer" || m.Type == "candidate"):
		// Relayed only once it parses: a call, if any, is the peer's.
		if len(calls) == 1 && calls[0] == "peer_"+m.Type {
			return
		}
	case m.Type == "peer_state":
		if _, ok := peerStates[m.State]; ok {
			want = m.Type
		}
	case m.Type == "offer", m.Type == "answer":
		if strings.TrimSpace(m.SDP) != "" {
			want = m.Type
		}
	case m.Type == "candidate":
		if m.Candidate != nil {
			want = m.Type
		}
	case m.Type == "set_layer":
		if m.MaxLayer != nil {
			want = m.Type
		}
	case m.Type == "mute":
		want = m.Type
	}
	if (want == "" && len(calls) > 0) || (want != "" && (len(calls) != 1 || calls[0] != want)) {
		t.Fatalf("message %d (%q) called %v, want %q", n, line, calls, want)
	}
}
