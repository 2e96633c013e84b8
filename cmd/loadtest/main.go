// Command loadtest drives synthetic participants against one or more SFU
// nodes and reports what they experienced. See loadtest/ and BENCHMARKS.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// urls collects a repeated --url flag.
type urls []string

func (u *urls) String() string     { return strings.Join(*u, ",") }
func (u *urls) Set(s string) error { *u = append(*u, s); return nil }

// run is main without the exit: 0 when the run met its thresholds, 1 when
// it did not, 2 on bad usage or when it could not run.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		us          urls
		rooms       = fs.Int("rooms", 1, "rooms to spread participants over")
		pubs        = fs.Int("publishers", 1, "publishers (audio + video each)")
		subs        = fs.Int("subscribers", 10, "subscribers (receive everything in their room)")
		duration    = fs.Duration("duration", 30*time.Second, "how long the run lasts; it stops by itself")
		audioOnly   = fs.Bool("audio-only", false, "publish audio only")
		p2p         = fs.Bool("p2p", false, "two-party calls: each of --rooms holds two callers who publish, receive each other and go peer to peer where the server allows it (sfu.p2p.enabled); --publishers, --subscribers and --ramp do not apply")
		simulcast   = fs.Bool("simulcast", true, "publish three simulcast layers")
		spread      = fs.Bool("spread", false, "spread participants, not rooms, over the --url nodes (a cluster: every node a front door)")
		layer       = fs.String("layer", "", "what subscribers ask for: low, mid or high (default: what the SFU chooses)")
		ramp        = fs.String("ramp", "", "ramp mode STEP/INTERVAL, e.g. 10/5s: add STEP subscribers every INTERVAL until a step loses > 1% or the p99 latency of its packets > 200 ms")
		key         = fs.String("key", "", "API key to sign tokens with (default: the server's development mode /api/token)")
		secret      = fs.String("secret", "", "API secret for --key")
		metricsTok  = fs.String("metrics-token", "", "bearer token for the servers' /metrics (default with --key/--secret: an admin token signed with them)")
		maxLoss     = fs.Float64("max-loss", 0, "fail if packet loss after repair exceeds this percentage (0: not checked)")
		maxJoin     = fs.Float64("max-join-ms", 0, "fail if any join takes longer, in ms (0: not checked)")
		jsonPath    = fs.String("json", "", "write the JSON report here")
		plotPath    = fs.String("plot", "", "write a PNG plot of the run here")
		loopback    = fs.Bool("loopback", true, "use only 127.0.0.1 for media (a server on this machine)")
		roomPrefix  = fs.String("room-prefix", "", "room name prefix (default load-UNIXTIME)")
		quietOutput = fs.Bool("quiet", false, "no progress line every second")
		cpuProfile  = fs.String("cpuprofile", "", "write the harness's own CPU profile here (go tool pprof)")
		reconnect   = fs.Bool("reconnect", true, "rejoin, as the web client does, when a connection ends before the run (not after 4409 replaced or a refused token), on the next --url in turn")
		backoff     = fs.String("backoff", "500ms/10s", "FIRST/MAX: wait about FIRST before a rejoin or retry, doubling up to MAX, with jitter")
		chatEvery   = fs.Duration("chat-every", 0, "every participant sends a chat message to its room this often, e.g. 5s; the report gives the chat's delivery and latency (0: no chat; the server takes 5 a second after a burst of 10)")
		dataEvery   = fs.Duration("data-every", 0, "every participant sends its room application data (a data channel message of topic \"load\") this often; the report gives its delivery and latency (0: none; the server takes 500 a second from one sender)")
		dataLossy   = fs.Bool("data-lossy", false, "send --data-every on the lossy channel (losses reported, not failed)")
		idle        = fs.Duration("idle-timeout", loadtest.DefaultIdleTimeout, "give a connection up when nothing, not even a ping, came from its node for this long (0: never); must exceed the server's ping_interval")
	)
	fs.Var(&us, "url", "server WebSocket URL, e.g. ws://127.0.0.1:7880/ws; repeat to spread over nodes")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(us) == 0 {
		us = urls{"ws://127.0.0.1:7880/ws"}
	}
	cfg := loadtest.RunConfig{
		URLs: us, Rooms: *rooms, Publishers: *pubs, Subscribers: *subs, Duration: *duration,
		AudioOnly: *audioOnly, Simulcast: *simulcast, LoopbackOnly: *loopback, RoomPrefix: *roomPrefix,
		SpreadParticipants: *spread, P2P: *p2p, ChatEvery: *chatEvery,
		DataEvery: *dataEvery, DataLossy: *dataLossy,
		Thresholds: loadtest.Thresholds{MaxLossPct: *maxLoss, MaxJoinMS: *maxJoin},
	}
	if err := parseLayer(*layer, &cfg); err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return 2
	}
	if *p2p && *ramp != "" {
		fmt.Fprintln(stderr, "loadtest: --p2p runs have no --ramp")
		return 2
	}
	if err := parseRamp(*ramp, &cfg); err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return 2
	}
	if err := parseBackoff(*backoff, &cfg); err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return 2
	}
	cfg.NoReconnect = !*reconnect
	cfg.IdleTimeout = *idle
	if *idle == 0 {
		cfg.IdleTimeout = -1 // never
	}
	if (*key == "") != (*secret == "") {
		fmt.Fprintln(stderr, "loadtest: --key and --secret go together")
		return 2
	}
	if *rooms <= 0 || *pubs < 0 || *subs < 0 || *duration <= 0 {
		fmt.Fprintln(stderr, "loadtest: rooms and duration must be positive, counts not negative")
		return 2
	}
	cfg.Token = tokenSource(*key, *secret)
	cfg.MetricsToken = *metricsTok
	if cfg.MetricsToken == "" && *key != "" {
		tok, err := adminToken(*key, *secret, *duration)
		if err != nil {
			fmt.Fprintln(stderr, "loadtest:", err)
			return 2
		}
		cfg.MetricsToken = tok
	}
	if !*quietOutput {
		cfg.Progress = func(line string) { fmt.Fprintln(stderr, line) }
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "loadtest: cpuprofile:", err)
			return 2
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	report, err := loadtest.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return 2
	}
	report.WriteTable(stdout)
	if *jsonPath != "" {
		data, err := json.MarshalIndent(report, "", "  ")
		if err == nil {
			err = os.WriteFile(*jsonPath, append(data, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(stderr, "loadtest: json:", err)
			return 2
		}
	}
	if *plotPath != "" {
		if err := loadtest.WritePlot(*plotPath, report.Samples, fmt.Sprintf("%d publishers, %d subscribers", report.Publishers, report.Subscribers)); err != nil {
			fmt.Fprintln(stderr, "loadtest: plot:", err)
			return 2
		}
	}
	if !report.Passed {
		for _, f := range report.Failures {
			fmt.Fprintln(stderr, "loadtest: failed:", f)
		}
		return 1
	}
	return 0
}

func parseLayer(s string, cfg *loadtest.RunConfig) error {
	var l int
	switch s {
	case "":
		return nil
	case "low":
		l = 0
	case "mid":
		l = 1
	case "high":
		l = 2
	default:
		return fmt.Errorf("--layer %q: want low, mid or high", s)
	}
	cfg.MaxLayer = &l
	return nil
}

func parseRamp(s string, cfg *loadtest.RunConfig) error {
	if s == "" {
		return nil
	}
	step, every, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(step)
	if !ok || err != nil || n <= 0 {
		return fmt.Errorf("--ramp %q: want STEP/INTERVAL, e.g. 10/5s", s)
	}
	d, err := time.ParseDuration(every)
	if err != nil || d < time.Second {
		return fmt.Errorf("--ramp %q: the interval must be a duration of at least 1s", s)
	}
	cfg.RampStep, cfg.RampEvery = n, d
	return nil
}

func parseBackoff(s string, cfg *loadtest.RunConfig) error {
	first, maxWait, ok := strings.Cut(s, "/")
	f, err1 := time.ParseDuration(first)
	m, err2 := time.ParseDuration(maxWait)
	if !ok || err1 != nil || err2 != nil || f <= 0 || m < f {
		return fmt.Errorf("--backoff %q: want FIRST/MAX, two durations with 0 < FIRST <= MAX, e.g. 500ms/10s", s)
	}
	cfg.Backoff = loadtest.Backoff{First: f, Max: m}
	return nil
}

// adminToken signs a token with the admin grant that outlasts a run of
// length d, within the servers' default token lifetime limit, so that the
// harness can read /metrics from a node with keys.
func adminToken(key, secret string, d time.Duration) (string, error) {
	ttl := min(d+10*time.Minute, signaling.Default().MaxTokenLifetime)
	return signaling.Keys{key: secret}.Mint(key, signaling.TokenRequest{
		Room: "loadtest-metrics", Identity: "loadtest", Grants: signaling.Grants{Admin: true}, TTL: ttl,
	}, time.Now())
}

// tokenSource signs tokens with key and secret, or asks the server's
// development endpoint for them.
func tokenSource(key, secret string) func(ctx context.Context, wsURL, room, identity string) (string, error) {
	if key != "" {
		keys := signaling.Keys{key: secret}
		return func(_ context.Context, _, room, identity string) (string, error) {
			return keys.Mint(key, signaling.TokenRequest{
				Room: room, Identity: identity, Name: identity,
				Grants: signaling.Grants{Publish: true, Subscribe: true}, TTL: time.Hour,
			}, time.Now())
		}
	}
	return func(ctx context.Context, wsURL, room, identity string) (string, error) {
		u, err := url.Parse(wsURL)
		if err != nil {
			return "", err
		}
		u.Scheme = strings.Replace(u.Scheme, "ws", "http", 1)
		u.Path = "/api/token"
		u.RawQuery = url.Values{"room": {room}, "name": {identity}}.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return "", err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var body struct{ Token, Error string }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return "", fmt.Errorf("token from %s: %w", u.Host, err)
		}
		if resp.StatusCode != http.StatusOK || body.Token == "" {
			return "", errors.New("token from " + u.Host + ": " + resp.Status + " " + body.Error + " (is the server in development mode? else use --key/--secret)")
		}
		return body.Token, nil
	}
}
