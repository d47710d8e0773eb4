package handlers_test

// End-to-end tests of the long-connection receiver (feishu.mode =
// "websocket", docs/contract.md §10): the real bot, the SDK's real ws client, a real
// WebSocket to the emulator's long-connection gateway. Waits are bounded
// polls on observable state, never fixed sleeps.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	larkws "github.com/larksuite/oapi-sdk-go/v3/ws"
	"github.com/prometheus/client_golang/prometheus"

	"okrbot/bot"
	"okrbot/handlers"
	"okrbot/internal/app"
	"okrbot/internal/config"
	"okrbot/internal/feishuemu"
	"okrbot/internal/testkit"
)

// waitUntil polls cond every few milliseconds until it holds, and fails
// the test after limit.
func waitUntil(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// httpGet returns the status and body of GET url.
func httpGet(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric returns the value of the sample named exactly name (labels
// included) in /metrics, 0 when absent.
func metric(t testing.TB, botURL, name string) float64 {
	t.Helper()
	_, body := httpGet(t, botURL+"/metrics")
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric %s: %q", name, line)
			}
			return v
		}
	}
	return 0
}

// repliesTo returns the bot's replies to messageID so far.
func repliesTo(env *testkit.Env, messageID string) []feishuemu.Message {
	var out []feishuemu.Message
	for _, m := range env.Emu.Replies() {
		if m.ParentID == messageID {
			out = append(out, m)
		}
	}
	return out
}

// mustWS fails unless d went over the long connection and was ACKed 200.
func mustWS(t testing.TB, d feishuemu.Delivery) {
	t.Helper()
	if d.Transport != feishuemu.DeliveryWebSocket || d.ConnID == "" || d.Frames < 1 {
		t.Fatalf("delivery did not go over the long connection: %+v", d)
	}
	if !d.OK() {
		t.Fatalf("delivery not ACKed 200: status %d err %q", d.Status, d.Err)
	}
}

func TestLongConnCommandAndClick(t *testing.T) {
	env := testkit.New(t, testkit.WithWebSocket())
	if code, body := httpGet(t, env.Bot.URL+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d %s once connected", code, body)
	}
	// No default rule: the bot answers with the rule picker.
	d := env.Say(t, "/newperiod 2022-07")
	mustWS(t, d)
	picker := env.ReplyTo(t, d.MessageID)
	var quarterlyBtn map[string]any
	for _, b := range feishuemu.Buttons(picker.Card) {
		if b.Value["r"] == feishuemu.QuarterlyRuleID {
			quarterlyBtn = b.Value
		}
	}
	if quarterlyBtn == nil {
		t.Fatalf("no quarterly button on the picker: %+v", feishuemu.Buttons(picker.Card))
	}
	res, err := env.Emu.Click(context.Background(), feishuemu.Click{MessageID: picker.ID, OperatorOpenID: testkit.Operator, Value: quarterlyBtn})
	if err != nil {
		t.Fatal(err)
	}
	if res.Err != "" || res.Status != 200 || !res.Updated {
		t.Fatalf("click over the long connection: %+v (%s) body %s", res, res.Detail, res.Body)
	}
	env.Settle(t)
	if n := env.Emu.CallCount(feishuemu.APICreatePeriod); n != 1 {
		t.Fatalf("create calls = %d, want 1", n)
	}
	p := env.Emu.Periods()[0]
	updated, _ := env.Emu.Message(picker.ID)
	testkit.MustSay(t, updated.Card, "OKR period created", p.ID, "2022-07", "2022-09")
	last := env.Emu.Deliveries()[len(env.Emu.Deliveries())-1]
	if last.Kind != "callback" || last.Transport != feishuemu.DeliveryWebSocket {
		t.Errorf("the click was not delivered over the long connection: %+v", last)
	}
	// The webhook paths are not served in websocket mode.
	resp, err := http.Post(env.EventURL(), "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST %s = %d in websocket mode, want 404", env.Config.Server.EventPath, resp.StatusCode)
	}
	if v := metric(t, env.Bot.URL, `okrbot_ws_connected`); v != 1 {
		t.Errorf("okrbot_ws_connected = %v, want 1", v)
	}
}

func TestLongConnSplitPayload(t *testing.T) {
	env := testkit.New(t, testkit.WithWebSocket())
	env.Emu.SetWSSplit(3)
	d := env.Say(t, "/newperiod 2022-01 "+feishuemu.QuarterlyRuleID)
	mustWS(t, d)
	if d.Frames != 3 {
		t.Fatalf("the message went out in %d frames, want 3", d.Frames)
	}
	testkit.MustSay(t, env.ReplyTo(t, d.MessageID).Card, "OKR period created", "2022-01")
	var parts []int
	var wsMsgID string
	for _, f := range env.Emu.WSFrames() {
		if f.Type == "event" && f.Parts == 3 {
			parts = append(parts, f.Part)
			wsMsgID = f.MessageID
		}
	}
	if !slices.Equal(parts, []int{0, 1, 2}) {
		t.Errorf("data frames carried parts %v, want [0 1 2]", parts)
	}
	acks := 0
	for _, f := range env.Emu.WSFrames() {
		if f.Type == "ack" && f.MessageID == wsMsgID {
			acks++
			if f.Code != 200 {
				t.Errorf("ACK code %d", f.Code)
			}
		}
	}
	if acks != 1 {
		t.Errorf("%d ACKs for the split message, want 1", acks)
	}
}

// One message arriving again, under a new event id, as a redelivery of the
// same event, after a reconnect and over every connection at once: acted
// on once.
func TestLongConnDuplicatesActOnce(t *testing.T) {
	env := testkit.New(t, testkit.WithWebSocket())
	d := env.Say(t, "/newperiod 2022-01 "+feishuemu.QuarterlyRuleID)
	again := env.Post(t, feishuemu.UserMessage{MessageID: d.MessageID})
	if again.EventID == d.EventID || again.MessageID != d.MessageID {
		t.Fatalf("re-send: event %s message %s", again.EventID, again.MessageID)
	}
	mustWS(t, again)
	r, err := env.Emu.Redeliver(context.Background(), d.EventID)
	if err != nil {
		t.Fatal(err)
	}
	mustWS(t, r)
	first := env.Emu.WSConnections()[0].ID
	env.Emu.DropWSConnections()
	waitUntil(t, 10*time.Second, "a new connection", func() bool {
		cs := env.Emu.WSConnections()
		return len(cs) == 1 && cs[0].ID != first && env.App.Ready(context.Background()) == nil
	})
	r, err = env.Emu.Redeliver(context.Background(), d.EventID)
	if err != nil {
		t.Fatal(err)
	}
	mustWS(t, r)
	ds, err := env.Emu.ReplayToAll(context.Background(), again.EventID)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ds {
		mustWS(t, x)
	}
	env.Settle(t)
	if n := env.Emu.CallCount(feishuemu.APICreatePeriod); n != 1 {
		t.Errorf("create calls = %d, want 1", n)
	}
	if n := len(repliesTo(env, d.MessageID)); n != 1 {
		t.Errorf("%d replies, want 1", n)
	}
}

// The connection drops and the endpoint refuses for a few seconds: /readyz
// says so, then the bot reconnects by itself and works.
func TestLongConnReconnects(t *testing.T) {
	env := testkit.New(t, testkit.WithWebSocket())
	const reconnects = "okrbot_ws_reconnects_total"
	before := metric(t, env.Bot.URL, reconnects)
	env.Emu.RefuseWS(feishuemu.WSRefusal{Code: feishuemu.CodeWSSystemBusy})
	endpointCalls := env.Emu.CallCount(feishuemu.APIWSEndpoint)
	if n := env.Emu.DropWSConnections(); n != 1 {
		t.Fatalf("dropped %d connections", n)
	}
	waitUntil(t, 5*time.Second, "/readyz 503", func() bool {
		code, _ := httpGet(t, env.Bot.URL+"/readyz")
		return code == http.StatusServiceUnavailable
	})
	_, body := httpGet(t, env.Bot.URL+"/readyz")
	if !strings.Contains(body, "long connection") {
		t.Errorf("/readyz does not name the long connection: %s", body)
	}
	// The client keeps asking (three refused attempts take a few seconds);
	// the bot stays unready meanwhile.
	waitUntil(t, 10*time.Second, "three refused endpoint requests", func() bool {
		if code, _ := httpGet(t, env.Bot.URL+"/readyz"); code != http.StatusServiceUnavailable {
			t.Fatalf("/readyz = %d while the endpoint refuses", code)
		}
		if env.Emu.WSConnCount() != 0 {
			t.Fatal("connected while the endpoint refuses")
		}
		return env.Emu.CallCount(feishuemu.APIWSEndpoint) >= endpointCalls+3
	})
	if v := metric(t, env.Bot.URL, "okrbot_ws_connected"); v != 0 {
		t.Errorf("okrbot_ws_connected = %v while disconnected", v)
	}
	env.Emu.AcceptWS()
	env.WaitConnected(t, 1, env.App)
	if code, body := httpGet(t, env.Bot.URL+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d %s after reconnecting", code, body)
	}
	d := env.Say(t, "/newperiod 2022-04 "+feishuemu.QuarterlyRuleID)
	mustWS(t, d)
	testkit.MustSay(t, env.ReplyTo(t, d.MessageID).Card, "OKR period created")
	if after := metric(t, env.Bot.URL, reconnects); after < before+1 {
		t.Errorf("%s went from %v to %v, want it to increase", reconnects, before, after)
	}
	if !strings.Contains(env.Logs.String(), "long connection open again") {
		t.Error("the reconnect is not logged")
	}
}

// A client error after the connection had been up (here: a refused
// handshake, 403) stops the SDK's client for good; the receiver starts a
// new one and gets connected again.
func TestLongConnRecoversFromClientError(t *testing.T) {
	opts, emu, srv := wsEmulator(t)
	logs := &testkit.Buffer{}
	l := handlers.NewLongConn(handlers.LongConnConfig{
		AppID: opts.AppID, AppSecret: opts.AppSecret, BaseURL: srv.URL, Bot: nopBot{},
		Log:        slog.New(slog.NewTextHandler(logs, nil)),
		RetryAfter: 100 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		l.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after Close")
		}
		if t.Failed() {
			t.Logf("log:\n%s", logs)
		}
	})
	waitUntil(t, 10*time.Second, "connected", func() bool { return l.Connected() && emu.WSConnCount() == 1 })
	emu.RefuseWS(feishuemu.WSRefusal{HandshakeStatus: http.StatusForbidden, Times: 1})
	emu.DropWSConnections()
	waitUntil(t, 5*time.Second, "disconnected", func() bool { return !l.Connected() })
	waitUntil(t, 15*time.Second, "connected again", func() bool { return l.Connected() && emu.WSConnCount() == 1 })
}

// The first connection is not a reconnect, even when it took the client a
// few attempts (a handshake refused at start-up); a connection after a
// drop is.
func TestLongConnCountsOnlyReconnects(t *testing.T) {
	opts, emu, srv := wsEmulator(t)
	// The handshake, not the endpoint: a client applies the endpoint's
	// ClientConfig (quick retries) only once it has had an answer, and
	// waits up to 30 s before its first retry otherwise.
	emu.RefuseWS(feishuemu.WSRefusal{HandshakeStatus: http.StatusServiceUnavailable, Times: 1})
	m := handlers.NewMetrics()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collectors()...)
	reconnects := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "okrbot_ws_reconnects_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return 0
	}
	logs := &testkit.Buffer{}
	l := handlers.NewLongConn(handlers.LongConnConfig{AppID: opts.AppID, AppSecret: opts.AppSecret, BaseURL: srv.URL, Bot: nopBot{}, Metrics: m,
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s\nframes: %+v", logs, emu.WSFrames())
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	t.Cleanup(func() { cancel(); l.Close(); <-done })
	waitUntil(t, 10*time.Second, "connected", func() bool { return l.Connected() && emu.WSConnCount() == 1 })
	if n := emu.CallCount(feishuemu.APIWSEndpoint); n < 2 {
		t.Fatalf("%d endpoint requests, want one for the refused handshake and another", n)
	}
	if v := reconnects(); v != 0 {
		t.Errorf("reconnects = %v after the first connection, want 0", v)
	}
	emu.DropWSConnections()
	waitUntil(t, 10*time.Second, "connected again", func() bool { return reconnects() == 1 && l.Connected() && emu.WSConnCount() == 1 })
}

// nopBot takes every event and answers every click with nothing.
type nopBot struct{}

func (nopBot) HandleMessage(context.Context, bot.Message) error { return nil }
func (nopBot) HandleClick(context.Context, bot.Click) (bot.Answer, error) {
	return bot.Answer{}, nil
}

// A SIGTERM mid-command: the connection closes within 2 s and no new one is
// opened, and the command already ACKed still gets its reply.
func TestLongConnShutdownMidCommand(t *testing.T) {
	env := testkit.New(t, testkit.WithWebSocket())
	env.Emu.SetLatency(feishuemu.APICreatePeriod, 1500*time.Millisecond)
	d := env.Say(t, "/newperiod 2022-01 "+feishuemu.QuarterlyRuleID)
	mustWS(t, d)
	waitUntil(t, 5*time.Second, "the create call", func() bool { return env.Emu.CallCount(feishuemu.APICreatePeriod) == 1 })
	endpointCalls := env.Emu.CallCount(feishuemu.APIWSEndpoint)
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- env.App.Shutdown(ctx)
	}()
	waitUntil(t, 2*time.Second, "the connection to close", func() bool { return env.Emu.WSConnCount() == 0 })
	closedAfter := time.Since(start)
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if len(repliesTo(env, d.MessageID)) != 1 {
		t.Fatal("the acknowledged command was not answered before shutdown finished")
	}
	testkit.MustSay(t, repliesTo(env, d.MessageID)[0].Card, "OKR period created")
	if n := env.Emu.CallCount(feishuemu.APIWSEndpoint); n != endpointCalls || env.Emu.WSConnCount() != 0 {
		t.Errorf("a new connection was sought after shutdown: endpoint calls %d → %d, live %d", endpointCalls, n, env.Emu.WSConnCount())
	}
	t.Logf("connection closed %v after shutdown began; shutdown took %v", closedAfter.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// Two replicas on one Redis, each with its own connection; every message
// reaches both at once (as replays after reconnects can): one create, one
// reply each.
func TestLongConnReplicasActOnce(t *testing.T) {
	redis := testkit.StartRedis(t)
	env := testkit.New(t, testkit.WithWebSocket(), testkit.WithConfig(func(c *config.Config) {
		c.Store.Backend = config.BackendRedis
		c.Store.RedisURL = redis.URL()
	}))
	env.Replica(t)
	if n := env.Emu.WSConnCount(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
	const n = 5
	var ids []string
	for i := range n {
		// Record the message without delivering it (no webhook URL), then
		// deliver that event for the first time to both connections at once.
		env.Emu.SetDeliveryMode(feishuemu.DeliveryWebhook)
		env.Emu.SetBotEndpoints("", "")
		d, _ := env.Emu.PostMessage(context.Background(), feishuemu.UserMessage{
			Text: fmt.Sprintf("/newperiod %d-04 %s", 2023+i, feishuemu.QuarterlyRuleID), SenderOpenID: testkit.Operator,
		})
		if d.Skipped == "" {
			t.Fatalf("message was delivered: %+v", d)
		}
		env.Emu.SetDeliveryMode(feishuemu.DeliveryWebSocket)
		ds, err := env.Emu.ReplayToAll(context.Background(), d.EventID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 2 || ds[0].ConnID == ds[1].ConnID {
			t.Fatalf("replayed over %d connections: %+v", len(ds), ds)
		}
		for _, x := range ds {
			mustWS(t, x)
		}
		ids = append(ids, d.MessageID)
	}
	waitUntil(t, 15*time.Second, "a reply to every message", func() bool {
		for _, id := range ids {
			if len(repliesTo(env, id)) == 0 {
				return false
			}
		}
		return true
	})
	env.Settle(t)
	for _, id := range ids {
		if r := repliesTo(env, id); len(r) != 1 {
			t.Errorf("message %s: %d replies, want 1", id, len(r))
		}
	}
	if c := env.Emu.CallCount(feishuemu.APICreatePeriod); c != n {
		t.Errorf("create calls = %d, want %d (one per message)", c, n)
	}
	if p := len(env.Emu.Periods()); p != n {
		t.Errorf("%d periods, want %d", p, n)
	}
}

// 100 commands in a burst over one connection across four chats: 100
// replies, each chat's in the order sent, nothing left running.
func TestLongConnBurst(t *testing.T) {
	env := testkit.New(t, testkit.WithWebSocket(), testkit.WithLeakCheck())
	const chats, perChat = 4, 25
	sent := make([][]string, chats)
	conns := make([]map[string]bool, chats)
	var wg sync.WaitGroup
	for c := range chats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns[c] = map[string]bool{}
			for i := range perChat {
				d, err := env.Emu.PostMessage(context.Background(), feishuemu.UserMessage{
					ChatID: fmt.Sprintf("oc_burst%030d", c), ChatType: "p2p", SenderOpenID: testkit.Operator,
					Text: "/help",
				})
				if err != nil || !d.OK() {
					t.Errorf("chat %d message %d: %v status %d %s", c, i, err, d.Status, d.Err)
					return
				}
				sent[c] = append(sent[c], d.MessageID)
				conns[c][d.ConnID] = true
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	waitUntil(t, 30*time.Second, "100 replies", func() bool { return len(env.Emu.Replies()) >= chats*perChat })
	env.Settle(t)
	replies := env.Emu.Replies()
	if len(replies) != chats*perChat {
		t.Fatalf("%d replies, want %d", len(replies), chats*perChat)
	}
	pos := map[string]int{}
	for i, r := range replies {
		if _, dup := pos[r.ParentID]; dup {
			t.Errorf("two replies to %s", r.ParentID)
		}
		pos[r.ParentID] = i
	}
	for c, ids := range sent {
		if len(conns[c]) != 1 {
			t.Errorf("chat %d went over %d connections", c, len(conns[c]))
		}
		for i := 1; i < len(ids); i++ {
			if pos[ids[i-1]] > pos[ids[i]] {
				t.Errorf("chat %d: message %d answered before message %d", c, i, i-1)
			}
		}
	}
	testkit.MustSay(t, replies[len(replies)-1].Card, "/newperiod")
}

// A message the bot cannot take (its store is down) is ACKed with a
// non-200 code, so that Feishu counts the delivery as failed and sends it
// again; once the store is back, the redelivery is acted on.
func TestLongConnStoreDownIsNotAcked(t *testing.T) {
	redis := testkit.StartRedis(t)
	env := testkit.New(t, testkit.WithWebSocket(), testkit.WithConfig(func(c *config.Config) {
		c.Store.Backend = config.BackendRedis
		c.Store.RedisURL = redis.URL()
	}))
	redis.Stop()
	d, err := env.Emu.PostMessage(context.Background(), feishuemu.UserMessage{Text: "/newperiod 2022-01 " + feishuemu.QuarterlyRuleID, SenderOpenID: testkit.Operator})
	if err != nil {
		t.Fatal(err)
	}
	if d.OK() || d.Status == 200 || d.Status == 0 || d.Transport != feishuemu.DeliveryWebSocket {
		t.Fatalf("delivery while the store is down: status %d err %q; want a non-200 ACK", d.Status, d.Err)
	}
	if code, _ := httpGet(t, env.Bot.URL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d with the store down", code)
	}
	redis.Restart(t)
	env.WaitConnected(t, 1, env.App)
	r, err := env.Emu.Redeliver(context.Background(), d.EventID)
	if err != nil {
		t.Fatal(err)
	}
	mustWS(t, r)
	testkit.MustSay(t, env.ReplyTo(t, d.MessageID).Card, "OKR period created")
	if n := env.Emu.CallCount(feishuemu.APICreatePeriod); n != 1 {
		t.Errorf("create calls = %d, want 1", n)
	}
}

// --- a gateway of our own, for frames the emulator never sends ---

// gateway stands in for Feishu's long-connection gateway: it hands out a
// URL of its own, answers pings, sends the data frames a test gives it and
// returns the ACKs. Every other request goes to api (the emulator).
type gateway struct {
	srv  *httptest.Server
	acks chan larkws.Frame

	mu   sync.Mutex
	conn *websocket.Conn
	seq  uint64
}

func newGateway(t *testing.T, api http.Handler) *gateway {
	g := &gateway{acks: make(chan larkws.Frame, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+feishuemu.WSEndpointPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"code": 0, "msg": "ok", "data": map[string]any{
			"URL": "ws://" + r.Host + feishuemu.WSPath + "?device_id=1&service_id=1", "ClientConfig": testkit.WSClientConfig(),
		}})
	})
	mux.HandleFunc("GET "+feishuemu.WSPath, g.serveWS)
	mux.Handle("/", api)
	g.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		g.mu.Lock()
		if g.conn != nil {
			_ = g.conn.Close()
		}
		g.mu.Unlock()
		g.srv.Close()
	})
	return g
}

func (g *gateway) connected() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.conn != nil
}

func (g *gateway) serveWS(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{}
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	g.mu.Lock()
	g.conn = c
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		if g.conn == c {
			g.conn = nil
		}
		g.mu.Unlock()
		_ = c.Close()
	}()
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			return
		}
		var f larkws.Frame
		if f.Unmarshal(data) != nil {
			continue
		}
		if f.Method == int32(larkws.FrameTypeControl) {
			hs := larkws.Headers{}
			hs.Add(larkws.HeaderType, string(larkws.MessageTypePong))
			cfg, _ := json.Marshal(testkit.WSClientConfig())
			pong := larkws.Frame{SeqID: f.SeqID, LogID: f.LogID, Service: f.Service, Method: f.Method, Headers: hs, Payload: cfg}
			_ = g.write(c, &pong)
			continue
		}
		g.acks <- f
	}
}

func (g *gateway) write(c *websocket.Conn, f *larkws.Frame) error {
	b, err := f.Marshal()
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return c.WriteMessage(websocket.BinaryMessage, b)
}

// push sends payload as one data frame and returns the ACK's code.
func (g *gateway) push(t *testing.T, payload []byte) int {
	t.Helper()
	g.mu.Lock()
	c := g.conn
	g.seq++
	seq := g.seq
	g.mu.Unlock()
	if c == nil {
		t.Fatal("gateway: no connection")
	}
	id := fmt.Sprintf("gw%d", seq)
	hs := larkws.Headers{}
	hs.Add(larkws.HeaderType, string(larkws.MessageTypeEvent))
	hs.Add(larkws.HeaderMessageID, id)
	hs.Add(larkws.HeaderSum, "1")
	hs.Add(larkws.HeaderSeq, "0")
	hs.Add(larkws.HeaderTraceID, id)
	f := larkws.Frame{SeqID: seq, LogID: seq, Service: 1, Method: int32(larkws.FrameTypeData), Headers: hs, Payload: payload}
	if err := g.write(c, &f); err != nil {
		t.Fatalf("gateway: write: %v", err)
	}
	select {
	case ack := <-g.acks:
		if got := larkws.Headers(ack.Headers).GetString(larkws.HeaderMessageID); got != id {
			t.Fatalf("ACK for %q, want %q", got, id)
		}
		var resp struct {
			Code int `json:"code"`
		}
		if err := json.Unmarshal(ack.Payload, &resp); err != nil {
			t.Fatalf("ACK payload %q: %v", ack.Payload, err)
		}
		return resp.Code
	case <-time.After(5 * time.Second):
		t.Fatal("gateway: no ACK within 5 s")
		return 0
	}
}

// An event whose header names another app is ignored: ACKed (there is
// nothing to redeliver), no reply, no API call; the same message under the
// bot's own app id is acted on.
func TestLongConnForeignAppIgnored(t *testing.T) {
	opts := testkit.EmulatorOptions()
	opts.AppID = testkit.FreshAppID()
	emu := feishuemu.New(opts) // webhook mode without URLs: messages are recorded, not delivered
	t.Cleanup(emu.Close)
	gw := newGateway(t, emu)
	cfg := testkit.Config(gw.srv.URL)
	cfg.Feishu.AppID = opts.AppID
	cfg.Feishu.Mode = config.ModeWebSocket
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &testkit.Buffer{}
	a, err := app.New(cfg, app.Options{Log: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if t.Failed() {
			t.Logf("bot log:\n%s", logs)
		}
	})
	waitUntil(t, 10*time.Second, "the bot connected to the gateway and ready", func() bool {
		return gw.connected() && a.Ready(context.Background()) == nil
	})

	record := func(text string) (feishuemu.Delivery, map[string]any) {
		d, _ := emu.PostMessage(context.Background(), feishuemu.UserMessage{Text: text, SenderOpenID: testkit.Operator})
		body, ok := emu.EventBody(d.EventID)
		if !ok {
			t.Fatalf("no event %s", d.EventID)
		}
		var env map[string]any
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatal(err)
		}
		return d, env
	}
	foreign, fenv := record("/newperiod 2022-01 " + feishuemu.QuarterlyRuleID)
	fenv["header"].(map[string]any)["app_id"] = "cli_someoneelse0001"
	body, _ := json.Marshal(fenv)
	if code := gw.push(t, body); code != 200 {
		t.Errorf("foreign event ACKed %d, want 200", code)
	}
	own, oenv := record("/newperiod 2022-04 " + feishuemu.QuarterlyRuleID)
	body, _ = json.Marshal(oenv)
	if code := gw.push(t, body); code != 200 {
		t.Fatalf("own event ACKed %d", code)
	}
	waitUntil(t, 10*time.Second, "the reply to the bot's own event", func() bool {
		for _, r := range emu.Replies() {
			if r.ParentID == own.MessageID {
				return true
			}
		}
		return false
	})
	waitUntil(t, 10*time.Second, "the bot idle", func() bool { return a.Bot.Pending() == 0 })
	for _, r := range emu.Replies() {
		if r.ParentID == foreign.MessageID {
			t.Errorf("the bot replied to another app's event")
		}
	}
	if n := emu.CallCount(feishuemu.APICreatePeriod); n != 1 {
		t.Errorf("create calls = %d, want 1 (the bot's own event only)", n)
	}
	if !strings.Contains(logs.String(), "event for another app") {
		t.Errorf("the foreign event is not logged")
	}
}

// --- latency: event to reply, webhook and long connection, one run ---

// BenchmarkEventToReply measures the time from the emulator starting a
// delivery of "/help" to the bot's reply arriving at the emulator, over
// signed, encrypted webhooks and over the long connection, one command at
// a time (each in a chat of its own), and reports p50 and p99, and the same
// for the delivery alone (until the bot's HTTP answer or ACK).
//
//	go test ./handlers -run '^$' -bench EventToReply -benchtime 500x
func BenchmarkEventToReply(b *testing.B) {
	// Both bots start before the first result line: the SDK's event
	// dispatcher prints a line to stdout when it is made, which would break
	// up the benchmark's output.
	envs := []struct {
		name string
		env  *testkit.Env
	}{
		{"webhook", testkit.New(b)},
		{"websocket", testkit.New(b, testkit.WithWebSocket())},
	}
	for _, mode := range envs {
		env := mode.env
		// Warm up: the token, the bot's identity, connections.
		d := env.Say(b, "/help")
		env.ReplyTo(b, d.MessageID)
		b.Run(mode.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			acks := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				chat := fmt.Sprintf("oc_lat%s%08d%016d", mode.name[:3], b.N, i)
				start := time.Now()
				d, err := env.Emu.PostMessage(context.Background(), feishuemu.UserMessage{ChatID: chat, ChatType: "p2p", SenderOpenID: testkit.Operator, Text: "/help"})
				if err != nil || !d.OK() {
					b.Fatalf("delivery %d: %v %d", i, err, d.Status)
				}
				acks = append(acks, d.Duration)
				lat = append(lat, waitReply(b, env, chat, d.MessageID).CreateTime.Sub(start))
			}
			b.StopTimer()
			for _, x := range [][]time.Duration{lat, acks} {
				sort.Slice(x, func(i, j int) bool { return x[i] < x[j] })
			}
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds()), "p99-µs")
			// The delivery alone: until the bot's answer (HTTP 200 or the ACK).
			b.ReportMetric(float64(acks[len(acks)/2].Microseconds()), "ack-p50-µs")
			b.ReportMetric(float64(acks[(len(acks)*99)/100].Microseconds()), "ack-p99-µs")
		})
	}
}

// waitReply waits, woken by the emulator's change notifications, for the
// bot's reply to messageID in chat.
func waitReply(b *testing.B, env *testkit.Env, chat, messageID string) feishuemu.Message {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for v := env.Emu.Version(); ; v = env.Emu.Wait(ctx, v) {
		for _, m := range env.Emu.Messages(chat) {
			if m.FromBot && m.ParentID == messageID {
				return m
			}
		}
		if ctx.Err() != nil {
			b.Fatalf("no reply to %s", messageID)
		}
	}
}

// wsEmulator serves an emulator of a fresh app that delivers over the long
// connection, for tests that build their own LongConn.
func wsEmulator(t *testing.T) (feishuemu.Options, *feishuemu.Emulator, *httptest.Server) {
	t.Helper()
	opts := testkit.EmulatorOptions()
	opts.AppID = testkit.FreshAppID()
	opts.DeliveryMode = feishuemu.DeliveryWebSocket
	opts.WSClientConfig = testkit.WSClientConfig()
	emu := feishuemu.New(opts)
	srv := httptest.NewServer(emu)
	t.Cleanup(func() { srv.Close(); emu.Close() })
	return opts, emu, srv
}
