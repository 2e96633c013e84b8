package cluster

import (
	"fmt"
	"time"
)

// The checks both implementations apply to their arguments, so that the
// in-process store refuses exactly what Redis would.

func checkName(what, s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	}
	return nil
}

// checkTTL refuses a TTL Redis cannot express (PX takes whole
// milliseconds, at least one).
func checkTTL(ttl time.Duration) error {
	if ttl < time.Millisecond {
		return fmt.Errorf("%w: ttl %s under 1ms", ErrInvalid, ttl)
	}
	return nil
}

func checkRoomNode(room, node string) error {
	if err := checkName("room", room); err != nil {
		return err
	}
	return checkName("node", node)
}

func checkMember(room string, m Member) error {
	if err := checkName("room", room); err != nil {
		return err
	}
	if err := checkName("member id", m.ID); err != nil {
		return err
	}
	return checkName("member node", m.Node)
}
