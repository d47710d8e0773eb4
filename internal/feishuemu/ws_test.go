package feishuemu

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	larkcore "github.com/larksuite/oapi-sdk-go/v3/core"
	"github.com/larksuite/oapi-sdk-go/v3/event/dispatcher"
	"github.com/larksuite/oapi-sdk-go/v3/event/dispatcher/callback"
	larkim "github.com/larksuite/oapi-sdk-go/v3/service/im/v1"
	larkws "github.com/larksuite/oapi-sdk-go/v3/ws"
)

// wsOptions are emulator options for long-connection tests: a fresh app id
// (the SDK keeps process-wide state per app id), delivery over the long
// connection, and a reconnect within a second or two.
func wsOptions() Options {
	return Options{
		AppID:          freshAppID(),
		DeliveryMode:   DeliveryWebSocket,
		WSClientConfig: WSClientConfig{ReconnectCount: -1, ReconnectInterval: 1, ReconnectNonce: 1, PingInterval: 60},
	}
}

// wsBot is the SDK's real long-connection client with a real event
// dispatcher, recording what its handlers saw.
type wsBot struct {
	client *larkws.Client
	done   chan error // Start's result

	mu       sync.Mutex
	messages []*larkim.P2MessageReceiveV1
	clicks   []*callback.CardActionTriggerEvent
}

func (b *wsBot) received() []*larkim.P2MessageReceiveV1 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*larkim.P2MessageReceiveV1(nil), b.messages...)
}

func (b *wsBot) clicked() []*callback.CardActionTriggerEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*callback.CardActionTriggerEvent(nil), b.clicks...)
}

// botHandlers customise a wsBot's answers; nil fields answer success.
type botHandlers struct {
	message func(*larkim.P2MessageReceiveV1) error
	click   func(*callback.CardActionTriggerEvent) (*callback.CardActionTriggerResponse, error)
}

// startWSBot starts a client against f with the app's credentials (secret
// overrides the secret when non-empty). Start runs until the test ends:
// the cleanup cancels it and waits for it to return, so no client
// goroutine outlives the test.
func startWSBot(t *testing.T, f *fixture, secret string, h botHandlers) *wsBot {
	t.Helper()
	o := f.emu.Options()
	if secret == "" {
		secret = o.AppSecret
	}
	b := &wsBot{done: make(chan error, 1)}
	d := dispatcher.NewEventDispatcher("", "").
		OnP2MessageReceiveV1(func(_ context.Context, ev *larkim.P2MessageReceiveV1) error {
			b.mu.Lock()
			b.messages = append(b.messages, ev)
			b.mu.Unlock()
			if h.message != nil {
				return h.message(ev)
			}
			return nil
		}).
		OnP2CardActionTrigger(func(_ context.Context, ev *callback.CardActionTriggerEvent) (*callback.CardActionTriggerResponse, error) {
			b.mu.Lock()
			b.clicks = append(b.clicks, ev)
			b.mu.Unlock()
			if h.click != nil {
				return h.click(ev)
			}
			return &callback.CardActionTriggerResponse{}, nil
		})
	b.client = larkws.NewClient(o.AppID, secret,
		larkws.WithEventHandler(d),
		larkws.WithDomain(f.srv.URL),
		larkws.WithLogLevel(larkcore.LogLevelError))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { b.done <- b.client.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-b.done:
		case <-time.After(10 * time.Second):
			t.Error("the ws client did not stop")
		}
	})
	return b
}

// startErr waits for a client's Start to return by itself.
func (b *wsBot) startErr(t *testing.T) error {
	t.Helper()
	select {
	case err := <-b.done:
		b.done <- err // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Start did not return")
		return nil
	}
}

// eventually waits, woken by the emulator's change notifications (never by
// a fixed sleep), until cond holds; it fails the test after 10 s.
func eventually(t *testing.T, emu *Emulator, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for v := emu.Version(); !cond(); v = emu.Wait(ctx, v) {
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s; frames %+v", what, emu.WSFrames())
		}
	}
}

func framesOf(emu *Emulator, typ string) []WSFrame {
	var out []WSFrame
	for _, f := range emu.WSFrames() {
		if f.Type == typ {
			out = append(out, f)
		}
	}
	return out
}

func TestWSEndpoint(t *testing.T) {
	f := newFixture(t, wsOptions())
	o := f.emu.Options()
	post := func(body string) map[string]any {
		t.Helper()
		status, _, raw := f.raw(t, http.MethodPost, WSEndpointPath, "", []byte(body))
		if status != 200 {
			t.Fatalf("endpoint answered HTTP %d %s", status, raw)
		}
		return decode(t, raw)
	}
	m := post(`{"AppID":"` + o.AppID + `","AppSecret":"` + o.AppSecret + `","ClientAssertion":""}`)
	if code(m) != 0 || m["msg"] != "ok" {
		t.Fatalf("endpoint %v", m)
	}
	u, err := url.Parse(data(m)["URL"].(string))
	host := strings.TrimPrefix(f.srv.URL, "http://")
	if err != nil || u.Scheme != "ws" || u.Host != host || u.Path != WSPath ||
		u.Query().Get("device_id") == "" || u.Query().Get("service_id") == "" {
		t.Fatalf("URL %v (%v)", data(m)["URL"], err)
	}
	cc := data(m)["ClientConfig"].(map[string]any)
	want := map[string]any{"ReconnectCount": -1.0, "ReconnectInterval": 1.0, "ReconnectNonce": 1.0, "PingInterval": 60.0}
	if !reflectEqual(cc, want) {
		t.Fatalf("ClientConfig %v, want %v", cc, want)
	}

	for _, tt := range []struct {
		body string
		want int
	}{
		{`{"AppID":"` + o.AppID + `","AppSecret":"wrong"}`, CodeWSCredentialsInvalid},
		{`{"AppID":"cli_other","AppSecret":"` + o.AppSecret + `"}`, CodeWSCredentialsInvalid},
		{`{"AppID":"` + o.AppID + `"}`, CodeWSCredentialsEmpty},
		{`not json`, CodeWSCredentialsEmpty},
	} {
		if m := post(tt.body); code(m) != tt.want || m["data"] != nil {
			t.Errorf("%s: %v, want code %d", tt.body, m, tt.want)
		}
	}

	// SetWSClientConfig changes later answers; zero fields take defaults.
	f.emu.SetWSClientConfig(WSClientConfig{PingInterval: 5})
	cc = data(post(`{"AppID":"` + o.AppID + `","AppSecret":"` + o.AppSecret + `"}`))["ClientConfig"].(map[string]any)
	want = map[string]any{"ReconnectCount": -1.0, "ReconnectInterval": 120.0, "ReconnectNonce": 30.0, "PingInterval": 5.0}
	if !reflectEqual(cc, want) {
		t.Fatalf("ClientConfig after SetWSClientConfig %v, want %v", cc, want)
	}

	// Defaults: all four values non-zero (the SDK applies them as given).
	if c := New(Options{}).Options().WSClientConfig; c != DefaultWSClientConfig() ||
		c.ReconnectCount == 0 || c.ReconnectInterval == 0 || c.ReconnectNonce == 0 || c.PingInterval == 0 {
		t.Fatalf("default ClientConfig %+v", c)
	}
	// The URL names the host the request came in on.
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+WSEndpointPath,
		strings.NewReader(`{"AppID":"`+o.AppID+`","AppSecret":"`+o.AppSecret+`"}`))
	req.Host = "bot-facing.example:8443"
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	if got := data(decode(t, buf.Bytes()))["URL"].(string); !strings.HasPrefix(got, "ws://bot-facing.example:8443/ws/v2?") {
		t.Fatalf("URL %s", got)
	}
}

func TestWSConnectAndPing(t *testing.T) {
	f := newFixture(t, wsOptions())
	startWSBot(t, f, "", botHandlers{})
	eventually(t, f.emu, "a connection answered with a pong", func() bool {
		return f.emu.WSConnCount() == 1 && len(framesOf(f.emu, "pong")) > 0
	})
	ping, pong := framesOf(f.emu, "ping")[0], framesOf(f.emu, "pong")[0]
	conns := f.emu.WSConnections()
	if ping.Dir != "in" || pong.Dir != "out" || ping.ConnID != conns[0].ID || pong.Size == 0 || len(framesOf(f.emu, "open")) != 1 {
		t.Fatalf("ping %+v pong %+v conns %+v", ping, pong, conns)
	}
	if n := f.emu.CallCount(APIWSEndpoint); n != 1 {
		t.Fatalf("endpoint calls %d", n)
	}
}

func TestWSMessageEvent(t *testing.T) {
	f := newFixture(t, wsOptions())
	bot := startWSBot(t, f, "", botHandlers{})
	eventually(t, f.emu, "a connection", func() bool { return f.emu.WSConnCount() == 1 })

	d, err := f.emu.PostMessage(context.Background(), UserMessage{ChatType: "group", Text: "@OKR Bot /help", MentionBot: true})
	if err != nil || !d.OK() || d.Status != 200 || d.Transport != DeliveryWebSocket || d.Frames != 1 ||
		d.ConnID != f.emu.WSConnections()[0].ID || len(d.Body) != 0 {
		t.Fatalf("delivery %+v %v", d, err)
	}
	got := bot.received()
	if len(got) != 1 {
		t.Fatalf("handler saw %d messages", len(got))
	}
	ev := got[0]
	if *ev.Event.Message.MessageId != d.MessageID || *ev.Event.Message.Content != `{"text":"@_user_1 /help"}` ||
		*ev.Event.Message.ChatType != "group" || ev.EventV2Base.Header.EventID != d.EventID ||
		ev.EventV2Base.Header.AppID != f.emu.Options().AppID || *ev.Event.Message.Mentions[0].Id.OpenId != DefaultBotOpenID {
		t.Fatalf("event %s", ev.EventReq.Body)
	}
	// The payload is the plain envelope, byte for byte what EventBody keeps.
	if body, _ := f.emu.EventBody(d.EventID); !bytes.Equal(body, ev.EventReq.Body) {
		t.Fatalf("payload %s, want %s", ev.EventReq.Body, body)
	}
	out, acks := framesOf(f.emu, "event"), framesOf(f.emu, "ack")
	if len(out) != 1 || len(acks) != 1 || acks[0].Code != 200 || acks[0].MessageID != out[0].MessageID || out[0].Parts != 1 {
		t.Fatalf("event frames %+v acks %+v", out, acks)
	}
	if ds := f.emu.Deliveries(); len(ds) != 1 || ds[0].Transport != DeliveryWebSocket || ds[0].Status != 200 {
		t.Fatalf("deliveries %+v", ds)
	}
}

func TestWSCardClick(t *testing.T) {
	f := newFixture(t, wsOptions())
	f.emu.SetDeliveryMode(DeliveryWebhook) // botCard posts its parent with nowhere to deliver it
	id := botCard(t, f)
	f.emu.SetDeliveryMode(DeliveryWebSocket)
	newCard := testCard(markdown("created"))
	bot := startWSBot(t, f, "", botHandlers{click: func(*callback.CardActionTriggerEvent) (*callback.CardActionTriggerResponse, error) {
		return &callback.CardActionTriggerResponse{
			Toast: &callback.Toast{Type: "success", Content: "ok"},
			Card:  &callback.Card{Type: "raw", Data: newCard},
		}, nil
	}})
	eventually(t, f.emu, "a connection", func() bool { return f.emu.WSConnCount() == 1 })

	m, _ := f.emu.Message(id)
	res, err := f.emu.Click(context.Background(), Click{MessageID: id, OperatorOpenID: "ou_op", Value: ButtonValues(m.Card)[1]})
	if err != nil || res.Err != "" || !res.Updated || res.Toast["type"] != "success" || res.Status != 200 {
		t.Fatalf("%+v %v", res, err)
	}
	clicks := bot.clicked()
	if len(clicks) != 1 {
		t.Fatalf("handler saw %d clicks", len(clicks))
	}
	ev := clicks[0].Event
	if ev.Context.OpenMessageID != id || ev.Action.Value["rule"] != "2" || ev.Operator.OpenID != "ou_op" || ev.Token != res.Token {
		t.Fatalf("callback %s", clicks[0].EventReq.Body)
	}
	m, _ = f.emu.Message(id)
	if m.Updates != 1 || !slices.Contains(CardTexts(m.Card), "created") {
		t.Fatalf("card not replaced: %+v", m)
	}
	ds := f.emu.Deliveries()
	if last := ds[len(ds)-1]; last.Kind != "callback" || last.Transport != DeliveryWebSocket || last.Status != 200 ||
		!bytes.Contains(last.Body, []byte(`"toast"`)) {
		t.Fatalf("delivery %+v", last)
	}
}

func TestWSSplitPayload(t *testing.T) {
	o := wsOptions()
	o.WSSplit = 3
	f := newFixture(t, o)
	bot := startWSBot(t, f, "", botHandlers{})
	eventually(t, f.emu, "a connection", func() bool { return f.emu.WSConnCount() == 1 })

	text := "/newperiod 2024-01 " + strings.Repeat("长", 200)
	d, err := f.emu.PostMessage(context.Background(), UserMessage{Text: text})
	if err != nil || !d.OK() || d.Frames != 3 {
		t.Fatalf("delivery %+v %v", d, err)
	}
	got := bot.received()
	if len(got) != 1 || *got[0].Event.Message.Content != jsonString(map[string]string{"text": text}) {
		t.Fatalf("handler saw %d messages", len(got))
	}
	parts := framesOf(f.emu, "event")
	if len(parts) != 3 {
		t.Fatalf("frames %+v", parts)
	}
	for i, p := range parts {
		if p.Part != i || p.Parts != 3 || p.MessageID != parts[0].MessageID {
			t.Fatalf("part %d: %+v", i, p)
		}
	}

	// SetWSSplit changes later deliveries.
	f.emu.SetWSSplit(1)
	if d, err := f.emu.PostMessage(context.Background(), UserMessage{Text: "/help"}); err != nil || d.Frames != 1 || !d.OK() {
		t.Fatalf("unsplit delivery %+v %v", d, err)
	}
}

func TestSplitPayload(t *testing.T) {
	for _, tt := range []struct {
		in    string
		n     int
		parts int
	}{{"abcdefgh", 3, 3}, {"ab", 3, 2}, {"", 3, 1}, {"abc", 1, 1}, {"abc", 0, 1}} {
		parts := splitPayload([]byte(tt.in), tt.n)
		if len(parts) != tt.parts || string(bytes.Join(parts, nil)) != tt.in {
			t.Errorf("splitPayload(%q, %d) = %q", tt.in, tt.n, parts)
		}
	}
}

func TestWSReconnectAfterDrop(t *testing.T) {
	f := newFixture(t, wsOptions())
	startWSBot(t, f, "", botHandlers{})
	eventually(t, f.emu, "a connection", func() bool { return f.emu.WSConnCount() == 1 })
	first := f.emu.WSConnections()[0].ID

	if n := f.emu.DropWSConnections(); n != 1 {
		t.Fatalf("dropped %d", n)
	}
	eventually(t, f.emu, "a new connection", func() bool {
		c := f.emu.WSConnections()
		return len(c) == 1 && c[0].ID != first
	})
	if n := f.emu.CallCount(APIWSEndpoint); n != 2 {
		t.Fatalf("endpoint calls %d, want 2 (one per connection)", n)
	}
	if d, err := f.emu.PostMessage(context.Background(), UserMessage{Text: "/help"}); err != nil || !d.OK() {
		t.Fatalf("after reconnect: %+v %v", d, err)
	}
}

func TestWSEndpointRefusedForAWhile(t *testing.T) {
	f := newFixture(t, wsOptions())
	startWSBot(t, f, "", botHandlers{})
	eventually(t, f.emu, "a connection", func() bool { return f.emu.WSConnCount() == 1 })

	f.emu.RefuseWS(WSRefusal{}) // the endpoint answers 1000040343 until AcceptWS
	f.emu.DropWSConnections()
	refused := func() int {
		n := 0
		for _, c := range f.emu.Calls() {
			if c.API == APIWSEndpoint && c.Code == CodeWSInternalError {
				n++
			}
		}
		return n
	}
	eventually(t, f.emu, "two refused reconnect attempts", func() bool { return refused() >= 2 })
	if n := f.emu.WSConnCount(); n != 0 {
		t.Fatalf("%d connections while refused", n)
	}
	// Meanwhile a message cannot be delivered: a failed push, like a
	// refused connection for a webhook.
	d, err := f.emu.PostMessage(context.Background(), UserMessage{Text: "/help"})
	if err == nil || d.OK() || d.Err == "" || d.Skipped != "" || d.Transport != DeliveryWebSocket {
		t.Fatalf("delivery without a connection: %+v %v", d, err)
	}

	f.emu.AcceptWS()
	eventually(t, f.emu, "a connection after the refusal", func() bool { return f.emu.WSConnCount() == 1 })
	if d, err := f.emu.Redeliver(context.Background(), d.EventID); err != nil || !d.OK() || d.Attempt != 2 {
		t.Fatalf("redelivery after reconnect: %+v %v", d, err)
	}
}

func TestWSHandshakeRefusedTimes(t *testing.T) {
	f := newFixture(t, wsOptions())
	f.emu.RefuseWS(WSRefusal{HandshakeStatus: http.StatusServiceUnavailable, Times: 2})
	startWSBot(t, f, "", botHandlers{})
	eventually(t, f.emu, "a connection after two refused handshakes", func() bool { return f.emu.WSConnCount() == 1 })
	refused := framesOf(f.emu, "refused")
	if len(refused) != 2 || refused[0].Code != http.StatusServiceUnavailable {
		t.Fatalf("refusals %+v", refused)
	}
	if n := f.emu.CallCount(APIWSEndpoint); n != 3 {
		t.Fatalf("endpoint calls %d, want 3", n)
	}
}

func TestWSWrongSecret(t *testing.T) {
	f := newFixture(t, wsOptions())
	bot := startWSBot(t, f, "not-the-secret", botHandlers{})
	err := bot.startErr(t)
	var ce *larkws.ClientError
	if !errors.As(err, &ce) || ce.Code != CodeWSCredentialsInvalid {
		t.Fatalf("Start = %T %v, want a ClientError %d", err, err, CodeWSCredentialsInvalid)
	}
	if n := f.emu.WSConnCount(); n != 0 {
		t.Fatalf("%d connections", n)
	}
}

func TestWSTooManyConnections(t *testing.T) {
	o := wsOptions()
	o.WSMaxConns = 2
	f := newFixture(t, o)
	startWSBot(t, f, "", botHandlers{})
	startWSBot(t, f, "", botHandlers{})
	eventually(t, f.emu, "two connections", func() bool { return f.emu.WSConnCount() == 2 })

	third := startWSBot(t, f, "", botHandlers{})
	err := third.startErr(t)
	var ce *larkws.ClientError
	if !errors.As(err, &ce) || ce.Code != WSStatusAuthFailed {
		t.Fatalf("Start = %T %v, want a ClientError 514", err, err)
	}
	refused := framesOf(f.emu, "refused")
	if len(refused) != 1 || refused[0].Code != WSStatusAuthFailed || f.emu.WSConnCount() != 2 {
		t.Fatalf("refusals %+v, %d connections", refused, f.emu.WSConnCount())
	}
}

func TestWSOneConnectionPerMessageAndReplay(t *testing.T) {
	f := newFixture(t, wsOptions())
	a := startWSBot(t, f, "", botHandlers{})
	b := startWSBot(t, f, "", botHandlers{})
	eventually(t, f.emu, "two connections", func() bool { return f.emu.WSConnCount() == 2 })
	ctx := context.Background()

	d1, err1 := f.emu.PostMessage(ctx, UserMessage{Text: "/help"})
	d2, err2 := f.emu.PostMessage(ctx, UserMessage{Text: "/periods"})
	if err1 != nil || err2 != nil || !d1.OK() || !d2.OK() || d1.ConnID == d2.ConnID {
		t.Fatalf("deliveries %+v %+v", d1, d2)
	}
	if len(a.received()) != 1 || len(b.received()) != 1 {
		t.Fatalf("each message goes to one connection: %d and %d", len(a.received()), len(b.received()))
	}

	ds, err := f.emu.ReplayToAll(ctx, d1.EventID)
	if err != nil || len(ds) != 2 || !ds[0].OK() || !ds[1].OK() || ds[0].ConnID == ds[1].ConnID {
		t.Fatalf("replay %+v %v", ds, err)
	}
	for _, bot := range []*wsBot{a, b} {
		got := bot.received()
		if last := got[len(got)-1]; last.EventV2Base.Header.EventID != d1.EventID {
			t.Fatalf("replayed event %s", last.EventReq.Body)
		}
	}
}

func TestWSHandlerErrorIsRedelivered(t *testing.T) {
	o := wsOptions()
	o.Redelivery = []time.Duration{10 * time.Millisecond}
	f := newFixture(t, o)
	var mu sync.Mutex
	fail := true
	startWSBot(t, f, "", botHandlers{message: func(*larkim.P2MessageReceiveV1) error {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			fail = false
			return errors.New("store down")
		}
		return nil
	}})
	eventually(t, f.emu, "a connection", func() bool { return f.emu.WSConnCount() == 1 })
	d, err := f.emu.PostMessage(context.Background(), UserMessage{Text: "/help"})
	if err != nil || d.Status != 500 || d.OK() {
		t.Fatalf("first delivery %+v %v", d, err)
	}
	eventually(t, f.emu, "the redelivery", func() bool {
		ds := f.emu.Deliveries()
		return len(ds) == 2 && ds[1].OK() && ds[1].EventID == d.EventID
	})
}

func TestWSNoConnection(t *testing.T) {
	f := newFixture(t, wsOptions())
	f.emu.SetDeliveryMode(DeliveryWebhook)
	id := botCard(t, f)
	f.emu.SetDeliveryMode(DeliveryWebSocket)
	d, err := f.emu.PostMessage(context.Background(), UserMessage{Text: "/help"})
	if !errors.Is(err, errWSNoConn) || d.Err == "" || d.Skipped != "" || d.Transport != DeliveryWebSocket {
		t.Fatalf("%+v %v", d, err)
	}
	res, err := f.emu.Click(context.Background(), Click{MessageID: id, Value: map[string]any{"x": 1}})
	if err != nil || res.Err != "200342" {
		t.Fatalf("click without a connection: %+v %v", res, err)
	}
}

func TestWSClickTimeout(t *testing.T) {
	o := wsOptions()
	o.CallbackTimeout = 200 * time.Millisecond
	f := newFixture(t, o)
	f.emu.SetDeliveryMode(DeliveryWebhook)
	id := botCard(t, f)
	f.emu.SetDeliveryMode(DeliveryWebSocket)
	release := make(chan struct{})
	startWSBot(t, f, "", botHandlers{click: func(*callback.CardActionTriggerEvent) (*callback.CardActionTriggerResponse, error) {
		<-release
		return &callback.CardActionTriggerResponse{}, nil
	}})
	defer close(release) // before the client's cleanup, which waits for its handlers
	eventually(t, f.emu, "a connection", func() bool { return f.emu.WSConnCount() == 1 })
	res, err := f.emu.Click(context.Background(), Click{MessageID: id, Value: map[string]any{"x": 1}})
	if err != nil || res.Err != "200341" || res.Updated {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestWSClickHandlerError(t *testing.T) {
	f := newFixture(t, wsOptions())
	f.emu.SetDeliveryMode(DeliveryWebhook)
	id := botCard(t, f)
	f.emu.SetDeliveryMode(DeliveryWebSocket)
	startWSBot(t, f, "", botHandlers{click: func(*callback.CardActionTriggerEvent) (*callback.CardActionTriggerResponse, error) {
		return nil, errors.New("busy")
	}})
	eventually(t, f.emu, "a connection", func() bool { return f.emu.WSConnCount() == 1 })
	res, err := f.emu.Click(context.Background(), Click{MessageID: id, Value: map[string]any{"x": 1}})
	if err != nil || res.Status != 500 || res.Err != "200671" || res.Updated {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestWSCloseEndsConnections(t *testing.T) {
	f := newFixture(t, wsOptions())
	startWSBot(t, f, "", botHandlers{})
	eventually(t, f.emu, "a connection", func() bool { return f.emu.WSConnCount() == 1 })
	done := make(chan struct{})
	go func() {
		f.emu.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	if n := f.emu.WSConnCount(); n != 0 {
		t.Fatalf("%d connections after Close", n)
	}
	if len(framesOf(f.emu, "close")) != 1 {
		t.Fatalf("frames %+v", f.emu.WSFrames())
	}
	// Close waited for the connection's goroutine (the upgraded handler
	// running readLoop): none is left.
	buf := make([]byte, 1<<20)
	if stacks := string(buf[:runtime.Stack(buf, true)]); strings.Contains(stacks, "feishuemu.(*Emulator).readLoop") {
		t.Fatalf("a connection goroutine outlived Close:\n%s", stacks)
	}
	// The client keeps trying; the endpoint answers "system busy" (retried)
	// and no connection is accepted.
	o := f.emu.Options()
	_, _, raw := f.raw(t, http.MethodPost, WSEndpointPath, "", []byte(`{"AppID":"`+o.AppID+`","AppSecret":"`+o.AppSecret+`"}`))
	if m := decode(t, raw); code(m) != CodeWSSystemBusy {
		t.Fatalf("endpoint after Close: %s", raw)
	}
}

func TestWSEndpointFaultInjection(t *testing.T) {
	f := newFixture(t, wsOptions())
	o := f.emu.Options()
	f.emu.Inject(Fault{API: APIWSEndpoint, Code: CodeWSSystemBusy})
	status, _, raw := f.raw(t, http.MethodPost, WSEndpointPath, "", []byte(`{"AppID":"`+o.AppID+`","AppSecret":"`+o.AppSecret+`"}`))
	if m := decode(t, raw); status != 200 || code(m) != CodeWSSystemBusy || m["msg"] != "system busy" {
		t.Fatalf("%d %s", status, raw)
	}
}

func TestSetDeliveryModePanicsOnTypo(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	New(Options{}).SetDeliveryMode("websockets")
}
