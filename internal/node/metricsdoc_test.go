package node_test

import (
	"os"
	"strings"
	"testing"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
)

// TestEveryMetricDocumented: README.md names every metric a node with
// the TURN server serves (the Go runtime's and the process's aside).
func TestEveryMetricDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	n := nodetest.Start(t, func(c *node.Config) {
		c.TURN.Enabled, c.TURN.UDPPort, c.TURN.TCPPort, c.TURN.TLSPort = true, 0, 0, -1
	})
	names := n.MetricNames()
	if len(names) < 30 {
		t.Fatalf("%d metrics found (%q), want the node's", len(names), names)
	}
	for _, name := range names {
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			continue
		}
		if !strings.Contains(string(readme), name) {
			t.Errorf("README.md does not name the metric %s", name)
		}
	}
}
