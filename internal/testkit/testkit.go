// Package testkit runs the whole bot against the Open Platform emulator for
// tests: real HTTP both ways, the real SDK client, signed and encrypted
// deliveries. It is the one place shared test helpers live.
package testkit

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"okrbot/internal/app"
	"okrbot/internal/config"
	"okrbot/internal/feishuemu"
)

// Fixed identities of the test tenant. An Env runs under an app id of its
// own (Env.AppID, see FreshAppID); AppID is what Config and
// EmulatorOptions use.
const (
	AppID             = "cli_testapp0000001"
	AppSecret         = "test-app-secret-Zq8x"
	VerificationToken = "test-verification-token-Kp3"
	EncryptKey        = "test-encrypt-key-Wm5"
	BotOpenID         = "ou_bot00000000000000000000000000001"
	Operator          = "ou_operator000000000000000000000001"
	Operator2         = "ou_operator000000000000000000000002"
	Stranger          = "ou_stranger000000000000000000000001"
	GroupChat         = "oc_group0000000000000000000000000001"
)

// Env is a running bot wired to a running emulator.
type Env struct {
	Emu    *feishuemu.Emulator
	Feishu *httptest.Server // the emulator
	App    *app.App
	Bot    *httptest.Server // the bot's HTTP surface
	Config config.Config
	Logs   *Buffer
	// AppID is the app the bot and the emulator share: fresh for each Env
	// (FreshAppID), unless an option set one.
	AppID string

	appOpts app.Options // for Replica
}

type setup struct {
	cfg     config.Config
	emu     feishuemu.Options
	app     app.Options
	start   bool
	noLeaks bool
	ws      bool
}

var appSeq atomic.Int64

// FreshAppID returns an app id no other Env of this process has used. The
// SDK keeps some state per app id for the whole process (its token cache,
// its long-connection client's bookkeeping), so every Env, and every test
// that builds SDK clients of its own, should run under a fresh one.
func FreshAppID() string { return fmt.Sprintf("cli_testkit%08d", appSeq.Add(1)) }

// Option adjusts an Env before it starts.
type Option func(*setup)

// WithConfig edits the bot's configuration.
func WithConfig(f func(*config.Config)) Option { return func(s *setup) { f(&s.cfg) } }

// WithEmulator edits the emulator's options.
func WithEmulator(f func(*feishuemu.Options)) Option { return func(s *setup) { f(&s.emu) } }

// WithRequestTimeout bounds each Open Platform request, so tests of slow
// answers run fast.
func WithRequestTimeout(d time.Duration) Option { return func(s *setup) { s.app.RequestTimeout = d } }

// WithLeakCheck fails the test if goroutines the Env started are still
// running once it has shut down.
func WithLeakCheck() Option { return func(s *setup) { s.noLeaks = true } }

// WithoutTokenRefresh leaves the background token fetch off, so a test sees
// every fetch the commands cause. It cannot be combined with WithWebSocket
// (the long connection is opened by the same start).
func WithoutTokenRefresh() Option { return func(s *setup) { s.start = false } }

// WSClientConfig returns the long-connection ClientConfig WithWebSocket
// hands the bot: reconnect without end, the first retry within a second and
// then every second, a ping every 5 s.
func WSClientConfig() feishuemu.WSClientConfig {
	return feishuemu.WSClientConfig{ReconnectCount: -1, ReconnectInterval: 1, ReconnectNonce: 1, PingInterval: 5}
}

// WithWebSocket runs the bot in websocket mode (feishu.mode = "websocket"):
// the emulator delivers events and card callbacks over the long connection
// the bot opens, with WSClientConfig's quick reconnects, and New returns
// only once the bot holds its connection and is ready. Post, Say and Click
// then go over the long connection unchanged. Options after it may still
// change the emulator's WSClientConfig.
func WithWebSocket() Option {
	return func(s *setup) {
		s.ws = true
		s.cfg.Feishu.Mode = config.ModeWebSocket
		s.emu.DeliveryMode = feishuemu.DeliveryWebSocket
		s.emu.WSClientConfig = WSClientConfig()
	}
}

// Config returns the bot configuration Env uses, pointed at baseURL.
func Config(baseURL string) config.Config {
	cfg := config.Default()
	cfg.Feishu.AppID = AppID
	cfg.Feishu.AppSecret = AppSecret
	cfg.Feishu.VerificationToken = VerificationToken
	cfg.Feishu.EncryptKey = EncryptKey
	cfg.Feishu.BaseURL = baseURL
	cfg.Access.Operators = []string{Operator, Operator2}
	return cfg
}

// EmulatorOptions returns the emulator options Env uses.
func EmulatorOptions() feishuemu.Options {
	return feishuemu.Options{
		AppID: AppID, AppSecret: AppSecret, VerificationToken: VerificationToken, EncryptKey: EncryptKey,
		BotOpenID: BotOpenID, BotName: "OKR Bot",
	}
}

// New starts an emulator and a bot wired to it; both stop when t ends.
func New(t testing.TB, opts ...Option) *Env {
	t.Helper()
	s := setup{emu: EmulatorOptions(), start: true}
	s.cfg = Config("")
	s.cfg.Feishu.AppID = FreshAppID()
	s.emu.AppID = s.cfg.Feishu.AppID
	for _, o := range opts {
		o(&s)
	}
	if s.ws && !s.start {
		t.Fatalf("testkit: WithoutTokenRefresh cannot be combined with WithWebSocket")
	}
	emu := feishuemu.New(s.emu)
	feishu := httptest.NewServer(emu)
	if s.cfg.Feishu.BaseURL == "" {
		s.cfg.Feishu.BaseURL = feishu.URL
	}
	if err := s.cfg.Validate(); err != nil {
		t.Fatalf("testkit config: %v", err)
	}
	before := runtime.NumGoroutine()
	logs := &Buffer{}
	s.app.Log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(s.cfg, s.app)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	botSrv := httptest.NewServer(a.Handler)
	emu.SetBotEndpoints(botSrv.URL+s.cfg.Server.EventPath, botSrv.URL+s.cfg.Server.CardPath)
	if s.start {
		a.Start()
	}
	e := &Env{Emu: emu, Feishu: feishu, App: a, Bot: botSrv, Config: s.cfg, Logs: logs, AppID: s.cfg.Feishu.AppID, appOpts: s.app}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		botSrv.Close()
		emu.Close()
		feishu.Close()
		if s.noLeaks {
			checkLeaks(t, before)
		}
		if t.Failed() {
			t.Logf("bot log:\n%s", logs.String())
		}
	})
	if s.ws {
		e.WaitConnected(t, 1, a)
	}
	return e
}

// WebSocket reports whether the Env runs in websocket mode.
func (e *Env) WebSocket() bool { return e.Config.Feishu.Mode == config.ModeWebSocket }

// WaitConnected waits (10 s at most) until the emulator holds n long
// connections and every app given is ready (/readyz would answer 200:
// token, store, connection). Right after DropWSConnections it may still
// see the dropped connections: wait for the drop to show first.
func (e *Env) WaitConnected(t testing.TB, n int, apps ...*app.App) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var notReady error
		for _, a := range apps {
			if err := a.Ready(context.Background()); err != nil {
				notReady = err
				break
			}
		}
		conns := e.Emu.WSConnCount()
		if conns == n && notReady == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testkit: %d long connections (want %d); not ready: %v\nframes: %+v", conns, n, notReady, e.Emu.WSFrames())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Replica is a further bot process of the same app, wired to the same
// emulator: another app.New with the Env's configuration (its own HTTP
// surface, logs, token provider, store client). Give the Env a shared
// store (store.backend = "redis") for the replicas to act as one bot.
type Replica struct {
	App  *app.App
	Bot  *httptest.Server
	Logs *Buffer
}

// Replica starts another replica of the Env's bot and stops it when t
// ends (before the Env). In websocket mode it returns once the replica
// holds its own long connection and is ready; in webhook mode the emulator
// still pushes to the Env's own bot only.
func (e *Env) Replica(t testing.TB) *Replica {
	t.Helper()
	logs := &Buffer{}
	o := e.appOpts
	o.Log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(e.Config, o)
	if err != nil {
		t.Fatalf("replica app.New: %v", err)
	}
	r := &Replica{App: a, Bot: httptest.NewServer(a.Handler), Logs: logs}
	before := e.Emu.WSConnCount()
	a.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("replica shutdown: %v", err)
		}
		r.Bot.Close()
		if t.Failed() {
			t.Logf("replica log:\n%s", logs.String())
		}
	})
	if e.WebSocket() {
		e.WaitConnected(t, before+1, a)
	}
	return r
}

// Sender signs and encrypts requests as Feishu does for this app.
func (e *Env) Sender() feishuemu.Sender {
	return feishuemu.Sender{VerificationToken: VerificationToken, EncryptKey: e.Config.Feishu.EncryptKey, AppID: e.AppID}
}

// EventURL is the bot's event subscription URL.
func (e *Env) EventURL() string { return e.Bot.URL + e.Config.Server.EventPath }

// CardURL is the bot's card callback URL.
func (e *Env) CardURL() string { return e.Bot.URL + e.Config.Server.CardPath }

// Post delivers a user message and fails the test unless the bot
// acknowledged it with 200.
func (e *Env) Post(t testing.TB, m feishuemu.UserMessage) feishuemu.Delivery {
	t.Helper()
	d, err := e.Emu.PostMessage(context.Background(), m)
	if err != nil {
		t.Fatalf("PostMessage: %v", err)
	}
	if !d.OK() {
		t.Fatalf("delivery of %q not acknowledged: status %d err %q skipped %q body %s", m.Text, d.Status, d.Err, d.Skipped, d.Body)
	}
	return d
}

// Say sends text to the bot in a p2p chat as Operator.
func (e *Env) Say(t testing.TB, text string) feishuemu.Delivery {
	t.Helper()
	return e.Post(t, feishuemu.UserMessage{Text: text, SenderOpenID: Operator})
}

// Settle waits until the bot has finished every event it took.
func (e *Env) Settle(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for e.App.Bot.Pending() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("bot still has %d events pending", e.App.Bot.Pending())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Replies waits for the bot's work to finish and returns every message the
// bot sent.
func (e *Env) Replies(t testing.TB) []feishuemu.Message {
	t.Helper()
	e.Settle(t)
	return e.Emu.Replies()
}

// ReplyTo waits for and returns the bot's one reply to messageID.
func (e *Env) ReplyTo(t testing.TB, messageID string) feishuemu.Message {
	t.Helper()
	var found []feishuemu.Message
	for _, m := range e.Replies(t) {
		if m.ParentID == messageID {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("bot sent %d replies to %s, want 1", len(found), messageID)
	}
	return found[0]
}

// Buffer is a goroutine-safe log sink.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Text returns everything a card says, in both languages, for assertions.
func Text(card map[string]any) string { return strings.Join(feishuemu.CardTexts(card), "\n") }

// MustSay fails the test unless card says every one of want.
func MustSay(t testing.TB, card map[string]any, want ...string) {
	t.Helper()
	text := Text(card)
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("card does not say %q; it says:\n%s", w, text)
		}
	}
}

// Click presses the button of msg whose value has op, as who.
func (e *Env) Click(t testing.TB, msg feishuemu.Message, op, who string) feishuemu.ClickResult {
	t.Helper()
	for _, v := range feishuemu.ButtonValues(msg.Card) {
		if v["op"] == op {
			res, err := e.Emu.Click(context.Background(), feishuemu.Click{MessageID: msg.ID, OperatorOpenID: who, Value: v})
			if err != nil {
				t.Fatalf("Click: %v", err)
			}
			return res
		}
	}
	t.Fatalf("card has no %q button; buttons: %v", op, feishuemu.ButtonValues(msg.Card))
	return feishuemu.ClickResult{}
}

// checkLeaks waits for the goroutine count to fall back to before, and
// fails with the stacks of the ones left if it does not.
func checkLeaks(t testing.TB, before int) {
	t.Helper()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Errorf("%d goroutines left behind (%d before):\n%s", runtime.NumGoroutine()-before, before, buf[:n])
			return
		}
		time.Sleep(10 * time.Millisecond)
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	}
}
