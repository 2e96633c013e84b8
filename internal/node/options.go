package node

import "github.com/sfu-project/sfu/cluster"

// Option changes how New assembles a node.
type Option func(*options)

type options struct {
	store *cluster.Store // nil: the one the configuration names
}
