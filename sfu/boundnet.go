package sfu

import (
	"fmt"
	"net"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// boundNet is the host's network as pion sees it, reduced to one address:
// pion gathers host candidates from the addresses of the interfaces, and
// a node whose media is bound to an address that no interface lists as
// its own (127.0.0.2 on a loopback interface that lists 127.0.0.0/8 as
// 127.0.0.1, as when several nodes share one machine) would otherwise
// offer none, or the wrong one, on its connections with sockets of their
// own (relays).
type boundNet struct {
	*stdnet.Net
	ifc *transport.Interface
}

// newBoundNet is the network with ip as its only address.
func newBoundNet(ip net.IP) (*boundNet, error) {
	std, err := stdnet.NewNet()
	if err != nil {
		return nil, fmt.Errorf("sfu: network: %w", err)
	}
	ifc := transport.NewInterface(net.Interface{Index: 1, MTU: 1500, Name: "bound", Flags: net.FlagUp})
	bits := 8 * len(ip.To4())
	if bits == 0 {
		bits = 128
	}
	ifc.AddAddress(&net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
	return &boundNet{Net: std, ifc: ifc}, nil
}

// Interfaces implements transport.Net.
func (n *boundNet) Interfaces() ([]*transport.Interface, error) {
	return []*transport.Interface{n.ifc}, nil
}

// InterfaceByIndex implements transport.Net.
func (n *boundNet) InterfaceByIndex(index int) (*transport.Interface, error) {
	if index != 1 {
		return nil, fmt.Errorf("sfu: no interface %d", index)
	}
	return n.ifc, nil
}

// InterfaceByName implements transport.Net.
func (n *boundNet) InterfaceByName(name string) (*transport.Interface, error) {
	if name != "bound" {
		return nil, fmt.Errorf("sfu: no interface %q", name)
	}
	return n.ifc, nil
}
