// Command okrbot is a Feishu (Lark) chat bot that creates OKR periods.
//
//	okrbot [serve] [-config FILE]   run the bot (webhook server or long connection)
//	okrbot check -config FILE       try the configuration against Feishu
//	okrbot sandbox [-addr ADDR] [-mode webhook|websocket]
//	                                the whole bot on one machine, in a browser
//	okrbot version                  print the version
//	okrbot help [COMMAND]           list the commands, or a command's flags
//
// Flags may stand before or after the command.
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
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	// The binary carries its own zone data for okr.timezone.
	_ "time/tzdata"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"okrbot/internal/app"
	"okrbot/internal/config"
	"okrbot/internal/sandbox"
)

// version is set at link time with -ldflags "-X main.version=v1.2.3". When
// it is empty the version comes from the build information (buildVersion).
var version string

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed flags of one command.
type options struct {
	config      string
	logFormat   string
	logLevel    string
	showVersion bool
	addr        string // sandbox -addr
	mode        string // sandbox -mode
}

// command is one subcommand of okrbot.
type command struct {
	name    string
	summary string // one line for `okrbot help`
	about   string // what `okrbot help NAME` says about it
	// Defaults of the common log flags: serve logs JSON for machines, check
	// and sandbox talk to people.
	logFormat, logLevel string
	flags               func(fs *flag.FlagSet, o *options) // its own flags, or nil
	run                 func(c command, o options, args []string, stdout, stderr io.Writer) int
}

// defaultCommand runs when no command is named.
const defaultCommand = "serve"

// commands lists okrbot's subcommands, in the order help shows them.
func commands() []command {
	return []command{
		{
			name:    "serve",
			summary: "run the bot (the default when no command is given)",
			about: `Runs the bot. In webhook mode (feishu.mode = "webhook") it serves
Feishu's event and card callbacks on server.addr; in websocket mode it holds
Feishu's long connection. Either way server.addr serves /healthz, /readyz and
/metrics (/metrics on server.metrics_addr instead when that is set).
SIGINT or SIGTERM stops it after the commands already acknowledged are done.`,
			logFormat: "json", logLevel: "info",
			run: func(_ command, o options, _ []string, _, stderr io.Writer) int { return serve(o, stderr) },
		},
		{
			name:    "check",
			summary: "validate the config, fetch a tenant token and list the OKR period rules",
			about: `Validates the configuration, fetches a tenant access token and lists the
tenant's OKR period rules. Exits 0 when everything works, otherwise 1 with
one line per problem.`,
			logFormat: "text", logLevel: "warn",
			run: func(_ command, o options, _ []string, stdout, stderr io.Writer) int { return check(o, stdout, stderr) },
		},
		{
			name:    "sandbox",
			summary: "run the bot against a built-in Feishu emulator, with a chat page in the browser",
			about: `Runs the whole bot on this machine with no Feishu account: an in-process
emulator of the Feishu Open Platform, the bot wired to it, and a chat page
at the printed URL. No configuration is read. With -mode websocket the
emulator delivers the chat over the long connection the bot opens, as with
feishu.mode = "websocket", instead of signed webhook pushes.`,
			logFormat: "text", logLevel: "info",
			flags: func(fs *flag.FlagSet, o *options) {
				fs.StringVar(&o.addr, "addr", config.DefaultAddr, "listen `address` of the sandbox page")
				o.mode = config.ModeWebhook
				fs.Var(modeValue{&o.mode}, "mode", "delivery `mode` of the chat to the bot: webhook (signed pushes) or websocket (the long connection the bot opens)")
			},
			run: func(_ command, o options, _ []string, stdout, stderr io.Writer) int {
				return runSandbox(o, stdout, stderr)
			},
		},
		{
			name:      "version",
			summary:   "print the version",
			about:     "Prints okrbot's version (also: okrbot -version).",
			logFormat: "json", logLevel: "info",
			run: func(_ command, _ options, _ []string, stdout, _ io.Writer) int {
				fmt.Fprintln(stdout, "okrbot", versionString())
				return 0
			},
		},
		{
			name:      "help",
			summary:   "list the commands, or show a command's flags: okrbot help COMMAND",
			about:     "Lists the commands, or, given one, shows what it does and its flags.",
			logFormat: "json", logLevel: "info",
			run: runHelp,
		},
	}
}

// lookup returns the command called name.
func lookup(cmds []command, name string) (command, bool) {
	for _, c := range cmds {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// newFlagSet returns c's flags, the common ones first, parsing into o.
func newFlagSet(c command, o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("okrbot "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run reports errors and prints help itself
	fs.Usage = func() {}
	fs.StringVar(&o.config, "config", "", "TOML config `file` (default: "+config.DefaultFile+" in the working directory, if present)")
	fs.StringVar(&o.logFormat, "log-format", c.logFormat, "log `format`: json or text")
	fs.StringVar(&o.logLevel, "log-level", c.logLevel, "log `level`: debug, info, warn or error")
	fs.BoolVar(&o.showVersion, "version", false, "print the version and exit")
	if c.flags != nil {
		c.flags(fs, o)
	}
	return fs
}

func run(args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	name, rest := splitCommand(cmds, args)
	implicit := name == ""
	if implicit {
		name = defaultCommand
	}
	c, ok := lookup(cmds, name)
	if !ok {
		fmt.Fprintf(stderr, "okrbot: unknown command %q\n\n", name)
		printHelp(cmds, stderr)
		return 2
	}
	var o options
	fs := newFlagSet(c, &o)
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			if implicit {
				printHelp(cmds, stdout)
			} else {
				printCommandHelp(c, stdout)
			}
			return 0
		}
		fmt.Fprintf(stderr, "okrbot %s: %v\n\n", c.name, err)
		printCommandHelp(c, stderr)
		return 2
	}
	if o.showVersion {
		fmt.Fprintln(stdout, "okrbot", versionString())
		return 0
	}
	if fs.NArg() > 0 && c.name != "help" {
		fmt.Fprintf(stderr, "okrbot %s: unexpected argument %q\n\n", c.name, fs.Arg(0))
		printCommandHelp(c, stderr)
		return 2
	}
	if o.config == "" {
		o.config = config.FindDefault()
	}
	return c.run(c, o, fs.Args(), stdout, stderr)
}

// splitCommand finds the command among args, which may have flags before
// and after it: the first argument that is neither a flag nor a flag's
// value. It returns the command ("" when there is none) and the other
// arguments in order.
func splitCommand(cmds []command, args []string) (string, []string) {
	// A flag takes a value unless it is boolean; any command's flag counts.
	takesValue := func(name string) bool {
		for _, c := range cmds {
			var o options
			if f := newFlagSet(c, &o).Lookup(name); f != nil {
				b, ok := f.Value.(interface{ IsBoolFlag() bool })
				return !ok || !b.IsBoolFlag()
			}
		}
		return false
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			if i+1 < len(args) {
				return args[i+1], append(args[:i:i], args[i+2:]...)
			}
			return "", args
		}
		if len(a) < 2 || a[0] != '-' {
			return a, append(args[:i:i], args[i+1:]...)
		}
		name := strings.TrimLeft(a, "-")
		if !strings.Contains(name, "=") && takesValue(name) {
			i++ // its value
		}
	}
	return "", args
}

// runHelp is `okrbot help [COMMAND]`.
func runHelp(_ command, _ options, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	switch len(args) {
	case 0:
		printHelp(cmds, stdout)
		return 0
	case 1:
		if c, ok := lookup(cmds, args[0]); ok {
			printCommandHelp(c, stdout)
			return 0
		}
		fmt.Fprintf(stderr, "okrbot help: unknown command %q\n\n", args[0])
	default:
		fmt.Fprintf(stderr, "okrbot help: one command at a time, got %q\n\n", args)
	}
	printHelp(cmds, stderr)
	return 2
}

// printHelp writes the list of commands and the common flags.
func printHelp(cmds []command, w io.Writer) {
	fmt.Fprint(w, `okrbot is a Feishu (Lark) chat bot that creates and manages OKR periods.

Usage:
  okrbot [command] [flags]

Commands:
`)
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nFlags of every command (before or after it):\n")
	serve, _ := lookup(cmds, defaultCommand)
	var o options
	fs := newFlagSet(serve, &o)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprint(w, `
The log defaults shown are serve's; check logs text at warn level, sandbox
text at info level.
Run "okrbot help COMMAND" for a command's own flags.
`)
}

// printCommandHelp writes what c does and its flags.
func printCommandHelp(c command, w io.Writer) {
	usage := "okrbot " + c.name + " [flags]"
	if c.name == "help" {
		usage = "okrbot help [command]"
	}
	fmt.Fprintf(w, "Usage:\n  %s\n\n%s\n\nFlags:\n", usage, c.about)
	var o options
	fs := newFlagSet(c, &o)
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// versionString is the link-time version, or else the build information's.
func versionString() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	return buildVersion(info)
}

// buildVersion is the main module's version when the build knows it (a
// tagged module, or a pseudo-version stamped by go build), else the VCS
// revision (12 characters, "+dirty" with uncommitted changes) and its time.
func buildVersion(info *debug.BuildInfo) string {
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, at string
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "(devel)"
	}
	v := rev[:min(12, len(rev))]
	if dirty {
		v += "+dirty"
	}
	if at != "" {
		v += " " + at
	}
	return v
}

// logOptions say how a command logs.
type logOptions struct {
	format, level string
	noTime        bool // leave out the time (lines for people that run a short command)
}

func newLogger(lo logOptions, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(lo.level)); err != nil {
		return nil, fmt.Errorf("-log-level: %q is not debug, info, warn or error", lo.level)
	}
	opts := &slog.HandlerOptions{Level: level}
	if lo.noTime {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	switch lo.format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format: %q is not json or text", lo.format)
}

// loadApp builds the bot from the configuration o names.
func loadApp(o options, lo logOptions, stderr io.Writer) (*app.App, int) {
	log, err := newLogger(lo, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "okrbot:", err)
		return nil, 2
	}
	cfg, err := config.Load(o.config, os.LookupEnv)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, 1
	}
	a, err := app.New(cfg, app.Options{Log: log})
	if err != nil {
		fmt.Fprintln(stderr, "okrbot:", err)
		return nil, 1
	}
	return a, 0
}

// httpServer returns an http.Server with okrbot's timeouts.
func httpServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 15 * time.Second, IdleTimeout: 2 * time.Minute}
}

func serve(o options, stderr io.Writer) int {
	a, code := loadApp(o, logOptions{format: o.logFormat, level: o.logLevel}, stderr)
	if a == nil {
		return code
	}
	cfg := a.Config
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		fmt.Fprintln(stderr, "okrbot: server.addr:", err)
		return 1
	}
	servers := []*http.Server{httpServer(a.Handler)}
	listeners := []net.Listener{ln}
	if cfg.Server.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.Server.MetricsAddr)
		if err != nil {
			ln.Close()
			fmt.Fprintln(stderr, "okrbot: server.metrics_addr:", err)
			return 1
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(a.Registry, promhttp.HandlerOpts{}))
		// The metrics address is private (an operator's, not Feishu's), so
		// it also serves Go's profiles: the evidence docs/BENCHMARKS.md asks
		// for, from a running bot.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		servers = append(servers, httpServer(mux))
		listeners = append(listeners, mln)
	}
	// Signals are caught before the server accepts anything, so a SIGTERM
	// never finds the process without its handler.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a.Start()
	attrs := []any{"version", versionString(), "mode", cfg.Feishu.Mode, "addr", ln.Addr().String()}
	if cfg.Feishu.Mode == config.ModeWebhook {
		attrs = append(attrs, "event_path", cfg.Server.EventPath, "card_path", cfg.Server.CardPath)
	}
	if len(listeners) > 1 {
		attrs = append(attrs, "metrics_addr", listeners[1].Addr().String())
	}
	a.Log.Info("okrbot serving", append(attrs, "config", cfg.Redacted())...)
	serveErr := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { serveErr <- srv.Serve(listeners[i]) }()
	}
	exit := 0
	select {
	case err := <-serveErr:
		a.Log.Error("server stopped", "err", err)
		exit = 1
	case <-ctx.Done():
	}
	a.Log.Info("shutting down: new events get 503; finishing acknowledged work", "pending", a.Bot.Pending(),
		"timeout", cfg.Server.ShutdownTimeout.String())
	dctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := a.Shutdown(dctx); err != nil {
		a.Log.Error("shutdown did not finish all work", "err", err, "pending", a.Bot.Pending())
		exit = 1
	}
	sctx, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.Log.Warn("http shutdown", "err", err)
		}
	}
	a.Log.Info("stopped")
	return exit
}

// check is `okrbot check`: a table for people on stdout, and on stderr only
// text: the configuration's problems, and warnings as text log lines
// without the time.
func check(o options, stdout, stderr io.Writer) int {
	a, code := loadApp(o, logOptions{format: o.logFormat, level: o.logLevel, noTime: true}, stderr)
	if a == nil {
		return code
	}
	if !a.Check(context.Background(), stdout) {
		return 1
	}
	return 0
}

func runSandbox(o options, stdout, stderr io.Writer) int {
	log, err := newLogger(logOptions{format: o.logFormat, level: o.logLevel}, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "okrbot:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := sandbox.Run(ctx, sandbox.Options{Addr: o.addr, Mode: o.mode, Log: log, Out: stdout}); err != nil {
		fmt.Fprintln(stderr, "okrbot sandbox:", err)
		return 1
	}
	return 0
}

// modeValue is sandbox's -mode flag: webhook or websocket, checked when
// parsed (anything else is a usage error, exit 2).
type modeValue struct{ p *string }

func (m modeValue) String() string {
	if m.p == nil {
		return ""
	}
	return *m.p
}

func (m modeValue) Set(s string) error {
	switch s {
	case config.ModeWebhook, config.ModeWebSocket:
		*m.p = s
		return nil
	}
	return fmt.Errorf("want %s or %s", config.ModeWebhook, config.ModeWebSocket)
}
