package signaling

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/sfu-project/sfu/sfu"
)

// documentedErrors is what PROTOCOL.md's error table says the client is
// told of each sfu sentinel: the code, the error's own text or a fixed
// message, and the close code that follows (0: the session goes on).
var documentedErrors = []struct {
	err     error
	code    string
	message string // "" for the error's own text
	close   int
}{
	{sfu.ErrBadSDP, CodeBadSDP, "", 0},
	{sfu.ErrNoOffer, CodeBadSDP, "", 0},
	{sfu.ErrRejoin, CodeBadSDP, "", 1011}, // the rare case in which the client must rejoin
	{sfu.ErrBadCandidate, CodeBadCandidate, "", 0},
	{sfu.ErrNotAllowed, CodeNotAllowed, "", 0},
	{sfu.ErrBadKind, CodeBadMessage, "", 0}, // "a mute of an unknown kind"
	{sfu.ErrBadLayer, CodeBadMessage, "", 0},
	{sfu.ErrUnknownTrack, CodeUnknownTrack, "", 0},
	{sfu.ErrClosed, CodeInternal, "the session has ended", 0},
	{sfu.ErrUnsupportedCodec, CodeInternal, "internal error", 0},
	{sfu.ErrBadEvent, CodeInternal, "internal error", 0},
	{sfu.ErrDraining, CodeUnavailable, "the service cannot take you in this room right now; try again", 1013},
	{sfu.ErrNoRoom, CodeInternal, "internal error", 0},
	{sfu.ErrBadRelayMessage, CodeInternal, "internal error", 0},
	{sfu.ErrNoPeer, CodeNoPeer, "", 0},
	{sfu.ErrBadSource, CodeBadSource, "", 0},
}

// relayed is err as a node that relays a Session call rebuilds it.
func relayed(err error) error { return sfu.ErrorFromCode(sfu.ErrorCode(err), err.Error()) }

// TestClassify: every sfu sentinel, wrapped as the media core wraps them,
// reaches the client with the code PROTOCOL.md documents, and so does the
// same error relayed from another node (sfu.ErrorCode, sfu.ErrorFromCode).
func TestClassify(t *testing.T) {
	protocol, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range documentedErrors {
		t.Run(tc.err.Error(), func(t *testing.T) {
			row := protocolRow(string(protocol), tc.code)
			if row == "" {
				t.Fatalf("PROTOCOL.md's error table has no row for %q", tc.code)
			}
			if tc.close != 0 && !strings.Contains(row, strconv.Itoa(tc.close)) {
				t.Errorf("PROTOCOL.md's row for %q does not name close code %d: %s", tc.code, tc.close, row)
			}
			for _, err := range []error{tc.err, fmt.Errorf("%w: %q", tc.err, "detail")} {
				want := tc.message
				if want == "" {
					want = err.Error()
				}
				for _, e := range []error{err, relayed(err)} {
					code, msg, closeCode := classify(e)
					if code != tc.code || msg != want || closeCode != tc.close {
						t.Errorf("classify(%q) = %q, %q, %d; want %q, %q, %d", e, code, msg, closeCode, tc.code, want, tc.close)
					}
				}
			}
		})
	}
	for _, err := range []error{errors.New("sfu: something new"), fmt.Errorf("a pion error")} {
		for _, e := range []error{err, relayed(err)} {
			if code, msg, closeCode := classify(e); code != CodeInternal || msg != internalMessage || closeCode != 0 {
				t.Errorf("classify(%q) = %q, %q, %d", e, code, msg, closeCode)
			}
		}
	}
}

// TestClassifyRelayedSeveral: an error wrapping two sentinels classifies
// after relaying as before: sfu.ErrorCode keeps the first that
// clientErrors would have matched.
func TestClassifyRelayedSeveral(t *testing.T) {
	for _, a := range documentedErrors {
		for _, b := range documentedErrors {
			err := fmt.Errorf("%w: %w", a.err, b.err)
			c1, m1, x1 := classify(err)
			c2, m2, x2 := classify(relayed(err))
			if c1 != c2 || m1 != m2 || x1 != x2 {
				t.Errorf("%q: %q, %q, %d here, %q, %q, %d relayed", err, c1, m1, x1, c2, m2, x2)
			}
		}
	}
}

// TestClientErrorsCoverEverySentinel: every sentinel sfu names (and its
// own test checks that it names every one in its errors.go) has an entry
// in clientErrors and in documentedErrors: a new sentinel must be given
// its client code on purpose, not fall through to internal.
func TestClientErrorsCoverEverySentinel(t *testing.T) {
	for _, code := range sfu.ErrorCodes() {
		sentinel := sfu.ErrorFromCode(code, "")
		inTable, documented := false, false
		for _, e := range clientErrors {
			inTable = inTable || e.err == sentinel
		}
		for _, d := range documentedErrors {
			documented = documented || d.err == sentinel
		}
		if !inTable || !documented {
			t.Errorf("sfu's %q (%v): in clientErrors %v, in documentedErrors %v", code, sentinel, inTable, documented)
		}
	}
	if len(clientErrors) != len(sfu.ErrorCodes()) {
		t.Errorf("clientErrors has %d entries, sfu %d sentinels", len(clientErrors), len(sfu.ErrorCodes()))
	}
}

// protocolRow is the row of PROTOCOL.md's error table for code, or "".
func protocolRow(doc, code string) string {
	for line := range strings.SplitSeq(doc, "\n") {
		if strings.HasPrefix(line, "| `"+code+"` |") {
			return line
		}
	}
	return ""
}
