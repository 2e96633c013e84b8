package cluster

import "errors"

// ErrUnavailable, the error every caller checks for, is declared with the
// contract in cluster.go.

var (
	// ErrInvalid is returned for an argument no implementation accepts:
	// an empty room, node or member ID, a TTL under a millisecond, or a
	// key prefix that would break Redis Cluster hash tags.
	ErrInvalid = errors.New("cluster: invalid argument")
	// ErrBadURL is returned by Open for a Redis URL it cannot parse. The
	// message never repeats the URL's password.
	ErrBadURL = errors.New("cluster: bad Redis URL")
)
