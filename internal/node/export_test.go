package node

import (
	"regexp"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
)

// descName finds a metric's name in its description's text, the only
// place the client library gives it.
var descName = regexp.MustCompile(`fqName: "([^"]+)"`)

// MetricNames lists the names of the metrics n serves, sorted.
func (n *Node) MetricNames() []string {
	ch := make(chan *prometheus.Desc)
	go func() {
		for _, c := range n.metrics.collectors {
			c.Describe(ch)
		}
		close(ch)
	}()
	seen := map[string]bool{}
	for d := range ch {
		if m := descName.FindStringSubmatch(d.String()); m != nil {
			seen[m[1]] = true
		}
	}
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
