// Command sfu runs the SFU media server; `sfu token` mints an access token
// and `sfu version` prints the build.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sfu-project/sfu/internal/node"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "sfu:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "token" {
		return runToken(args[1:], os.Stdout)
	}
	if len(args) > 0 && (args[0] == "version" || args[0] == "--version" || args[0] == "-version") {
		fmt.Println(versionText())
		return nil
	}
	cfg, err := loadConfig(args)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("log level %q: %w", cfg.LogLevel, err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	n, err := node.New(cfg, log)
	if err != nil {
		return err
	}
	mode := "production (tokens required)"
	if n.Dev() {
		mode = "development (/api/token enabled; do not expose this to the internet)"
	}
	log.Info("sfu started", "version", versionText(), "http", n.Addr().String(), "media_udp", n.MediaAddr().String(), "mode", mode)
	fmt.Printf("SFU running. Open %s in a browser.\n", n.URL())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- n.Serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// A second signal ends the process at once, as without a handler.
	stop()
	log.Info("draining: clients are asked to move to other nodes", "timeout", cfg.DrainTimeout)
	dctx, dcancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	if err := n.Drain(dctx); err != nil {
		log.Warn("drain incomplete", "err", err)
	}
	dcancel()
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	if err := n.Shutdown(sctx); err != nil {
		log.Warn("shutdown incomplete", "err", err)
	}
	return nil
}
