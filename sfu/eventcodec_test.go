package sfu

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

func ptr[T any](v T) *T { return &v }

// eventSamples are events as the SFU sends them, with the corners of
// their fields: nil and empty slices, nil pointers and pointers to zero
// values, text that JSON escapes.
func eventSamples() []struct {
	name string
	ev   Event
} {
	alice := ParticipantInfo{ID: "PA_1", Identity: "alice", Name: "Alice <&> \u2028 ✓", Tracks: []TrackInfo{
		{ID: "TR_a", Kind: "audio"}, {ID: "TR_v", Kind: "video", Muted: true},
	}}
	bob := ParticipantInfo{ID: "PA_2", Identity: "bob"} // Tracks nil
	carol := ParticipantInfo{ID: "PA_3", Identity: "carol", Tracks: []TrackInfo{}}
	host := "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host"
	return []struct {
		name string
		ev   Event
	}{
		{"joined alone, others nil", Joined{Room: "r", Self: bob}},
		{"joined alone, others empty", Joined{Room: "r", Self: carol, Others: []ParticipantInfo{}}},
		{"joined with others", Joined{Room: "röom", Self: alice, Others: []ParticipantInfo{bob, carol, alice}}},
		{"joined with data limits", Joined{Room: "r", Self: bob, Data: Default().Data.limits()}},
		{"subscriber offer", SubscriberOffer{SDP: "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}},
		{"subscriber offer empty", SubscriberOffer{}},
		{"publisher answer", PublisherAnswer{SDP: "v=0\r\na=\"quoted\"\\\r\n"}},
		{"restart request", RestartRequest{Target: TargetPublisher}},
		{"candidate, pointers nil", Candidate{Target: TargetPublisher, Candidate: webrtc.ICECandidateInit{Candidate: host}}},
		{"candidate, pointers set", Candidate{Target: TargetSubscriber, Candidate: webrtc.ICECandidateInit{
			Candidate: host, SDPMid: ptr("0"), SDPMLineIndex: ptr[uint16](65535), UsernameFragment: ptr("ufrag"),
		}}},
		{"candidate, pointers to zero values", Candidate{Target: TargetSubscriber, Candidate: webrtc.ICECandidateInit{
			SDPMid: ptr(""), SDPMLineIndex: ptr[uint16](0), UsernameFragment: ptr(""),
		}}},
		{"end of candidates", Candidate{Target: TargetPublisher}},
		{"participant joined", ParticipantJoined{Participant: alice}},
		{"participant joined, tracks nil", ParticipantJoined{Participant: bob}},
		{"participant joined, tracks empty", ParticipantJoined{Participant: carol}},
		{"participant left", ParticipantLeft{ParticipantID: "PA_1"}},
		{"track published", TrackPublished{ParticipantID: "PA_1", Track: TrackInfo{ID: "TR_v", Kind: "video"}}},
		{"track unpublished", TrackUnpublished{ParticipantID: "PA_1", TrackID: "TR_v"}},
		{"track muted", TrackMuted{ParticipantID: "PA_1", Track: TrackInfo{ID: "TR_a", Kind: "audio", Muted: true}}},
		{"speakers", ActiveSpeakers{Speakers: []string{"PA_2", "PA_1"}, Active: "PA_1"}},
		{"speakers nil", ActiveSpeakers{}},
		{"speakers empty", ActiveSpeakers{Speakers: []string{}}},
		{"bye shutdown", Bye{Reason: "shutdown"}},
		{"bye replaced", Bye{Reason: "replaced"}},
		{"publisher layers", PublisherLayers{TrackID: "TR_v", Active: map[string]bool{"q": true, "h": true, "f": false}}},
		{"publisher layers nil", PublisherLayers{TrackID: "TR_v"}},
		{"publisher layers empty", PublisherLayers{Active: map[string]bool{}}},
		{"network quality", NetworkQuality{Self: QualityGood, Participants: map[string]int{"PA_1": QualityBad, "PA_2": QualityFair}}},
		{"network quality alone", NetworkQuality{Self: QualityPoor, Participants: map[string]int{}}},
		{"data error", DataError{Code: DataDropped, Message: "dropped", ParticipantID: "PA_1"}},
		{"track published, a screen", TrackPublished{ParticipantID: "PA_1", Track: TrackInfo{ID: "TR_s", Kind: "video", Source: "screen"}}},
		{"move", Move{TimeLeft: 28 * time.Second}},
		{"move, time left unknown", Move{}},
		{"peer start", PeerStart{PeerID: "PA_b", Polite: true}},
		{"peer mode", PeerMode{Mode: "p2p", PeerID: "PA_b", Reason: ReasonDirect}},
		{"peer end", PeerEnd{PeerID: "PA_b", Reason: ReasonPeerTimeout}},
		{"track undecodable", TrackUndecodable{ParticipantID: "PA_b", TrackID: "TR_v", Kind: "video", Codec: "video/H264"}},
		{"codec change", CodecChange{TrackID: "TR_v", Kind: "video", Codec: "video/VP8", From: "video/H264"}},
		{"peer offer", PeerSignal{From: "PA_a", Kind: "offer", SDP: "v=0\r\n"}},
		{"peer candidate", PeerSignal{From: "PA_a", Kind: "candidate", Candidate: &webrtc.ICECandidateInit{Candidate: host, SDPMid: ptr("0")}}},
	}
}

func roundTrip(t *testing.T, ev Event) {
	t.Helper()
	data, err := MarshalEvent(ev)
	if err != nil {
		t.Fatalf("MarshalEvent(%#v): %v", ev, err)
	}
	got, err := UnmarshalEvent(data)
	if err != nil {
		t.Fatalf("UnmarshalEvent(%s): %v", data, err)
	}
	if !reflect.DeepEqual(got, ev) {
		t.Fatalf("round trip through %s:\n got %#v\nwant %#v", data, got, ev)
	}
}

// TestEventCodecRoundTrip: every sample decodes deep-equal to itself, nil
// and empty slices and pointers included, and every event type has a
// sample.
func TestEventCodecRoundTrip(t *testing.T) {
	covered := map[reflect.Type]bool{}
	for _, s := range eventSamples() {
		t.Run(s.name, func(t *testing.T) { roundTrip(t, s.ev) })
		covered[reflect.TypeOf(s.ev)] = true
	}
	for _, et := range eventTypes {
		if !covered[et.typ] {
			t.Errorf("no sample of %s in eventSamples", et.typ)
		}
	}
}

// TestEventCodecEnvelope: the tag and the event are where the other
// node's version of the codec looks for them.
func TestEventCodecEnvelope(t *testing.T) {
	data, err := MarshalEvent(Bye{Reason: "shutdown"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"t":"bye","e":{"Reason":"shutdown"}}`; string(data) != want {
		t.Fatalf("got %s, want %s", data, want)
	}
	// A field a newer node added is ignored.
	ev, err := UnmarshalEvent([]byte(` {"t":"bye", "e": {"Reason":"replaced","Later":[1]}} `))
	if err != nil || ev != (Bye{Reason: "replaced"}) {
		t.Fatalf("got %#v, %v", ev, err)
	}
}

// TestEventCodecRandomRoundTrip fills every field of every event type
// with random values (slices nil, empty or not, pointers nil or not) and
// checks the round trip. A field of a kind fill does not know fails the
// test: extend fill, and check that the codec carries it.
func TestEventCodecRandomRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, et := range eventTypes {
		t.Run(et.tag, func(t *testing.T) {
			for range 300 {
				v := reflect.New(et.typ).Elem()
				fill(t, v, rng, et.typ.Name())
				roundTrip(t, v.Interface().(Event))
			}
		})
	}
}

var fillStrings = []string{"", "a", "PA_1", "ünïcödé ✓ 🎥", "<script>&amp;</script>", "quote\" back\\slash", "\x00\x1f\u2028\u2029", "v=0\r\na=x\r\n"}

// fill sets v, and what it holds, to random values.
func fill(t *testing.T, v reflect.Value, rng *rand.Rand, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		v.SetString(fillStrings[rng.IntN(len(fillStrings))])
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(rng.Int64() >> (rng.UintN(64)) * int64(1-2*rng.IntN(2)))
		if v.OverflowInt(v.Int()) {
			v.SetInt(int64(rng.IntN(1 << 7)))
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u := rng.Uint64() >> rng.UintN(64)
		if v.OverflowUint(u) {
			u = uint64(1)<<(v.Type().Bits()) - 1 // the largest
		}
		v.SetUint(u)
	case reflect.Float64:
		// Finite: JSON has no NaN nor infinities, and no event carries them.
		v.SetFloat(rng.ExpFloat64() * 1e6 * float64(1-2*rng.IntN(2)))
	case reflect.Pointer:
		if rng.IntN(3) == 0 {
			v.SetZero()
			return
		}
		p := reflect.New(v.Type().Elem())
		fill(t, p.Elem(), rng, path)
		v.Set(p)
	case reflect.Slice:
		switch n := rng.IntN(5); n {
		case 0:
			v.SetZero()
		default:
			s := reflect.MakeSlice(v.Type(), n-1, n-1)
			for i := range n - 1 {
				fill(t, s.Index(i), rng, path+"[]")
			}
			v.Set(s)
		}
	case reflect.Map:
		if rng.IntN(4) == 0 {
			v.SetZero()
			return
		}
		m := reflect.MakeMap(v.Type())
		for range rng.IntN(4) {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(t, k, rng, path+"{key}")
			fill(t, e, rng, path+"{}")
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() || f.Tag.Get("json") == "-" {
				t.Fatalf("%s.%s does not travel in JSON", path, f.Name)
			}
			fill(t, v.Field(i), rng, path+"."+f.Name)
		}
	default:
		t.Fatalf("%s: no random values of kind %s; extend fill and check that the codec carries it", path, v.Kind())
	}
}

// TestEventCodecCoversEveryEvent reads this package's sources: every type
// with an isEvent method must have an entry in eventTypes, and no entry
// may name a type that is no event.
func TestEventCodecCoversEveryEvent(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || fn.Name.Name != "isEvent" {
				continue
			}
			recv := fn.Recv.List[0].Type
			if star, ok := recv.(*ast.StarExpr); ok {
				recv = star.X
			}
			events = append(events, recv.(*ast.Ident).Name)
		}
	}
	if len(events) < 12 {
		t.Fatalf("found only %d event types (%v): is the search still right?", len(events), events)
	}
	var listed []string
	for _, et := range eventTypes {
		listed = append(listed, et.typ.Name())
	}
	slices.Sort(events)
	slices.Sort(listed)
	if !slices.Equal(events, listed) {
		t.Fatalf("types with an isEvent method: %v\nin eventTypes: %v\nevery event needs a codec entry (eventcodec.go)", events, listed)
	}
}

// TestMarshalEventRefuses: nil and pointers to events are no events the
// SFU sends.
func TestMarshalEventRefuses(t *testing.T) {
	for _, ev := range []Event{nil, &Bye{}, &Joined{}} {
		data, err := MarshalEvent(ev)
		if err == nil || !errors.Is(err, ErrBadEvent) || !strings.HasPrefix(err.Error(), "sfu: ") || data != nil {
			t.Errorf("MarshalEvent(%#v) = %q, %v; want an ErrBadEvent", ev, data, err)
		}
	}
}

// badEventEncodings are inputs UnmarshalEvent must refuse.
var badEventEncodings = []string{
	``,
	`{`,
	`null`,
	`[]`,
	`"bye"`,
	`{}`,
	`{"t":"nope","e":{}}`,
	`{"t":"","e":{}}`,
	`{"t":5,"e":{}}`,
	`{"t":"bye"}`,
	`{"t":"bye","e":null}`,
	`{"t":"bye","e":"shutdown"}`,
	`{"t":"bye","e":[]}`,
	`{"t":"bye","e":{"Reason":5}}`,
	`{"t":"bye","e":{}}x`,
	`{"t":"bye","e":{}`,
	`{"t":"joined","e":{"Others":{}}}`,
	`{"t":"publisher_layers","e":{"Active":[]}}`,
	`{"t":"publisher_layers","e":{"Active":{"q":1}}}`,
	`{"t":"candidate","e":{"Candidate":{"sdpMLineIndex":65536}}}`,
	`{"t":"candidate","e":{"Candidate":{"sdpMLineIndex":-1}}}`,
	`{"t":"` + strings.Repeat("x", 10000) + `","e":{}}`,
}

// TestUnmarshalEventRefuses: what is not an encoded event gives an error
// that says so, prefixed and matching ErrBadEvent.
func TestUnmarshalEventRefuses(t *testing.T) {
	for _, in := range badEventEncodings {
		ev, err := UnmarshalEvent([]byte(in))
		if err == nil || ev != nil {
			t.Errorf("UnmarshalEvent(%.80q) = %#v, %v; want an error", in, ev, err)
			continue
		}
		if !errors.Is(err, ErrBadEvent) || !strings.HasPrefix(err.Error(), "sfu: ") || len(err.Error()) > 300 {
			t.Errorf("UnmarshalEvent(%.80q): error %q", in, err)
		}
	}
}

// subscriberOffer is an offer like the ones the SFU makes to a subscriber
// receiving audio and video from three publishers.
func subscriberOffer(tb testing.TB) string {
	tb.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = pc.Close() }()
	for range 3 {
		for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
				tb.Fatal(err)
			}
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return offer.SDP
}

// BenchmarkEventCodec encodes and decodes the events a relayed client
// gets most: offers (each renegotiation) and candidates.
func BenchmarkEventCodec(b *testing.B) {
	for _, bc := range []struct {
		name string
		ev   Event
	}{
		{"SubscriberOffer", SubscriberOffer{SDP: subscriberOffer(b)}},
		{"Candidate", Candidate{Target: TargetSubscriber, Candidate: webrtc.ICECandidateInit{
			Candidate:     "candidate:2930150424 1 udp 2130706431 192.0.2.10 50000 typ host",
			SDPMid:        ptr("0"),
			SDPMLineIndex: ptr[uint16](0),
		}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			data, err := MarshalEvent(bc.ev)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				data, err := MarshalEvent(bc.ev)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := UnmarshalEvent(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
