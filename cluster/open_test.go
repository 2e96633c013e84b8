package cluster

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sfu-project/sfu/internal/redistest"
)

// secret is the password in the URLs below; no error may show it.
const secret = "s3cr3t-pw"

// urlCase is one URL and what parseURL must make of it.
type urlCase struct {
	url   string
	check func(t *testing.T, got redisTarget) // nil for a URL that must be refused
}

func single(addr string, db int, user, pass string, tls bool) func(*testing.T, redisTarget) {
	return func(t *testing.T, got redisTarget) {
		o := got.single
		if o == nil {
			t.Fatalf("not a single server: %+v", got)
		}
		if o.Addr != addr || o.DB != db || o.Username != user || o.Password != pass || (o.TLSConfig != nil) != tls {
			t.Fatalf("got addr %s db %d user %q pass %q TLS %v; want %s %d %q %q %v", o.Addr, o.DB, o.Username, o.Password, o.TLSConfig != nil, addr, db, user, pass, tls)
		}
	}
}

func clusterOf(pass string, tls bool, addrs ...string) func(*testing.T, redisTarget) {
	return func(t *testing.T, got redisTarget) {
		o := got.cluster
		if o == nil {
			t.Fatalf("not a cluster: %+v", got)
		}
		if strings.Join(o.Addrs, ",") != strings.Join(addrs, ",") || o.Password != pass || (o.TLSConfig != nil) != tls {
			t.Fatalf("got %v pass %q TLS %v; want %v %q %v", o.Addrs, o.Password, o.TLSConfig != nil, addrs, pass, tls)
		}
		if tls && o.TLSConfig.ServerName != "" {
			t.Fatalf("cluster TLS pinned to server name %q: the other nodes would fail verification", o.TLSConfig.ServerName)
		}
	}
}

func sentinelOf(master string, db int, pass, sentinelPass string, addrs ...string) func(*testing.T, redisTarget) {
	return func(t *testing.T, got redisTarget) {
		o := got.failover
		if o == nil {
			t.Fatalf("not Sentinel: %+v", got)
		}
		if o.MasterName != master || o.DB != db || o.Password != pass || o.SentinelPassword != sentinelPass || strings.Join(o.SentinelAddrs, ",") != strings.Join(addrs, ",") {
			t.Fatalf("got master %q db %d pass %q sentinel pass %q sentinels %v", o.MasterName, o.DB, o.Password, o.SentinelPassword, o.SentinelAddrs)
		}
	}
}

var urlCases = []urlCase{
	{"redis://127.0.0.1:6379", single("127.0.0.1:6379", 0, "", "", false)},
	{"redis://localhost", single("localhost:6379", 0, "", "", false)},
	{"REDIS://Host-1.example:7000/", single("Host-1.example:7000", 0, "", "", false)},
	{"redis://app:p%40ss:w@10.0.0.1:6380/3", single("10.0.0.1:6380", 3, "app", "p@ss:w", false)},
	{"redis://:" + secret + "@[::1]:7000/0", single("[::1]:7000", 0, "", secret, false)},
	{"rediss://redis.example.com:6380/1", func(t *testing.T, got redisTarget) {
		single("redis.example.com:6380", 1, "", "", true)(t, got)
		if got.single.TLSConfig.ServerName != "redis.example.com" {
			t.Fatalf("TLS server name %q", got.single.TLSConfig.ServerName)
		}
	}},
	{"redis://h:1?dial_timeout=2s&pool_size=7", func(t *testing.T, got redisTarget) {
		if got.single == nil || got.single.DialTimeout != 2*time.Second || got.single.PoolSize != 7 {
			t.Fatalf("options not applied: %+v", got.single)
		}
	}},
	{"redis://h1:7000,h2:7001,h3:7002", clusterOf("", false, "h1:7000", "h2:7001", "h3:7002")},
	{"redis://u:pw@h1:7000?addr=h2:7001&addr=h3:7002", clusterOf("pw", false, "h1:7000", "h2:7001", "h3:7002")},
	{"redis://h1:7000,h2:7001?addr=h3:7002", clusterOf("", false, "h1:7000", "h3:7002", "h2:7001")},
	{"redis+cluster://h1:7000", clusterOf("", false, "h1:7000")},
	{"redis://h1,h2/0", clusterOf("", false, "h1:6379", "h2:6379")},
	{"rediss://:pw@h1:7000,h2:7001", clusterOf("pw", true, "h1:7000", "h2:7001")},
	{"redis+sentinel://:pw@s1:26379,s2:26380/mymaster", sentinelOf("mymaster", 0, "pw", "", "s1:26379", "s2:26380")},
	{"redis+sentinel://s1:26379/my%20master/2?sentinel_password=sp", sentinelOf("my master", 2, "", "sp", "s1:26379")},
	{"rediss+sentinel://s1/m", sentinelOf("m", 0, "", "", "s1:26379")},
	{"redis+sentinel://s1,s2:26380/m", sentinelOf("m", 0, "", "", "s1:26379", "s2:26380")},

	{"", nil},
	{"localhost:6379", nil},
	{"http://h:1", nil},
	{"unix:///tmp/redis.sock", nil},
	{"redis+pool://h:1", nil},
	{"redis://", nil},
	{"redis://:" + secret + "@/0", nil},
	{"redis://:" + secret + "@h:0", nil},
	{"redis://:" + secret + "@h:65536", nil},
	{"redis://:" + secret + "@h:port", nil},
	{"redis://:" + secret + "@h:+1", nil},
	{"redis://h1:1,,h2:2", nil},
	{"redis://::1:6379", nil},
	{"redis://[::1", nil},
	{"redis://[::1]x", nil},
	{"redis://[10.0.0.1]:1", nil},
	{"redis://h x:1", nil},
	{"redis://h%20x:1", nil},
	{"redis://:" + secret + "@h:1/x", nil},
	{"redis://:" + secret + "@h:1/1/2", nil},
	{"redis://:" + secret + "@h1:1,h2:2/3", nil},
	{"redis+cluster://h:1/1", nil},
	{"redis+sentinel://:" + secret + "@s:1", nil},
	{"redis+sentinel://s:1/", nil},
	{"redis+sentinel://s:1/m/1/2", nil},
	{"redis+sentinel://s:1/m/x", nil},
	{"redis+sentinel://s:1/m?master_name=n", nil},
	{"redis+sentinel://u:" + secret + "@s:1/m?password=p", nil},
	{"redis://:" + secret + "@h:1?nope=1", nil},
	{"redis://:" + secret + "@h:1?dial_timeout=soon", nil},
	{"redis://:" + secret + "@h:1?%zz", nil},
	{"redis://:" + secret + "@h:1#frag", nil},
	{"redis://:" + secret + "@h:1?addr=nohostport:", nil},
	{"redis://us%zz:" + secret + "@h:1", nil},
	{"redis://u:" + secret + "%zz@h:1", nil},
}

func TestParseURL(t *testing.T) {
	for _, tc := range urlCases {
		t.Run(tc.url, func(t *testing.T) {
			got, err := parseURL(tc.url)
			if tc.check == nil {
				if !errors.Is(err, ErrBadURL) {
					t.Fatalf("err = %v, want ErrBadURL", err)
				}
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, got)
			if got.single != nil && !got.single.ContextTimeoutEnabled || got.cluster != nil && !got.cluster.ContextTimeoutEnabled ||
				got.failover != nil && !got.failover.ContextTimeoutEnabled {
				t.Fatal("calls would not honour their context's deadline")
			}
		})
	}
}

func TestOpenStandalone(t *testing.T) {
	s := redistest.Start(t, "--requirepass", secret)
	c, err := Open(ctx, "redis://:"+secret+"@"+s.Addr+"/2")
	must(t, err)
	defer c.Close()
	if _, ok := c.(*redis.Client); !ok {
		t.Fatalf("client %T, want *redis.Client", c)
	}
	must(t, c.Set(ctx, "k", "v", 0).Err())
	info, err := c.ClientInfo(ctx).Result()
	must(t, err)
	if info.DB != 2 {
		t.Fatalf("connected to database %d, want 2", info.DB)
	}
	// A wrong password is Redis refusing, not Redis unavailable.
	_, err = Open(ctx, "redis://:wrong-"+secret+"@"+s.Addr)
	if err == nil || errors.Is(err, ErrUnavailable) || strings.Contains(err.Error(), secret) {
		t.Fatalf("Open with a wrong password: %v", err)
	}
	// Nobody there.
	s.Stop()
	_, err = Open(ctx, "redis://:"+secret+"@"+s.Addr)
	errorsIs(t, "Open with the server down", err, ErrUnavailable)
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("the error shows the password: %v", err)
	}
}

func TestOpenCluster(t *testing.T) {
	addrs := redistest.Cluster(t)
	for _, u := range []string{
		"redis://" + strings.Join(addrs, ","),
		"redis://" + addrs[0] + "?addr=" + addrs[1] + "&addr=" + addrs[2],
		"redis+cluster://" + addrs[1],
	} {
		c, err := Open(ctx, u)
		must(t, err)
		if _, ok := c.(*redis.ClusterClient); !ok {
			t.Fatalf("%s: client %T, want *redis.ClusterClient", u, c)
		}
		// Keys all over the slots, so every master is used.
		for i := range 50 {
			must(t, c.Set(ctx, fmt.Sprintf("k%d", i), i, time.Minute).Err())
		}
		c.Close()
	}
}

func TestOpenSentinel(t *testing.T) {
	master := redistest.Start(t)
	sentinel := redistest.Sentinel(t, master, "main")
	c, err := Open(ctx, "redis+sentinel://"+sentinel+"/main/1")
	must(t, err)
	defer c.Close()
	must(t, c.Set(ctx, "through-sentinel", "yes", 0).Err())
	direct := redis.NewClient(&redis.Options{Addr: master.Addr, DB: 1})
	defer direct.Close()
	if v, err := direct.Get(ctx, "through-sentinel").Result(); err != nil || v != "yes" {
		t.Fatalf("the master's database 1 has %q, %v", v, err)
	}
}

func FuzzOpenURL(f *testing.F) {
	for _, tc := range urlCases {
		f.Add(tc.url)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := parseURL(raw)
		if err != nil {
			if !errors.Is(err, ErrBadURL) {
				t.Fatalf("error %v does not match ErrBadURL", err)
			}
			if pass := urlPassword(raw); len(pass) >= 6 && strings.Contains(err.Error(), pass) {
				t.Fatalf("the error shows the password %q: %v", pass, err)
			}
			return
		}
		set := 0
		for _, p := range []bool{got.single != nil, got.cluster != nil, got.failover != nil} {
			if p {
				set++
			}
		}
		if set != 1 {
			t.Fatalf("%d targets set", set)
		}
		addrs := got.addrs()
		if len(addrs) == 0 {
			t.Fatal("no address")
		}
		for _, a := range addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				t.Fatalf("address %q: %v", a, err)
			}
		}
	})
}

// urlPassword is the password as written in raw, "" if it has none.
func urlPassword(raw string) string {
	_, rest, _ := strings.Cut(raw, "://")
	authority, _, _ := strings.Cut(rest, "/")
	authority, _, _ = strings.Cut(authority, "?")
	i := strings.LastIndex(authority, "@")
	if i < 0 {
		return ""
	}
	_, pass, _ := strings.Cut(authority[:i], ":")
	return pass
}
