package feishuemu

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	larkevent "github.com/larksuite/oapi-sdk-go/v3/event"
	larkim "github.com/larksuite/oapi-sdk-go/v3/service/im/v1"
)

const testEncryptKey = "demoEncryptKey123"

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestPostMessageDelivery(t *testing.T) {
	clk := newClock()
	emu := New(Options{EncryptKey: testEncryptKey, VerificationToken: "vt", AppID: "cli_app", TenantKey: "tk", BotOpenID: "ou_bot", BotName: "OKR Bot", Now: clk.Now})
	rc, bot := newReceiver(t, testEncryptKey, nil)
	emu.SetBotEndpoints(bot.URL+"/event", bot.URL+"/card")

	created := clk.Now().Add(-time.Minute)
	d, err := emu.PostMessage(context.Background(), UserMessage{
		ChatType: "group", SenderOpenID: "ou_alice", Text: "@OKR Bot /newperiod 2022-01 @Tom",
		MentionBot: true, Mentions: []Mention{{OpenID: "ou_tom", Name: "Tom"}}, CreateTime: created,
	})
	if err != nil || d.Status != 200 || !d.OK() || d.Attempt != 1 {
		t.Fatalf("delivery %+v %v", d, err)
	}
	got := rc.received()
	if len(got) != 1 {
		t.Fatalf("%d requests", len(got))
	}
	h := got[0].Header
	if ts := h.Get("X-Lark-Request-Timestamp"); len(ts) != 10 || h.Get("X-Lark-Request-Nonce") == "" {
		t.Fatalf("headers %v", h)
	}
	var env struct {
		Schema string                `json:"schema"`
		Header larkevent.EventHeader `json:"header"`
		Event  larkim.P2MessageReceiveV1Data
	}
	if err := json.Unmarshal(got[0].Plain, &env); err != nil {
		t.Fatalf("%s: %v", got[0].Plain, err)
	}
	if env.Schema != "2.0" || env.Header.EventType != "im.message.receive_v1" || env.Header.Token != "vt" ||
		env.Header.AppID != "cli_app" || env.Header.TenantKey != "tk" || !hex32.MatchString(env.Header.EventID) ||
		env.Header.EventID != d.EventID || env.Header.CreateTime != msString(clk.Now()) {
		t.Fatalf("header %+v", env.Header)
	}
	ev := decode(t, got[0].Plain)["event"]
	msg := env.Event.Message
	if msg == nil || *msg.MessageId != d.MessageID || *msg.ChatType != "group" || *msg.ChatId != DefaultGroupChatID ||
		*msg.MessageType != "text" || *msg.CreateTime != msString(created) || *msg.Content != `{"text":"@_user_1 /newperiod 2022-01 @_user_2"}` {
		t.Fatalf("message %s", got[0].Plain)
	}
	if len(msg.Mentions) != 2 || *msg.Mentions[0].Key != "@_user_1" || *msg.Mentions[0].Id.OpenId != "ou_bot" ||
		*msg.Mentions[1].Key != "@_user_2" || *msg.Mentions[1].Id.OpenId != "ou_tom" || *msg.Mentions[1].Name != "Tom" {
		t.Fatalf("mentions %s", got[0].Plain)
	}
	if dig(ev, "sender", "sender_id", "open_id") != "ou_alice" || dig(ev, "sender", "sender_type") != "user" ||
		dig(ev, "message", "parent_id") != nil || dig(ev, "message", "root_id") != nil {
		t.Fatalf("event %s", got[0].Plain)
	}
	stored, _ := emu.Message(d.MessageID)
	if stored.Text != "@OKR Bot /newperiod 2022-01 @Tom" || stored.FromBot || stored.SenderOpenID != "ou_alice" {
		t.Fatalf("stored %+v", stored)
	}

	// Redeliver: the same plaintext, a new body (IV) and signature.
	d2, err := emu.Redeliver(context.Background(), d.EventID)
	if err != nil || d2.Attempt != 2 || d2.EventID != d.EventID {
		t.Fatalf("redeliver %+v %v", d2, err)
	}
	got = rc.received()
	if len(got) != 2 || !bytes.Equal(got[0].Plain, got[1].Plain) || bytes.Equal(got[0].Raw, got[1].Raw) ||
		got[0].Header.Get("X-Lark-Signature") == got[1].Header.Get("X-Lark-Signature") ||
		got[0].Header.Get("X-Lark-Request-Nonce") == got[1].Header.Get("X-Lark-Request-Nonce") {
		t.Fatal("redelivery must keep the plaintext and change body, nonce and signature")
	}

	// The same message under a new event id.
	d3, err := emu.PostMessage(context.Background(), UserMessage{MessageID: d.MessageID})
	if err != nil || d3.EventID == d.EventID || d3.MessageID != d.MessageID {
		t.Fatalf("re-send %+v %v", d3, err)
	}
	third := decode(t, rc.received()[2].Plain)
	if !reflectEqual(third["event"], ev) {
		t.Fatalf("re-sent event differs:\n%v\n%v", third["event"], ev)
	}
	if n := len(emu.Messages("")); n != 1 {
		t.Fatalf("re-send stored %d messages", n)
	}
	if ds := emu.Deliveries(); len(ds) != 3 || ds[2].Attempt != 1 {
		t.Fatalf("deliveries %+v", ds)
	}
}

func reflectEqual(a, b any) bool { return jsonString(a) == jsonString(b) }

func TestPostMessageP2PPlain(t *testing.T) {
	emu := New(Options{})
	rc, bot := newReceiver(t, "", func([]byte) (int, []byte) { return 503, nil })
	emu.SetBotEndpoints(bot.URL, bot.URL)
	d, err := emu.PostMessage(context.Background(), UserMessage{Text: "/help <at>"})
	if err != nil || d.Status != 503 || d.OK() || d.Transport != DeliveryWebhook || d.Frames != 0 {
		t.Fatalf("%+v %v", d, err)
	}
	r := rc.received()[0]
	if r.Header.Get("X-Lark-Signature") != "" || bytes.Contains(r.Raw, []byte(`"encrypt"`)) {
		t.Fatalf("no encrypt key: plaintext, unsigned; got %s %v", r.Raw, r.Header)
	}
	m := decode(t, r.Raw)
	if dig(m, "event", "message", "chat_type") != "p2p" || dig(m, "event", "message", "chat_id") != DefaultP2PChatID ||
		dig(m, "event", "message", "content") != `{"text":"/help <at>"}` || dig(m, "event", "message", "mentions") != nil {
		t.Fatalf("event %s", r.Raw)
	}
}

func TestDeliveryScopes(t *testing.T) {
	emu := New(Options{})
	rc, bot := newReceiver(t, "", nil)
	emu.SetBotEndpoints(bot.URL, bot.URL)
	ctx := context.Background()
	if d, _ := emu.PostMessage(ctx, UserMessage{ChatType: "group", Text: "hello"}); !d.OK() {
		t.Fatalf("group message with group_msg: %+v", d)
	}
	emu.RevokeScope("im:message.group_msg")
	if d, _ := emu.PostMessage(ctx, UserMessage{ChatType: "group", Text: "hello"}); d.Skipped == "" {
		t.Fatalf("group message without mention or group_msg delivered: %+v", d)
	}
	if d, _ := emu.PostMessage(ctx, UserMessage{ChatType: "group", Text: "/help", MentionBot: true}); !d.OK() {
		t.Fatalf("@bot message: %+v", d)
	}
	emu.RevokeScope("im:message.group_at_msg.include_bot:readonly")
	if d, _ := emu.PostMessage(ctx, UserMessage{SenderType: "app", Text: "/help"}); d.Skipped == "" {
		t.Fatalf("bot message delivered without include_bot: %+v", d)
	}
	if n := len(rc.received()); n != 2 {
		t.Fatalf("bot got %d events, want 2", n)
	}
}

func TestAutomaticRedelivery(t *testing.T) {
	emu := New(Options{Redelivery: []time.Duration{5 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond}})
	defer emu.Close()
	var n atomic.Int32
	_, bot := newReceiver(t, "", func([]byte) (int, []byte) {
		if n.Add(1) <= 2 {
			return 503, nil
		}
		return 200, nil
	})
	emu.SetBotEndpoints(bot.URL, bot.URL)
	d, err := emu.PostMessage(context.Background(), UserMessage{Text: "/help"})
	if err != nil || d.Status != 503 {
		t.Fatalf("%+v %v", d, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for v := emu.Version(); ; v = emu.Wait(ctx, v) {
		if ds := emu.Deliveries(); len(ds) == 3 && ds[2].OK() {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("deliveries %+v", emu.Deliveries())
		}
	}
	for i, dl := range emu.Deliveries() {
		if dl.EventID != d.EventID || dl.Attempt != i+1 {
			t.Fatalf("delivery %d: %+v", i, dl)
		}
	}
	emu.Close()
	if n := len(emu.Deliveries()); n != 3 {
		t.Fatalf("redelivered after success: %d", n)
	}
}

func TestChallenge(t *testing.T) {
	rc, bot := newReceiver(t, testEncryptKey, func(plain []byte) (int, []byte) {
		var c struct{ Challenge, Token, Type string }
		_ = json.Unmarshal(plain, &c)
		return 200, []byte(`{"challenge":"` + c.Challenge + `"}`)
	})
	s := Sender{VerificationToken: "vt", EncryptKey: testEncryptKey}
	resp, err := s.Challenge(context.Background(), bot.URL, "ch-1")
	if err != nil || resp.Status != 200 || string(resp.Body) != `{"challenge":"ch-1"}` {
		t.Fatalf("%+v %v", resp, err)
	}
	m := decode(t, rc.received()[0].Plain)
	if m["type"] != "url_verification" || m["token"] != "vt" || m["challenge"] != "ch-1" {
		t.Fatalf("challenge %v", m)
	}
}

func TestSenderVectors(t *testing.T) {
	// docs/feishu.md §1.5/§1.6 vectors: fixed IV ciphertext and its signature.
	plain := `{"challenge":"c5f1e2a0-0b1d-4e55-9d3e-1a2b3c4d5e6f","token":"demoVerifyToken456","type":"url_verification"}`
	enc, err := encryptWithIV(testEncryptKey, []byte("0123456789abcdef"), []byte(plain))
	want := "MDEyMzQ1Njc4OWFiY2RlZkiB13Xl0n4jTDQkOq6lca4y9422CwXU/z+lkde2WpApqW3Pj7R3MQJZ1FJYM/FIH++NtSNEF+5dluxWI5Nvogu9m4HoiQvUB3s87atPKf8Ryeg9XLtGjwtztnPO6u6dcHbAve73raftD+34rTrbIeQ="
	if err != nil || enc != want {
		t.Fatalf("encrypt = %s, %v", enc, err)
	}
	s := Sender{EncryptKey: testEncryptKey}
	if sig := s.Sign("1718000000", "n0nce-7f3a", []byte(`{"encrypt":"`+enc+`"}`)); sig != "55bff84a3728cff6020760f36cdd3675a32498118270e63beb40423c57d2021f" {
		t.Fatalf("signature %s", sig)
	}
	random, _ := s.Encrypt([]byte(plain))
	if dec, err := larkevent.EventDecrypt(random, testEncryptKey); err != nil || string(dec) != plain {
		t.Fatalf("EventDecrypt: %q %v", dec, err)
	}
	env := Sender{VerificationToken: "vt", AppID: "cli", TenantKey: "tk"}.Envelope("x.y", map[string]any{"a": 1})
	if h := env["header"].(map[string]any); h["token"] != "vt" || !hex32.MatchString(h["event_id"].(string)) || len(h["create_time"].(string)) != 13 {
		t.Fatalf("envelope %v", env)
	}
}

// botCard sends a bot reply card with two buttons and returns its id.
func botCard(t *testing.T, f *fixture) string {
	t.Helper()
	parent := userMessage(t, f.emu, UserMessage{Text: "/newperiod 2022-01"})
	card := testCard(markdown("choose"), map[string]any{"tag": "column_set", "columns": []any{
		map[string]any{"tag": "column", "elements": []any{button("Monthly", map[string]any{"rule": "1"})}},
		map[string]any{"tag": "column", "elements": []any{button("Quarterly", map[string]any{"rule": "2"})}},
	}})
	resp, err := f.client.Im.V1.Message.Reply(context.Background(), replyReq(parent, "interactive", jsonString(card), ""), f.tok())
	if err != nil || !resp.Success() {
		t.Fatalf("%v %+v", err, resp)
	}
	return *resp.Data.MessageId
}

func TestButtons(t *testing.T) {
	card := testCard(button("A", map[string]any{"n": "a"}), map[string]any{"tag": "column_set", "columns": []any{
		map[string]any{"tag": "column", "elements": []any{button("B", map[string]any{"n": "b"}), markdown("x")}},
		map[string]any{"tag": "column", "elements": []any{
			map[string]any{"tag": "button", "text": map[string]any{"tag": "plain_text", "content": "Docs"},
				"behaviors": []any{map[string]any{"type": "open_url", "default_url": "https://example.invalid"}}},
			button("C", map[string]any{"n": "c"}),
		}},
	}}, button("D", map[string]any{"n": "d"}))
	var names []string
	for _, v := range ButtonValues(card) {
		names = append(names, v["n"].(string))
	}
	if strings.Join(names, "") != "abcd" {
		t.Fatalf("ButtonValues order %v", names)
	}
	bs := Buttons(card)
	if len(bs) != 5 || bs[2].Text != "Docs" || bs[2].URL != "https://example.invalid" || bs[2].Value != nil ||
		bs[1].TextZh != "中B" || bs[1].TextEn != "B" {
		t.Fatalf("Buttons %+v", bs)
	}
}

func TestClickAppliesRawCard(t *testing.T) {
	f := newFixture(t, Options{EncryptKey: testEncryptKey})
	id := botCard(t, f)
	newCard := testCard(markdown("created"))
	rc, bot := newReceiver(t, testEncryptKey, func([]byte) (int, []byte) {
		return 200, []byte(jsonString(map[string]any{
			"toast": map[string]any{"type": "success", "content": "ok"},
			"card":  map[string]any{"type": "raw", "data": newCard},
		}))
	})
	f.emu.SetBotEndpoints("", bot.URL)
	m, _ := f.emu.Message(id)
	values := ButtonValues(m.Card)
	res, err := f.emu.Click(context.Background(), Click{MessageID: id, OperatorOpenID: "ou_op", Value: values[1]})
	if err != nil || res.Err != "" || !res.Updated || res.Toast["type"] != "success" {
		t.Fatalf("%+v %v", res, err)
	}
	cb := decode(t, rc.received()[0].Plain)
	h := cb["header"].(map[string]any)
	if h["event_type"] != "card.action.trigger" || len(h["create_time"].(string)) != 16 || h["token"] != f.emu.Options().VerificationToken {
		t.Fatalf("callback header %v", h)
	}
	ev := cb["event"]
	if tok, _ := dig(ev, "token").(string); !strings.HasPrefix(tok, "c-") || tok != res.Token ||
		dig(ev, "action", "value", "rule") != "2" || dig(ev, "action", "tag") != "button" ||
		dig(ev, "operator", "open_id") != "ou_op" || dig(ev, "context", "open_message_id") != id ||
		dig(ev, "context", "open_chat_id") != DefaultP2PChatID || dig(ev, "host") != "im_message" {
		t.Fatalf("callback event %v", ev)
	}
	m, _ = f.emu.Message(id)
	if m.Updates != 1 || !slices.Contains(CardTexts(m.Card), "created") {
		t.Fatalf("card not replaced: %+v", m)
	}
}

func TestClickAnswers(t *testing.T) {
	note := testCard(map[string]any{"tag": "note"})
	v1 := map[string]any{"elements": []any{}}
	tests := []struct {
		name        string
		status      int
		body        string
		wantErr     string
		wantUpdated bool
	}{
		{"empty", 200, "", "", false},
		{"null", 200, "null", "", false},
		{"empty object", 200, "{}", "", false},
		{"toast only", 200, `{"toast":{"type":"info","content":"hi"}}`, "", false},
		{"raw card", 200, jsonString(map[string]any{"card": map[string]any{"type": "raw", "data": testCard(markdown("x"))}}), "", true},
		{"invalid raw card", 200, jsonString(map[string]any{"card": map[string]any{"type": "raw", "data": note}}), "200673", false},
		{"downgrade to 1.0", 200, jsonString(map[string]any{"card": map[string]any{"type": "raw", "data": v1}}), "200830", false},
		{"not json", 200, "ok", "200672", false},
		{"non-200", 500, `{"msg":"boom"}`, "200671", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			id := botCard(t, f)
			_, bot := newReceiver(t, "", func([]byte) (int, []byte) { return tt.status, []byte(tt.body) })
			f.emu.SetBotEndpoints("", bot.URL)
			res, err := f.emu.Click(context.Background(), Click{MessageID: id, Value: map[string]any{"x": 1}})
			if err != nil || res.Err != tt.wantErr || res.Updated != tt.wantUpdated {
				t.Fatalf("%+v %v", res, err)
			}
			if m, _ := f.emu.Message(id); (m.Updates == 1) != tt.wantUpdated {
				t.Fatalf("updates %d", m.Updates)
			}
		})
	}
}

func TestClickTimeout(t *testing.T) {
	f := newFixture(t, Options{CallbackTimeout: 100 * time.Millisecond})
	id := botCard(t, f)
	release := make(chan struct{})
	_, bot := newReceiver(t, "", func([]byte) (int, []byte) {
		<-release
		return 200, []byte(jsonString(map[string]any{"card": map[string]any{"type": "raw", "data": testCard(markdown("late"))}}))
	})
	defer close(release)
	f.emu.SetBotEndpoints("", bot.URL)
	start := time.Now()
	res, err := f.emu.Click(context.Background(), Click{MessageID: id, Value: map[string]any{"x": 1}})
	if err != nil || res.Err != "200341" || res.Updated {
		t.Fatalf("%+v %v", res, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("click waited %v", d)
	}
}

func TestCardUpdateToken(t *testing.T) {
	clk := newClock()
	f := newFixture(t, Options{Now: clk.Now})
	id := botCard(t, f)
	_, bot := newReceiver(t, "", func([]byte) (int, []byte) { return 200, []byte("{}") })
	f.emu.SetBotEndpoints("", bot.URL)
	click := func() string {
		res, err := f.emu.Click(context.Background(), Click{MessageID: id, Value: map[string]any{"x": 1}})
		if err != nil || res.Err != "" {
			t.Fatalf("%+v %v", res, err)
		}
		return res.Token
	}
	update := func(token string, card map[string]any) (int, map[string]any) {
		return f.api(t, http.MethodPost, "/open-apis/interactive/v1/card/update", map[string]any{"token": token, "card": card})
	}
	tok := click()
	for i := 1; i <= 2; i++ {
		status, m := update(tok, testCard(markdown("u")))
		if status != 200 || code(m) != 0 || m["msg"] != "ok" || m["data"] != nil {
			t.Fatalf("use %d: %d %v", i, status, m)
		}
	}
	if _, m := update(tok, testCard(markdown("u"))); code(m) != CodeCardTokenUsedUp {
		t.Fatalf("third use: %v", m)
	}
	if msg, _ := f.emu.Message(id); msg.Updates != 2 {
		t.Fatalf("updates %d", msg.Updates)
	}

	tok = click()
	tests := []struct {
		name  string
		token string
		card  map[string]any
		want  int
	}{
		{"bad format", "x-" + tok[2:], testCard(markdown("u")), CodeCardTokenFormat},
		{"unknown", "c-0000", testCard(markdown("u")), CodeCardTokenFormat},
		{"invalid card", tok, testCard(map[string]any{"tag": "action"}), CodeCardFormatInvalid},
	}
	for _, tt := range tests {
		if _, m := update(tt.token, tt.card); code(m) != tt.want {
			t.Errorf("%s: %v", tt.name, m)
		}
	}
	// A refused update does not use the token up; expiry is 30 minutes.
	clk.Advance(29 * time.Minute)
	if _, m := update(tok, testCard(markdown("u"))); code(m) != 0 {
		t.Fatalf("at 29 min: %v", m)
	}
	clk.Advance(2 * time.Minute)
	if _, m := update(tok, testCard(markdown("u"))); code(m) != CodeCardTokenExpired {
		t.Fatalf("at 31 min: %v", m)
	}
}

func TestEarlyCardUpdateIsReverted(t *testing.T) {
	f := newFixture(t, Options{})
	id := botCard(t, f)
	_, bot := newReceiver(t, "", func(plain []byte) (int, []byte) {
		tok := dig(decode(t, plain), "event", "token").(string)
		// Updating before answering the callback: Feishu undoes it.
		status, m := f.api(t, http.MethodPost, "/open-apis/interactive/v1/card/update", map[string]any{"token": tok, "card": testCard(markdown("early"))})
		if status != 200 || code(m) != 0 {
			t.Errorf("update %d %v", status, m)
		}
		return 200, []byte("{}")
	})
	f.emu.SetBotEndpoints("", bot.URL)
	before, _ := f.emu.Message(id)
	res, err := f.emu.Click(context.Background(), Click{MessageID: id, Value: map[string]any{"x": 1}})
	if err != nil || !res.Reverted {
		t.Fatalf("%+v %v", res, err)
	}
	after, _ := f.emu.Message(id)
	if jsonString(after.Card) != jsonString(before.Card) {
		t.Fatal("the early update was not undone")
	}
}

func TestClickErrors(t *testing.T) {
	f := newFixture(t, Options{})
	parent := userMessage(t, f.emu, UserMessage{Text: "x"})
	if _, err := f.emu.Click(context.Background(), Click{MessageID: parent}); err == nil {
		t.Fatal("clicking a user message must fail")
	}
	id := botCard(t, f)
	if _, err := f.emu.Click(context.Background(), Click{MessageID: id}); err == nil {
		t.Fatal("clicking without a card URL must fail")
	}
	f.emu.SetBotEndpoints("", "http://127.0.0.1:1/card")
	res, err := f.emu.Click(context.Background(), Click{MessageID: id})
	if err != nil || res.Err != "200342" {
		t.Fatalf("refused connection: %+v %v", res, err)
	}
}
