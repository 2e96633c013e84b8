package sfu

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// The event codec carries an Event from the node that serves a room to
// the node that holds the client's WebSocket. An event is a compact JSON
// envelope, {"t":"joined","e":{...}}: a stable tag for its type and the
// event struct as encoding/json writes it. Every field travels as it is,
// nil slices as null and empty ones as [], nil pointers as null, so that
// the event decoded is deep-equal to the one encoded. Unknown fields in
// "e" are ignored, so a node can read events of a newer node that gained
// a field.

// eventTypes gives each Event type its tag. The tags travel between nodes
// that may run different versions: never rename one. Every type with an
// isEvent method must be here (TestEventCodecCoversEveryEvent).
var eventTypes = []eventType{
	eventTypeOf[Joined]("joined"),
	eventTypeOf[SubscriberOffer]("subscriber_offer"),
	eventTypeOf[PublisherAnswer]("publisher_answer"),
	eventTypeOf[Candidate]("candidate"),
	eventTypeOf[ParticipantJoined]("participant_joined"),
	eventTypeOf[ParticipantLeft]("participant_left"),
	eventTypeOf[TrackPublished]("track_published"),
	eventTypeOf[TrackUnpublished]("track_unpublished"),
	eventTypeOf[TrackMuted]("track_muted"),
	eventTypeOf[ActiveSpeakers]("active_speakers"),
	eventTypeOf[Bye]("bye"),
	eventTypeOf[PublisherLayers]("publisher_layers"),
	eventTypeOf[Move]("move"),
	eventTypeOf[PeerStart]("peer_start"),
	eventTypeOf[PeerMode]("peer_mode"),
	eventTypeOf[PeerEnd]("peer_end"),
	eventTypeOf[PeerSignal]("peer_signal"),
	eventTypeOf[TrackUndecodable]("track_undecodable"),
	eventTypeOf[CodecChange]("codec_change"),
	eventTypeOf[RestartRequest]("restart_request"),
	eventTypeOf[NetworkQuality]("network_quality"),
	eventTypeOf[DataError]("data_error"),
}

// eventType is one entry of eventTypes.
type eventType struct {
	tag    string
	typ    reflect.Type
	decode func(data []byte) (Event, error)
}

func eventTypeOf[E Event](tag string) eventType {
	return eventType{
		tag: tag,
		typ: reflect.TypeFor[E](),
		decode: func(data []byte) (Event, error) {
			var ev E
			if err := json.Unmarshal(data, &ev); err != nil {
				return nil, err
			}
			return ev, nil
		},
	}
}

// The lookups built from eventTypes.
var (
	eventTags    = make(map[reflect.Type]string, len(eventTypes))
	eventDecoder = make(map[string]func([]byte) (Event, error), len(eventTypes))
)

func init() {
	for _, et := range eventTypes {
		if _, dup := eventDecoder[et.tag]; dup {
			panic("sfu: event tag " + et.tag + " used twice")
		}
		if _, dup := eventTags[et.typ]; dup {
			panic("sfu: event type " + et.typ.String() + " listed twice")
		}
		eventTags[et.typ] = et.tag
		eventDecoder[et.tag] = et.decode
	}
}

// envelope is the encoded form of an event.
type envelope struct {
	Tag   string `json:"t"`
	Event any    `json:"e"`
}

// rawEnvelope is an envelope whose event is not decoded yet.
type rawEnvelope struct {
	Tag   string          `json:"t"`
	Event json.RawMessage `json:"e"`
}

// MarshalEvent encodes ev for another node; UnmarshalEvent decodes it.
// It fails, with an error matching ErrBadEvent, for nil and for a type
// that is not one of this package's events (such as a pointer to one).
func MarshalEvent(ev Event) ([]byte, error) {
	tag, ok := eventTags[reflect.TypeOf(ev)]
	if !ok {
		return nil, fmt.Errorf("%w: cannot encode a %T", ErrBadEvent, ev)
	}
	data, err := json.Marshal(envelope{Tag: tag, Event: ev})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadEvent, tag, err)
	}
	return data, nil
}

// UnmarshalEvent decodes an event encoded by MarshalEvent. The data comes
// from another node and is checked: what is not an envelope with a known
// tag and an object for the event is refused with an error matching
// ErrBadEvent.
func UnmarshalEvent(data []byte) (Event, error) {
	var env rawEnvelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	decode, ok := eventDecoder[env.Tag]
	if !ok {
		return nil, fmt.Errorf("%w: unknown event type %.64q", ErrBadEvent, env.Tag)
	}
	if len(env.Event) == 0 || env.Event[0] != '{' {
		// json.RawMessage holds the value without the space around it.
		return nil, fmt.Errorf("%w: %s: the event is not a JSON object", ErrBadEvent, env.Tag)
	}
	ev, err := decode(env.Event)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadEvent, env.Tag, err)
	}
	return ev, nil
}
