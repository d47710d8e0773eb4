// Package sandbox runs okrbot against the in-process Open Platform emulator
// with a local chat page: `okrbot sandbox` (docs/contract.md §8).
//
// One HTTP server on one port serves three things:
//
//	/open-apis/…                     the Feishu Open Platform emulator (feishuemu)
//	/callback/ws/endpoint, /ws/v2    the emulator's long-connection gateway (-mode websocket)
//	/webhook/event, /webhook/card    the real bot (internal/app), as Feishu reaches it
//	/healthz, /readyz, /metrics      the bot's own endpoints
//	/, /assets/…, /sandbox/api/…     the chat page and its JSON API
//
// The bot is the real thing: the real handlers, the real SDK client pointed
// at the emulator, the real token path; the emulator delivers every message
// and button press signed and encrypted, as Feishu does, or, with Mode
// "websocket", as data frames over the long connection the bot opens to the
// emulator (docs/contract.md §10). Secrets are random
// for each run. The tenant is seeded with three period rules (monthly,
// quarterly from January, yearly) and the four quarters of 2021; no default
// rule is configured, so `/newperiod 2022-01` answers with the rule picker,
// as a fresh installation does.
//
// The server answers only requests addressed to it by its own address
// (the Host header; see hostGuard), so that a web page elsewhere cannot
// reach it through a DNS name rebound to the loopback.
package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"okrbot/internal/app"
	"okrbot/internal/config"
	"okrbot/internal/feishuemu"
)

// Options configure Run.
type Options struct {
	// Addr is the listen address (default 127.0.0.1:8080); port 0 picks a
	// free port. Ignored when Listener is set.
	Addr string
	// Log receives the bot's and the sandbox's logs (nil: discarded).
	Log *slog.Logger
	// Out receives the line that tells the user which URL to open (nil:
	// discarded).
	Out io.Writer
	// Listener, when set, is served instead of listening on Addr. Run closes
	// it.
	Listener net.Listener
	// Ready, when set, is called with the page URL (e.g.
	// "http://127.0.0.1:8080/") once the sandbox serves.
	Ready func(url string)
	// Mode is how the emulator delivers the chat to the bot: ModeWebhook
	// (the default when empty: signed, encrypted pushes) or ModeWebSocket
	// (the long connection the bot opens).
	Mode string
}

// Delivery modes of Options.Mode: the bot's feishu.mode values.
const (
	ModeWebhook   = config.ModeWebhook
	ModeWebSocket = config.ModeWebSocket
)

// wsClientConfig is what the sandbox's long-connection endpoint hands out:
// a lost connection comes back within seconds, and pings every 30 s keep
// the traffic log readable.
var wsClientConfig = feishuemu.WSClientConfig{ReconnectCount: -1, ReconnectInterval: 2, ReconnectNonce: 1, PingInterval: 30}

// connectWait bounds how long Run waits for the bot's long connection
// before it announces the page.
const connectWait = 10 * time.Second

// Identities of the sandbox tenant. The open_ids are fixed so that the page,
// the docs and a user's muscle memory agree from one run to the next; the
// app's secrets are random for each run.
const (
	// OperatorOpenID is Li Na, the HR operator (in access.operators).
	OperatorOpenID = feishuemu.DefaultUserOpenID
	// EmployeeOpenID is Zhang Wei, who is not an operator.
	EmployeeOpenID = "ou_7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
	// GroupChatID is the "HR Operations" group chat.
	GroupChatID = feishuemu.DefaultGroupChatID
	// BotName is the bot's display name in the tenant.
	BotName = "OKR Bot"
)

// person is someone the page can send messages as.
type person struct {
	OpenID   string `json:"open_id"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	Operator bool   `json:"operator"`
	P2PChat  string `json:"p2p_chat"` // their direct chat with the bot
}

// people are the tenant's users the page can send as: an operator and
// someone who is not one.
func people() []person {
	return []person{
		{OpenID: OperatorOpenID, Name: "Li Na", Role: "HR operator", Operator: true, P2PChat: feishuemu.DefaultP2PChatID},
		{OpenID: EmployeeOpenID, Name: "Zhang Wei", Role: "Employee, not an operator", P2PChat: "oc_2c3d4e5f60718293a4b5c6d7e8f90a1b"},
	}
}

// seedPeriods returns the tenant's existing periods: the quarters of 2021.
func seedPeriods() []feishuemu.Period {
	var ps []feishuemu.Period
	for _, m := range []string{"2021-01", "2021-04", "2021-07", "2021-10"} {
		ps = append(ps, feishuemu.Period{RuleID: feishuemu.QuarterlyRuleID, StartMonth: m, Status: 1})
	}
	return ps
}

// Timeouts of the sandbox's own work.
const (
	deliveryTimeout = 15 * time.Second // one message push from the page
	clickTimeout    = 10 * time.Second // one button press from the page
	shutdownTimeout = 10 * time.Second // the bot finishing acknowledged work
)

// Run serves the sandbox until ctx ends, then stops the page, lets the bot
// finish the work it acknowledged, and returns nil. It returns an error when
// the sandbox cannot start or the server fails.
func Run(ctx context.Context, o Options) error {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	mode := o.Mode
	if mode == "" {
		mode = ModeWebhook
	}
	if mode != ModeWebhook && mode != ModeWebSocket {
		if o.Listener != nil {
			_ = o.Listener.Close()
		}
		return fmt.Errorf("mode %q: want %q or %q", mode, ModeWebhook, ModeWebSocket)
	}
	ln := o.Listener
	if ln == nil {
		addr := o.Addr
		if addr == "" {
			addr = config.DefaultAddr
		}
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	base := baseURL(ln.Addr())

	s, err := newSandbox(ctx, base, ln.Addr().String(), mode, log)
	if err != nil {
		_ = ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           hostGuard(ln.Addr(), s.routes()),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	s.app.Start()
	if mode == ModeWebSocket {
		s.waitConnected(ctx)
	}

	url := base + "/"
	fmt.Fprintf(out, "okrbot sandbox: open %s (emulated Feishu tenant; operator Li Na, %s)\n", url, OperatorOpenID)
	if mode == ModeWebSocket {
		fmt.Fprintln(out, "okrbot sandbox: the chat reaches the bot over the emulator's long connection (-mode websocket)")
	}
	fmt.Fprintln(out, "okrbot sandbox: try /help, /rules, /periods or /newperiod 2022-01; Ctrl+C stops")
	log.Info("sandbox serving", "url", url, "app_id", s.cfg.Feishu.AppID, "operator", OperatorOpenID, "mode", mode)
	if o.Ready != nil {
		o.Ready(url)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("serve: %w", err)
	}
	s.shutdown(context.WithoutCancel(ctx))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("sandbox http shutdown", "err", err)
	}
	log.Info("sandbox stopped")
	return runErr
}

// baseURL is the http URL at which addr is reached from this machine: an
// unspecified listen address (0.0.0.0, ::) is reached on the loopback.
func baseURL(addr net.Addr) string {
	host, port := "127.0.0.1", "0"
	if ta, ok := addr.(*net.TCPAddr); ok {
		port = strconv.Itoa(ta.Port)
		if !ta.IP.IsUnspecified() && ta.IP != nil {
			host = ta.IP.String()
		}
	} else if h, p, err := net.SplitHostPort(addr.String()); err == nil {
		host, port = h, p
	}
	return "http://" + net.JoinHostPort(host, port)
}

// sandbox is one run: the emulator, the bot wired to it, and the page's
// state.
type sandbox struct {
	emu    *feishuemu.Emulator
	app    *app.App
	cfg    config.Config
	log    *slog.Logger
	people []person

	// live ends when shutdown begins: long polls return at once.
	live     context.Context
	stopLive context.CancelFunc
	// bg is the parent of work that must not end with a page request:
	// message deliveries and clicks.
	bg context.Context

	mu      sync.Mutex
	closing bool
	sends   sync.WaitGroup // deliveries started by the page
	armed   []string       // labels of the faults queued on create_period, oldest first
	slow    bool
}

// newSandbox builds the emulator and the bot for a server reached at base;
// mode is ModeWebhook or ModeWebSocket.
func newSandbox(ctx context.Context, base, listenAddr, mode string, log *slog.Logger) (*sandbox, error) {
	appID, secret, verify, encrypt := "cli_"+randHex(8), randHex(16), randHex(16), randHex(16)
	delivery := feishuemu.DeliveryWebhook
	if mode == ModeWebSocket {
		delivery = feishuemu.DeliveryWebSocket
	}
	emu := feishuemu.New(feishuemu.Options{
		AppID: appID, AppSecret: secret, VerificationToken: verify, EncryptKey: encrypt,
		BotName: BotName, Periods: seedPeriods(), Redelivery: feishuemu.FeishuRedelivery(),
		DeliveryMode: delivery, WSClientConfig: wsClientConfig,
	})

	cfg := config.Default()
	cfg.Feishu.Mode = mode
	cfg.Server.Addr = listenAddr
	cfg.Server.ShutdownTimeout = shutdownTimeout
	cfg.Feishu.AppID, cfg.Feishu.AppSecret = appID, secret
	cfg.Feishu.VerificationToken, cfg.Feishu.EncryptKey = verify, encrypt
	cfg.Feishu.BaseURL = base
	ps := people()
	for _, p := range ps {
		if p.Operator {
			cfg.Access.Operators = append(cfg.Access.Operators, p.OpenID)
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sandbox config: %w", err)
	}
	a, err := app.New(cfg, app.Options{Log: log})
	if err != nil {
		return nil, fmt.Errorf("sandbox bot: %w", err)
	}
	emu.SetBotEndpoints(base+cfg.Server.EventPath, base+cfg.Server.CardPath)

	live, stop := context.WithCancel(ctx)
	return &sandbox{
		emu: emu, app: a, cfg: cfg, log: log, people: ps,
		live: live, stopLive: stop, bg: context.WithoutCancel(ctx),
	}, nil
}

// waitConnected waits (connectWait at most) until the bot holds its long
// connection, so that the first message typed on the page does not find
// it still dialling. Not connecting in time is logged, not fatal: the
// page shows failed deliveries, and the emulator redelivers them.
func (s *sandbox) waitConnected(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, connectWait)
	defer cancel()
	for v := s.emu.Version(); s.emu.WSConnCount() == 0; v = s.emu.Wait(ctx, v) {
		if ctx.Err() != nil {
			s.log.Warn("sandbox: the bot has not opened its long connection yet", "waited", connectWait.String())
			return
		}
	}
}

// hostGuard answers 421 Misdirected Request to a request whose Host header
// is not the sandbox's own address. A page on another site could otherwise
// point a DNS name of its own at 127.0.0.1 (DNS rebinding) and drive the
// sandbox, and the bot in it, from the user's browser. Accepted: the listen
// address itself; for a loopback or unspecified listen address also
// "localhost" and the loopback addresses; for an unspecified one (0.0.0.0,
// ::) any IP address of this machine. Always with the listen port (a
// missing port means 80). IP literals and "localhost" cannot be rebound.
func hostGuard(addr net.Addr, next http.Handler) http.Handler {
	var ip net.IP
	port := ""
	if ta, ok := addr.(*net.TCPAddr); ok {
		ip, port = ta.IP, strconv.Itoa(ta.Port)
	} else if h, p, err := net.SplitHostPort(addr.String()); err == nil {
		ip, port = net.ParseIP(h), p
	}
	loopbackOK := ip == nil || ip.IsLoopback() || ip.IsUnspecified()
	anyIP := ip == nil || ip.IsUnspecified()
	allowed := func(hostHeader string) bool {
		host, p, err := net.SplitHostPort(hostHeader)
		if err != nil {
			host, p = strings.TrimSuffix(strings.TrimPrefix(hostHeader, "["), "]"), "80"
		}
		if p != port || host == "" {
			return false
		}
		if strings.EqualFold(host, "localhost") {
			return loopbackOK
		}
		hip := net.ParseIP(host)
		switch {
		case hip == nil:
			return false // a DNS name: possibly rebound
		case ip != nil && hip.Equal(ip):
			return true
		case hip.IsLoopback():
			return loopbackOK
		}
		return anyIP
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowed(r.Host) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusMisdirectedRequest)
			_, _ = io.WriteString(w, "okrbot sandbox: this server answers only to its own address; open it by its address, e.g. http://"+net.JoinHostPort(hostForURL(ip), port)+"/\n")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostForURL is how the sandbox names its own host in messages.
func hostForURL(ip net.IP) string {
	if ip == nil || ip.IsUnspecified() {
		return "127.0.0.1"
	}
	return ip.String()
}

// shutdown stops the page (long polls return, sends are refused), waits
// for the deliveries in flight, lets the bot finish the work it
// acknowledged (it still reaches the emulator: the server runs until Run
// shuts it down after this), and stops redeliveries.
func (s *sandbox) shutdown(ctx context.Context) {
	s.stopLive()
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.sends.Wait()
	dctx, cancel := context.WithTimeout(ctx, shutdownTimeout)
	defer cancel()
	if err := s.app.Shutdown(dctx); err != nil {
		s.log.Error("bot shutdown did not finish all work", "err", err, "pending", s.app.Bot.Pending())
	}
	s.emu.Close()
}

// person returns the person with openID.
func (s *sandbox) person(openID string) (person, bool) {
	for _, p := range s.people {
		if p.OpenID == openID {
			return p, true
		}
	}
	return person{}, false
}

// randHex returns 2n random hex digits.
func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b)
}
