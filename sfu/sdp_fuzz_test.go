package sfu

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/pion/logging"
	"github.com/pion/sdp/v3"
)

// sdpSeeds are real descriptions: what Chrome offers to publish simulcast
// and answers to a subscriber offer, what a pion client offers, and
// descriptions that parse but pion refuses.
func sdpSeeds(f *testing.F) []string {
	var seeds []string
	for _, name := range []string{"chrome-simulcast-offer.sdp", "chrome-answer.sdp"} {
		b, err := os.ReadFile("testdata/sdp/" + name)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, string(b))
	}
	offer := clientOffer(f)
	sections := strings.Index(offer, "m=")
	fiveSections := offer + strings.Repeat(strings.ReplaceAll(offer[sections:], "a=mid:0", "a=mid:x"), 4)
	return append(seeds, offer, fiveSections, lateRefusedOffer, "v=0\r\n", "")
}

// FuzzPrecheckSDP runs arbitrary text through the checks HandleOffer and
// HandleAnswer make before pion sees a description: they refuse with
// ErrBadSDP (or ErrNotAllowed for too many media sections), never panic,
// accept only what pion's parser accepts, and the offer check gives the
// same verdict on the description pion writes back out.
func FuzzPrecheckSDP(f *testing.F) {
	for _, s := range sdpSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		_, offerErr := precheckOffer(text)
		answerErr := precheckAnswer(text)
		if offerErr != nil && !errors.Is(offerErr, ErrBadSDP) && !errors.Is(offerErr, ErrNotAllowed) {
			t.Fatalf("offer refused with %v", offerErr)
		}
		if answerErr != nil && !errors.Is(answerErr, ErrBadSDP) {
			t.Fatalf("answer refused with %v", answerErr)
		}
		var parsed sdp.SessionDescription
		if parsed.UnmarshalString(text) != nil {
			if offerErr == nil || answerErr == nil {
				t.Fatal("a description pion cannot parse was accepted")
			}
			return
		}
		if answerErr != nil {
			t.Fatalf("a description pion parses was refused as an answer: %v", answerErr)
		}
		out, err := parsed.Marshal()
		if err != nil {
			return
		}
		var again sdp.SessionDescription
		if again.Unmarshal(out) != nil {
			return // pion's own round trip; not ours to check
		}
		if (checkOffer(&parsed) == nil) != (checkOffer(&again) == nil) {
			t.Fatalf("checkOffer says %v, and %v once pion wrote it out:\n%s", checkOffer(&parsed), checkOffer(&again), out)
		}
	})
}

// FuzzHandleOffer gives arbitrary offers to a real participant's publisher
// connection: HandleOffer refuses with ErrBadSDP, ErrNotAllowed or, when
// pion's refusal left a connection with media unusable, ErrRejoin; and
// after ErrBadSDP, as PROTOCOL.md says, the connection is as it was: a
// good offer is answered.
func FuzzHandleOffer(f *testing.F) {
	for _, s := range sdpSeeds(f) {
		f.Add(s)
	}
	good := clientOffer(f)
	cfg := Default()
	cfg.UDPPort = 0
	cfg.NodeIP = "127.0.0.1"
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelDisabled
	s, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), PionLogs: quiet})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	f.Fuzz(func(t *testing.T, text string) {
		sink := &recordingSink{}
		p, err := s.Join("fuzz", Identity{Identity: "a", Grants: Grants{Publish: true, Subscribe: true}}, sink)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		refusal := p.HandleOffer(text, nil)
		switch err := refusal; {
		case err == nil:
			if sink.answers() != 1 {
				t.Fatalf("offer taken, %d answers", sink.answers())
			}
		case errors.Is(err, ErrBadSDP), errors.Is(err, ErrNotAllowed):
			if err := p.HandleOffer(good, nil); err != nil {
				t.Fatalf("after an offer refused with %v, a good offer: %v", refusal, err)
			}
			if sink.answers() != 1 {
				t.Fatalf("%d answers", sink.answers())
			}
		case errors.Is(err, ErrRejoin):
		default:
			t.Fatalf("offer refused with %v", err)
		}
	})
}
