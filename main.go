// Command okrbot is a Feishu (Lark) chat bot that creates OKR periods.
//
//	okrbot [serve] [-config FILE]   run the webhook server
//	okrbot check -config FILE       try the configuration against Feishu
//	okrbot sandbox [-addr ADDR]     the whole bot on one machine, in a browser
//	okrbot version                  print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"okrbot/internal/app"
	"okrbot/internal/config"
	"okrbot/internal/sandbox"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args, stderr)
	case "check":
		return check(args, stdout, stderr)
	case "sandbox":
		return runSandbox(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "okrbot", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: okrbot [serve|check|sandbox|version] [flags]")
		return 0
	}
	fmt.Fprintf(stderr, "okrbot: unknown command %q (serve, check, sandbox, version)\n", cmd)
	return 2
}

type commonFlags struct {
	config    string
	logFormat string
	logLevel  string
}

func parseFlags(name string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (commonFlags, error) {
	var f commonFlags
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.config, "config", "", "TOML config file (default: config.toml if present)")
	fs.StringVar(&f.logFormat, "log-format", "json", "log format: json or text")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if f.config == "" {
		f.config = config.FindDefault()
	}
	return f, nil
}

func newLogger(f commonFlags, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch f.logFormat {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format: %q is not json or text", f.logFormat)
}

func loadApp(name string, args []string, stderr io.Writer) (*app.App, commonFlags, int) {
	f, err := parseFlags(name, args, stderr, nil)
	if err != nil {
		fmt.Fprintln(stderr, "okrbot:", err)
		return nil, f, 2
	}
	log, err := newLogger(f, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "okrbot:", err)
		return nil, f, 2
	}
	cfg, err := config.Load(f.config, os.LookupEnv)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, f, 1
	}
	a, err := app.New(cfg, app.Options{Log: log})
	if err != nil {
		fmt.Fprintln(stderr, "okrbot:", err)
		return nil, f, 1
	}
	return a, f, 0
}

func serve(args []string, stderr io.Writer) int {
	a, _, code := loadApp("serve", args, stderr)
	if a == nil {
		return code
	}
	cfg := a.Config
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		fmt.Fprintln(stderr, "okrbot: server.addr:", err)
		return 1
	}
	// Signals are caught before the server accepts anything, so a SIGTERM
	// never finds the process without its handler.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 15 * time.Second, IdleTimeout: 2 * time.Minute}
	a.Start()
	a.Log.Info("okrbot serving", "version", version, "addr", ln.Addr().String(), "event_path", cfg.Server.EventPath,
		"card_path", cfg.Server.CardPath, "config", cfg.Redacted())
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		a.Log.Error("server stopped", "err", err)
		return 1
	case <-ctx.Done():
	}
	a.Log.Info("shutting down: new events get 503; finishing acknowledged work", "pending", a.Bot.Pending(),
		"timeout", cfg.Server.ShutdownTimeout.String())
	dctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := a.Shutdown(dctx); err != nil {
		a.Log.Error("shutdown did not finish all work", "err", err, "pending", a.Bot.Pending())
	}
	sctx, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.Log.Warn("http shutdown", "err", err)
	}
	a.Log.Info("stopped")
	return 0
}

func check(args []string, stdout, stderr io.Writer) int {
	a, _, code := loadApp("check", args, stderr)
	if a == nil {
		return code
	}
	if !a.Check(context.Background(), stdout) {
		return 1
	}
	return 0
}

func runSandbox(args []string, stdout, stderr io.Writer) int {
	addr := "127.0.0.1:8080"
	f, err := parseFlags("sandbox", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&addr, "addr", addr, "listen address of the sandbox page")
	})
	if err != nil {
		fmt.Fprintln(stderr, "okrbot:", err)
		return 2
	}
	f.logFormat = "text"
	log, err := newLogger(f, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "okrbot:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := sandbox.Run(ctx, sandbox.Options{Addr: addr, Log: log, Out: stdout}); err != nil {
		fmt.Fprintln(stderr, "okrbot sandbox:", err)
		return 1
	}
	return 0
}
