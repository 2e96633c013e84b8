// Package datamsg is the envelope of application data on the data channels
// between a client and the SFU: the topic and recipients a client sends
// with its bytes, and the sender and topic the server delivers them with.
//
// The envelope is binary, so a browser builds it with a DataView and no
// library, and the payload follows it uncopied:
//
//	client to server:  version(1) | topic len(1) | topic | recipients(1) | { id len(1) | id } ... | payload
//	server to client:  version(1) | sender len(1) | sender | topic len(1) | topic | payload
//
// Recipients 0 means everyone in the room. A client never names itself
// as the sender: the server writes the sender it authenticated.
package datamsg

import (
	"errors"
	"unicode/utf8"
)

// Version is the envelope's first byte.
const Version = 1

// MaxField is the longest topic or participant id an envelope carries,
// and MaxRecipients the most recipients one message names.
const (
	MaxField      = 255
	MaxRecipients = 255
)

var (
	// ErrVersion is returned for an envelope of another version.
	ErrVersion = errors.New("datamsg: unknown envelope version")
	// ErrTruncated is returned for an envelope that ends inside its header.
	ErrTruncated = errors.New("datamsg: envelope truncated")
	// ErrTopic is returned for a topic that is not UTF-8 or is too long.
	ErrTopic = errors.New("datamsg: topic must be UTF-8 of at most 255 bytes")
	// ErrRecipient is returned for an empty or overlong recipient id,
	// or too many recipients.
	ErrRecipient = errors.New("datamsg: bad recipient")
)

// Outgoing is what a client sends: bytes for a topic, to some or all.
type Outgoing struct {
	Topic string
	// To are the participant ids to deliver to; empty means everyone.
	To []string
	// Payload aliases the parsed buffer.
	Payload []byte
}

// Delivered is what a client receives: who sent it, on which topic.
type Delivered struct {
	From  string
	Topic string
	// Payload aliases the parsed buffer.
	Payload []byte
}

// reader takes length-prefixed fields off an envelope.
type reader struct {
	b   []byte
	err error
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.err = ErrTruncated
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) field() string {
	n := int(r.byte())
	if r.err != nil {
		return ""
	}
	if len(r.b) < n {
		r.err = ErrTruncated
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// ParseOutgoing reads a client's envelope.
func ParseOutgoing(b []byte) (Outgoing, error) {
	r := reader{b: b}
	if v := r.byte(); r.err == nil && v != Version {
		return Outgoing{}, ErrVersion
	}
	var m Outgoing
	m.Topic = r.field()
	if r.err == nil && !utf8.ValidString(m.Topic) {
		return Outgoing{}, ErrTopic
	}
	if n := int(r.byte()); n > 0 {
		m.To = make([]string, 0, n)
		for range n {
			id := r.field()
			if r.err == nil && id == "" {
				return Outgoing{}, ErrRecipient
			}
			m.To = append(m.To, id)
		}
	}
	if r.err != nil {
		return Outgoing{}, r.err
	}
	m.Payload = r.b
	return m, nil
}

// AppendOutgoing appends a client's envelope and payload to dst.
func AppendOutgoing(dst []byte, topic string, to []string, payload []byte) ([]byte, error) {
	if len(topic) > MaxField || !utf8.ValidString(topic) {
		return dst, ErrTopic
	}
	if len(to) > MaxRecipients {
		return dst, ErrRecipient
	}
	dst = append(dst, Version, byte(len(topic)))
	dst = append(dst, topic...)
	dst = append(dst, byte(len(to)))
	for _, id := range to {
		if id == "" || len(id) > MaxField {
			return dst, ErrRecipient
		}
		dst = append(dst, byte(len(id)))
		dst = append(dst, id...)
	}
	return append(dst, payload...), nil
}

// ParseDelivered reads the server's envelope.
func ParseDelivered(b []byte) (Delivered, error) {
	r := reader{b: b}
	if v := r.byte(); r.err == nil && v != Version {
		return Delivered{}, ErrVersion
	}
	var m Delivered
	m.From = r.field()
	m.Topic = r.field()
	if r.err != nil {
		return Delivered{}, r.err
	}
	m.Payload = r.b
	return m, nil
}

// HeaderLen is the length of the server's envelope before the payload.
func HeaderLen(from, topic string) int { return 3 + len(from) + len(topic) }

// AppendDelivered appends the server's envelope and payload to dst. from
// and topic come from a parsed Outgoing and the server's own ids, so
// they fit; longer ones are an error of the caller and are cut.
func AppendDelivered(dst []byte, from, topic string, payload []byte) []byte {
	from, topic = from[:min(len(from), MaxField)], topic[:min(len(topic), MaxField)]
	dst = append(dst, Version, byte(len(from)))
	dst = append(dst, from...)
	dst = append(dst, byte(len(topic)))
	dst = append(dst, topic...)
	return append(dst, payload...)
}
