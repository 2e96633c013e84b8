package node

import (
	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signaling"
)

// Option changes how New assembles a node.
type Option func(*options)

type options struct {
	backend func(*sfu.SFU) signaling.Backend
}

// WithBackend makes the signaling server reach the media core through
// the Backend that backend builds around the node's SFU, instead of
// signaling.LocalBackend. New calls it once; if the Backend is an
// io.Closer, Shutdown closes it after the signaling server.
func WithBackend(backend func(*sfu.SFU) signaling.Backend) Option {
	return func(o *options) { o.backend = backend }
}
