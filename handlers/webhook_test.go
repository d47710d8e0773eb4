package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"okrbot/internal/config"
	"okrbot/internal/feishuemu"
	"okrbot/internal/testkit"
)

// messageEvent is an im.message.receive_v1 body from the operator.
func messageEvent(messageID, text string) map[string]any {
	content, _ := json.Marshal(map[string]string{"text": text})
	return map[string]any{
		"sender": map[string]any{"sender_id": map[string]any{"open_id": testkit.Operator}, "sender_type": "user"},
		"message": map[string]any{
			"message_id": messageID, "chat_id": "oc_p2p", "chat_type": "p2p", "message_type": "text",
			"content": string(content), "create_time": strconvMs(time.Now()),
		},
	}
}

func strconvMs(t time.Time) string { return json.Number(itoa(t.UnixMilli())).String() }

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func post(t *testing.T, s feishuemu.Sender, url string, v any) feishuemu.Response {
	t.Helper()
	r, err := s.Post(context.Background(), url, v)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestURLVerification(t *testing.T) {
	for _, key := range []string{testkit.EncryptKey, ""} {
		env := testkit.New(t, testkit.WithConfig(func(c *config.Config) { c.Feishu.EncryptKey = key }),
			testkit.WithEmulator(func(o *feishuemu.Options) { o.EncryptKey = key }))
		s := env.Sender()
		for _, url := range []string{env.EventURL(), env.CardURL()} {
			r, err := s.Challenge(context.Background(), url, "chal-123")
			if err != nil || r.Status != 200 || !strings.Contains(string(r.Body), `"challenge":"chal-123"`) {
				t.Errorf("key %q: challenge answered %d %s %v", key, r.Status, r.Body, err)
			}
			s.VerificationToken = "wrong"
			r, _ = s.Challenge(context.Background(), url, "chal-123")
			if r.Status != http.StatusUnauthorized || strings.Contains(string(r.Body), "chal-123") {
				t.Errorf("key %q: challenge with a wrong token answered %d %s", key, r.Status, r.Body)
			}
			s.VerificationToken = testkit.VerificationToken
		}
	}
}

func TestRefusedRequestsChangeNothing(t *testing.T) {
	env := testkit.New(t)
	good := env.Sender()
	ev := func() map[string]any {
		return good.Envelope("im.message.receive_v1", messageEvent("om_refused1", "/newperiod 2022-01 7290000000000000001"))
	}
	encrypted := func(v any) []byte {
		plain, _ := json.Marshal(v)
		enc, err := good.Encrypt(plain)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]string{"encrypt": enc})
		return body
	}
	signedHeader := func(body []byte) http.Header {
		h := http.Header{}
		h.Set("X-Lark-Request-Timestamp", "1718000000")
		h.Set("X-Lark-Request-Nonce", "nonce-1")
		h.Set("X-Lark-Signature", good.Sign("1718000000", "nonce-1", body))
		return h
	}
	wrongToken := good
	wrongToken.VerificationToken = "not-the-token"
	otherApp := good
	otherApp.AppID = "cli_someoneelse"
	wrongKey := good
	wrongKey.EncryptKey = "another-key"

	body := encrypted(ev())
	tampered := bytes.Replace(body, []byte(`"}`), []byte(`A"}`), 1)
	cases := []struct {
		name   string
		send   func() feishuemu.Response
		status int
	}{
		{"wrong signature", func() feishuemu.Response {
			h := signedHeader(body)
			h.Set("X-Lark-Signature", strings.Repeat("0", 64))
			return raw(t, good, env.EventURL(), body, h)
		}, 401},
		{"missing signature", func() feishuemu.Response { return raw(t, good, env.EventURL(), body, http.Header{}) }, 401},
		{"body changed after signing", func() feishuemu.Response { return raw(t, good, env.EventURL(), tampered, signedHeader(body)) }, 401},
		{"wrong encrypt key", func() feishuemu.Response { return post(t, wrongKey, env.EventURL(), ev()) }, 401},
		{"wrong verification token", func() feishuemu.Response {
			return post(t, wrongToken, env.EventURL(), wrongToken.Envelope("im.message.receive_v1", messageEvent("om_r2", "/newperiod 2022-01")))
		}, 401},
		{"another app's event", func() feishuemu.Response {
			return post(t, otherApp, env.EventURL(), otherApp.Envelope("im.message.receive_v1", messageEvent("om_r3", "/newperiod 2022-01")))
		}, 401},
		{"wrong token on the card path", func() feishuemu.Response {
			return post(t, wrongToken, env.CardURL(), wrongToken.Envelope("card.action.trigger", map[string]any{}))
		}, 401},
		{"plain body while encryption is on", func() feishuemu.Response {
			plain, _ := json.Marshal(ev())
			return raw(t, good, env.EventURL(), plain, signedHeader(plain))
		}, 400},
		{"garbage", func() feishuemu.Response { return raw(t, good, env.EventURL(), []byte("\x00not json{"), http.Header{}) }, 400},
		{"encrypt not base64", func() feishuemu.Response {
			b := []byte(`{"encrypt":"!!!"}`)
			return raw(t, good, env.EventURL(), b, signedHeader(b))
		}, 400},
		{"signed envelope without event", func() feishuemu.Response {
			e := ev()
			delete(e, "event")
			b := encrypted(e)
			return raw(t, good, env.EventURL(), b, signedHeader(b))
		}, 400},
		{"signed event that is not a message", func() feishuemu.Response {
			e := good.Envelope("im.message.receive_v1", map[string]any{"message": "no"})
			b := encrypted(e)
			return raw(t, good, env.EventURL(), b, signedHeader(b))
		}, 400},
		{"over 1 MiB", func() feishuemu.Response {
			b := []byte(`{"encrypt":"` + strings.Repeat("A", 1<<20) + `"}`)
			return raw(t, good, env.EventURL(), b, signedHeader(b))
		}, 413},
	}
	for _, c := range cases {
		if r := c.send(); r.Status != c.status {
			t.Errorf("%s: status %d (%s), want %d", c.name, r.Status, r.Body, c.status)
		}
	}
	env.Settle(t)
	for _, c := range env.Emu.Calls() {
		if c.API != feishuemu.APIToken && c.API != feishuemu.APIBotInfo { // start-up fetches
			t.Errorf("a refused request caused a call: %+v", c)
		}
	}
	// The genuine article still works afterwards.
	if r := raw(t, good, env.EventURL(), body, signedHeader(body)); r.Status != 200 {
		t.Fatalf("genuine event: %d %s", r.Status, r.Body)
	}
	env.Settle(t)
	if n := env.Emu.CallCount(feishuemu.APIReply); n != 1 {
		t.Errorf("genuine event got %d replies", n)
	}
}

func raw(t *testing.T, s feishuemu.Sender, url string, body []byte, h http.Header) feishuemu.Response {
	t.Helper()
	r, err := s.PostRaw(context.Background(), url, body, h)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPlainModeWithoutEncryptKey(t *testing.T) {
	env := testkit.New(t, testkit.WithConfig(func(c *config.Config) { c.Feishu.EncryptKey = "" }),
		testkit.WithEmulator(func(o *feishuemu.Options) { o.EncryptKey = "" }))
	d := env.Say(t, "/help")
	env.ReplyTo(t, d.MessageID)
	// An encrypted body cannot be read without the key.
	enc := feishuemu.Sender{VerificationToken: testkit.VerificationToken, EncryptKey: "k", AppID: testkit.AppID}
	if r := post(t, enc, env.EventURL(), enc.Envelope("im.message.receive_v1", messageEvent("om_p1", "/help"))); r.Status != 400 {
		t.Errorf("encrypted body in plain mode: %d", r.Status)
	}
}

func TestAckDoesNotWaitForOpenPlatform(t *testing.T) {
	env := testkit.New(t, testkit.WithoutTokenRefresh())
	// Every Open Platform answer takes 3 s; the ack must not wait for one.
	env.Emu.SetLatency("", 3*time.Second)
	d := env.Say(t, "/newperiod 2022-01 7290000000000000001")
	// The ack came while the bot's first call was still waiting for its
	// answer (a call is logged when it arrives, answered when Status is set).
	for _, c := range env.Emu.Calls() {
		if c.Status != 0 {
			t.Fatalf("the ack waited for an Open Platform answer: %+v", c)
		}
	}
	env.Emu.SetLatency("", 0)
	env.ReplyTo(t, d.MessageID)
}

func TestUnknownEventTypeAcknowledged(t *testing.T) {
	env := testkit.New(t)
	s := env.Sender()
	r := post(t, s, env.EventURL(), s.Envelope("im.chat.member.bot.added_v1", map[string]any{"chat_id": "oc_x"}))
	if r.Status != 200 {
		t.Fatalf("unknown event type answered %d", r.Status)
	}
	// Schema 1.0 with the right token: acknowledged and ignored.
	r = post(t, s, env.EventURL(), map[string]any{"uuid": "u1", "token": testkit.VerificationToken, "type": "event_callback", "event": map[string]any{"type": "p2p_chat_create"}})
	if r.Status != 200 {
		t.Fatalf("1.0 event answered %d", r.Status)
	}
	env.Settle(t)
	if n := len(env.Emu.Replies()); n != 0 {
		t.Errorf("bot replied %d times to events it ignores", n)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	env := testkit.New(t)
	get := func(path string) (int, string) {
		resp, err := http.Get(env.Bot.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := get("/readyz")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d %s", code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	d := env.Say(t, "/newperiod 2022-01 7290000000000000001")
	env.ReplyTo(t, d.MessageID)
	_, metrics := get("/metrics")
	for _, want := range []string{
		`okrbot_events_total{result="accepted",type="im.message.receive_v1"} 1`,
		`okrbot_commands_total{command="newperiod",outcome="created"} 1`,
		`okrbot_feishu_requests_total{api="create_period",code="0"} 1`,
		`okrbot_token_fetches_total{result="ok"} 1`,
		`okrbot_periods_created_total 1`,
		`okrbot_queue_depth 0`,
		`okrbot_feishu_request_seconds_bucket`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	tok := firstToken(t, env)
	env.Emu.RevokeTokens()
	env.App.Tokens.Invalidate(context.Background(), tok)
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "token") {
		t.Errorf("/readyz without a token = %d %s", code, body)
	}
}

func firstToken(t *testing.T, env *testkit.Env) string {
	t.Helper()
	toks := env.Emu.Tokens()
	if len(toks) == 0 {
		t.Fatal("no token issued")
	}
	return toks[0]
}

func TestShutdownAnswers503AndFinishesWork(t *testing.T) {
	env := testkit.New(t)
	env.Emu.SetLatency(feishuemu.APICreatePeriod, 300*time.Millisecond)
	d := env.Say(t, "/newperiod 2022-01 7290000000000000001")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- env.App.Shutdown(ctx)
	}()
	// New events are refused while the acknowledged one finishes.
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := env.Emu.PostMessage(context.Background(), feishuemu.UserMessage{Text: "/help", SenderOpenID: testkit.Operator})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events still accepted during shutdown: %d", r.Status)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if n := env.Emu.CallCount(feishuemu.APICreatePeriod); n != 1 {
		t.Fatalf("create calls = %d", n)
	}
	for _, r := range env.Emu.Replies() {
		if r.ParentID == d.MessageID {
			return
		}
	}
	t.Fatal("the acknowledged command was not answered before shutdown finished")
}
