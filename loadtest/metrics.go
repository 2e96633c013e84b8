package loadtest

// Reading a server's Prometheus /metrics: the process and packet counters
// the harness reports as the server's cost.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// MetricsStats are the figures ScrapeMetrics reads from a server's
// Prometheus exposition; each sums every series of its name.
type MetricsStats struct {
	CPUSeconds       float64 // process_cpu_seconds_total
	RSSBytes         int64   // process_resident_memory_bytes
	PacketsForwarded float64 // sfu_rtp_packets_forwarded_total
	PacketsReceived  float64 // sfu_rtp_packets_received_total
}

// ScrapeMetrics fetches url, a Prometheus text exposition, and reads the
// process and packet counters from it.
// A token, if not empty, is sent as a bearer token.
func ScrapeMetrics(ctx context.Context, url, token string) (MetricsStats, error) {
	return scrapeMetrics(ctx, http.DefaultClient, url, token)
}

func scrapeMetrics(ctx context.Context, client *http.Client, url, token string) (MetricsStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return MetricsStats{}, fmt.Errorf("loadtest: metrics: %w", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// The classic text format: never protobuf or OpenMetrics.
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return MetricsStats{}, fmt.Errorf("loadtest: metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return MetricsStats{}, fmt.Errorf("loadtest: metrics: GET %s: %s", url, resp.Status)
	}
	m, err := parseMetrics(resp.Body)
	if err != nil {
		return MetricsStats{}, fmt.Errorf("loadtest: metrics: %s: %w", url, err)
	}
	return m, nil
}

// parseMetrics reads the four series MetricsStats holds from a Prometheus
// text exposition, summing the series of each name over their labels.
func parseMetrics(r io.Reader) (MetricsStats, error) {
	var m MetricsStats
	var rss float64
	sums := map[string]*float64{
		"process_cpu_seconds_total":       &m.CPUSeconds,
		"process_resident_memory_bytes":   &rss,
		"sfu_rtp_packets_forwarded_total": &m.PacketsForwarded,
		"sfu_rtp_packets_received_total":  &m.PacketsReceived,
	}
	found := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, value, ok := parseSample(line)
		if sum := sums[name]; ok && sum != nil {
			*sum += value
			found = true
		}
	}
	if err := sc.Err(); err != nil {
		return MetricsStats{}, err
	}
	if !found {
		return MetricsStats{}, ErrNoMetrics
	}
	m.RSSBytes = int64(rss)
	return m, nil
}

// parseSample splits `name{label="value",...} 1.5e+06 [timestamp]`.
func parseSample(line string) (name string, value float64, ok bool) {
	end := strings.IndexAny(line, "{ \t")
	if end <= 0 {
		return "", 0, false
	}
	name, rest := line[:end], line[end:]
	if rest[0] == '{' {
		n := labelsLen(rest)
		if n < 0 {
			return "", 0, false
		}
		rest = rest[n:]
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", 0, false
	}
	value, err := strconv.ParseFloat(fields[0], 64)
	return name, value, err == nil
}

// labelsLen is the length of the label set s starts with, braces
// included; a label value may hold '}' and escaped quotes.
func labelsLen(s string) int {
	quoted := false
	for i := 1; i < len(s); i++ {
		switch {
		case quoted && s[i] == '\\':
			i++
		case s[i] == '"':
			quoted = !quoted
		case !quoted && s[i] == '}':
			return i + 1
		}
	}
	return -1
}

// MetricsURL derives a server's /metrics address from its WebSocket URL:
// ws://host:port/ws becomes http://host:port/metrics, wss gives https.
func MetricsURL(wsURL string) (string, error) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return "", fmt.Errorf("loadtest: %w", err)
	}
	switch u.Scheme {
	case "ws", "http":
		u.Scheme = "http"
	case "wss", "https":
		u.Scheme = "https"
	default:
		return "", fmt.Errorf("loadtest: %q: not a ws, wss, http or https URL", wsURL)
	}
	dir := path.Dir(u.Path)
	if dir == "." {
		dir = "/"
	}
	u.Path, u.RawPath, u.RawQuery, u.Fragment = path.Join(dir, "metrics"), "", "", ""
	return u.String(), nil
}
