package cluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// openTimeout bounds the PING with which Open checks its connection.
const openTimeout = 5 * time.Second

// Open connects to the Redis deployment rawURL names and checks it answers
// a PING within ctx and 5 s. The forms:
//
//	redis://[user:pass@]host:port[/db]          one server (rediss:// for TLS)
//	redis://[user:pass@]h1:p1,h2:p2,h3:p3       Redis Cluster, seed nodes
//	redis://[user:pass@]h1:p1?addr=h2:p2&addr=h3:p3   the same (go-redis's form)
//	redis+cluster://[user:pass@]host:port       Redis Cluster from one seed
//	redis+sentinel://[user:pass@]s1:p1,s2:p2/master[/db]   Sentinel
//
// A missing port is 6379 (26379 for a sentinel). user:pass authenticate
// to the Redis servers; the sentinels' own credentials, if they need any,
// go in the query (sentinel_username, sentinel_password). Other query
// parameters are go-redis's (dial_timeout, read_timeout, pool_size, ...).
// Every call of the client honours its context's deadline (go-redis's
// ContextTimeoutEnabled), so a caller bounds how long it waits for an
// unreachable Redis. Errors match ErrBadURL for a URL that does not parse
// and ErrUnavailable for a deployment that does not answer; they never
// contain the password.
func Open(ctx context.Context, rawURL string) (redis.UniversalClient, error) {
	t, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	c := t.newClient()
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, wrapErr("open "+strings.Join(t.addrs(), ","), err)
	}
	return c, nil
}

// redisTarget is what a Redis URL names: exactly one of the three is set.
type redisTarget struct {
	single   *redis.Options
	cluster  *redis.ClusterOptions
	failover *redis.FailoverOptions
}

func (t redisTarget) newClient() redis.UniversalClient {
	switch {
	case t.cluster != nil:
		return redis.NewClusterClient(t.cluster)
	case t.failover != nil:
		return redis.NewFailoverClient(t.failover)
	}
	return redis.NewClient(t.single)
}

// addrs are the addresses the target starts from.
func (t redisTarget) addrs() []string {
	switch {
	case t.cluster != nil:
		return t.cluster.Addrs
	case t.failover != nil:
		return t.failover.SentinelAddrs
	}
	return []string{t.single.Addr}
}

// parseURL reads the forms Open documents. It normalises the custom ones
// (several hosts, +cluster, +sentinel) into the URLs go-redis parses, so
// that the query parameters mean what go-redis says they mean.
func parseURL(raw string) (redisTarget, error) {
	var secrets []string // never to appear in an error
	bad := func(format string, args ...any) (redisTarget, error) {
		msg := fmt.Sprintf(format, args...)
		for _, s := range secrets {
			if s != "" {
				msg = strings.ReplaceAll(msg, s, "xxxxx")
			}
		}
		return redisTarget{}, fmt.Errorf("%w: %s", ErrBadURL, msg)
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return bad("no scheme (redis://, rediss://, redis+cluster://, redis+sentinel://)")
	}
	base, mode, _ := strings.Cut(strings.ToLower(scheme), "+")
	if base != "redis" && base != "rediss" || mode != "" && mode != "cluster" && mode != "sentinel" {
		return bad("unknown scheme (redis://, rediss://, redis+cluster://, redis+sentinel://)")
	}
	if strings.Contains(rest, "#") {
		return bad("a fragment (#) has no meaning here; escape '#' in a password as %%23")
	}
	rest, rawQuery, _ := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	var user *url.Userinfo
	hostList := authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		hostList = authority[i+1:]
		name, pass, hasPass := strings.Cut(authority[:i], ":")
		secrets = append(secrets, pass)
		var err error
		if name, err = url.PathUnescape(name); err != nil {
			return bad("bad escape in the user name")
		}
		if pass, err = url.PathUnescape(pass); err != nil {
			return bad("bad escape in the password")
		}
		secrets = append(secrets, pass)
		user = url.User(name)
		if hasPass {
			user = url.UserPassword(name, pass)
		}
	}
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return bad("query: %v", err)
	}
	secrets = append(secrets, query.Get("sentinel_password"), query.Get("password"))
	port := "6379"
	if mode == "sentinel" {
		port = "26379"
	}
	var hosts []string
	for _, h := range strings.Split(hostList, ",") {
		a, err := normalizeAddr(h, port)
		if err != nil {
			return bad("%v", err)
		}
		hosts = append(hosts, a)
	}
	for _, h := range query["addr"] {
		if _, err := normalizeAddr(h, port); err != nil {
			return bad("addr parameter: %v", err)
		}
	}
	u := url.URL{Scheme: base, User: user, Host: hosts[0]}
	switch {
	case mode == "sentinel":
		t, err := sentinelTarget(u, hosts[1:], path, query)
		if err != nil {
			return bad("%v", err)
		}
		return t, nil
	case mode == "cluster" || len(hosts) > 1 || query.Has("addr"):
		if path != "" && path != "0" {
			return bad("Redis Cluster has only database 0, not %q", path)
		}
		for _, h := range hosts[1:] {
			query.Add("addr", h)
		}
		u.RawQuery = query.Encode()
		o, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return bad("%v", err)
		}
		if o.TLSConfig != nil {
			// Each node is checked against its own name.
			o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		o.ContextTimeoutEnabled = true
		return redisTarget{cluster: o}, nil
	}
	u.Path, u.RawQuery = "/"+path, query.Encode()
	o, err := redis.ParseURL(u.String())
	if err != nil {
		return bad("%v", err)
	}
	o.ContextTimeoutEnabled = true
	return redisTarget{single: o}, nil
}

// sentinelTarget builds the Sentinel form: u holds the scheme, the first
// sentinel and the servers' credentials; more are further sentinels; path
// is "master[/db]".
func sentinelTarget(u url.URL, more []string, path string, query url.Values) (redisTarget, error) {
	master, db, _ := strings.Cut(path, "/")
	master, err := url.PathUnescape(master)
	if err != nil || master == "" {
		return redisTarget{}, fmt.Errorf("the path must name the master: /master[/db]")
	}
	if strings.Contains(db, "/") {
		return redisTarget{}, fmt.Errorf("the path is /master[/db], it has more")
	}
	for _, k := range []string{"master_name", "username", "password"} {
		if query.Has(k) {
			return redisTarget{}, fmt.Errorf("parameter %s: give it in the path or before the host", k)
		}
	}
	if u.User != nil {
		query.Set("username", u.User.Username())
		if p, ok := u.User.Password(); ok {
			query.Set("password", p)
		}
	}
	// go-redis's form: the sentinels' credentials before the host.
	u.User = nil
	if name, pass := query.Get("sentinel_username"), query.Get("sentinel_password"); name != "" || pass != "" {
		u.User = url.UserPassword(name, pass)
	}
	query.Del("sentinel_username")
	query.Del("sentinel_password")
	query.Set("master_name", master)
	for _, h := range more {
		query.Add("addr", h)
	}
	if db != "" {
		u.Path = "/" + db
	}
	u.RawQuery = query.Encode()
	o, err := redis.ParseFailoverURL(u.String())
	if err != nil {
		return redisTarget{}, err
	}
	if o.TLSConfig != nil {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.TLSConfig.InsecureSkipVerify}
	}
	if !query.Has("context_timeout_enabled") {
		o.ContextTimeoutEnabled = true
	}
	return redisTarget{failover: o}, nil
}

// normalizeAddr checks one host[:port] ("[v6]:port" for IPv6) and returns
// it as host:port, with port when it has none.
func normalizeAddr(s, port string) (string, error) {
	host := s
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return "", fmt.Errorf("address %q: unclosed '['", s)
		}
		host = s[1:end]
		if rest := s[end+1:]; rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return "", fmt.Errorf("address %q: junk after ']'", s)
			}
			port = p
		}
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return "", fmt.Errorf("address %q: not an IPv6 address in brackets", s)
		}
	} else if i := strings.LastIndex(s, ":"); i >= 0 {
		host, port = s[:i], s[i+1:]
		if strings.Contains(host, ":") {
			return "", fmt.Errorf("address %q: an IPv6 address needs brackets", s)
		}
	}
	if !validHost(host) {
		return "", fmt.Errorf("address %q: bad host name", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port != strconv.Itoa(n) {
		return "", fmt.Errorf("address %q: port must be 1-65535", s)
	}
	return net.JoinHostPort(host, port), nil
}

// validHost accepts an IP address or a DNS name of letters, digits, '-',
// '_' and '.'.
func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
