package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/signaling"
)

// runToken implements `sfu token`: it prints a signed access token.
func runToken(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sfu token", flag.ContinueOnError)
	setUsage(fs, os.Stderr, tokenUsage)
	room := fs.String("room", "", "room name (required, except with --admin)")
	identity := fs.String("identity", "", "user identity (required)")
	name := fs.String("name", "", "display name (default: the identity)")
	publish := fs.Bool("publish", true, "may publish media")
	subscribe := fs.Bool("subscribe", true, "may receive media")
	p2p := fs.Bool("p2p", true, "calls of two may go peer to peer (false: the server carries them)")
	data := fs.Bool("data", true, "may send chat and application data (false: receives them only)")
	admin := fs.Bool("admin", false, "may use operator endpoints (/debug/rooms/NAME, /debug/pprof/)")
	ttl := fs.Duration("ttl", node.DefaultTokenTTL, "validity, at most the server's max_token_lifetime")
	config := fs.String("config", os.Getenv("SFU_CONFIG"), "the server's YAML file, for its max_token_lifetime (env SFU_CONFIG)")
	keys := fs.String("keys", os.Getenv("SFU_KEYS"), "API keys key:secret[,...] (env SFU_KEYS)")
	kid := fs.String("key", "", "which key signs (default: the first by name)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *identity == "":
		return errors.New("token: --identity is required")
	case *room == "" && !*admin:
		return errors.New("token: --room is required, except for an operator's token (--admin)")
	case *room == "":
		// An operator's token for the endpoints only: it joins no room.
		*publish, *subscribe, *data = false, false, false
	}
	cfg, err := node.LoadConfig(*config)
	if err != nil {
		return err
	}
	switch limit := cfg.Signaling.MaxTokenLifetime; {
	case *ttl <= 0:
		return fmt.Errorf("token: --ttl %s: want a positive duration", *ttl)
	case *ttl > limit:
		// The server would refuse it (token_lifetime_too_long).
		return fmt.Errorf("token: --ttl %s is over the server's max_token_lifetime of %s; the token would be refused (raise signaling.max_token_lifetime and pass --config to go further)", *ttl, limit)
	}
	if *keys == "" {
		return errors.New("token: no API keys: pass --keys key:secret or set SFU_KEYS")
	}
	ks, err := signaling.ParseKeys(*keys)
	if err != nil {
		return err
	}
	if *kid == "" {
		ids := make([]string, 0, len(ks))
		for id := range ks {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		*kid = ids[0]
	}
	if *name == "" {
		*name = *identity
	}
	grants := signaling.Grants{Publish: *publish, Subscribe: *subscribe, Admin: *admin}
	if !*p2p {
		grants.P2P = p2p // the claim is left out when true, its default
	}
	if !*data {
		grants.Data = data
	}
	tok, err := ks.Mint(*kid, signaling.TokenRequest{
		Room: *room, Identity: *identity, Name: *name,
		Grants: grants, TTL: *ttl,
	}, time.Now())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
