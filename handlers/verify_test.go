package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"okrbot/bot"
	"okrbot/internal/feishuemu"
)

// The test vector of docs/feishu.md §1.5 and §1.6 (from the Feishu docs and
// the SDK).
const (
	vectorKey     = "demoEncryptKey123"
	vectorEncrypt = "MDEyMzQ1Njc4OWFiY2RlZkiB13Xl0n4jTDQkOq6lca4y9422CwXU/z+lkde2WpApqW3Pj7R3MQJZ1FJYM/FIH++NtSNEF+5dluxWI5Nvogu9m4HoiQvUB3s87atPKf8Ryeg9XLtGjwtztnPO6u6dcHbAve73raftD+34rTrbIeQ="
	vectorSig     = "55bff84a3728cff6020760f36cdd3675a32498118270e63beb40423c57d2021f"
)

func TestVerifierProtocolVector(t *testing.T) {
	v := NewVerifier("cli_a5e3f0c1d2b4e00d", "demoVerifyToken456", vectorKey)
	body := []byte(`{"encrypt":"` + vectorEncrypt + `"}`)
	h := http.Header{}
	h.Set("X-Lark-Request-Timestamp", "1718000000")
	h.Set("X-Lark-Request-Nonce", "n0nce-7f3a")
	h.Set("X-Lark-Signature", vectorSig)
	env, err := v.Open(h, body)
	if err != nil || env.Challenge != "c5f1e2a0-0b1d-4e55-9d3e-1a2b3c4d5e6f" {
		t.Fatalf("Open = %+v, %v", env, err)
	}
	h.Set("X-Lark-Signature", strings.Replace(vectorSig, "55", "56", 1))
	if _, err := v.Open(h, body); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("wrong signature: %v", err)
	}
	// Unsigned url_verification is answered on its token alone.
	h.Del("X-Lark-Signature")
	if _, err := v.Open(h, body); err != nil {
		t.Fatalf("unsigned challenge: %v", err)
	}
	v = NewVerifier("cli_a5e3f0c1d2b4e00d", "other", vectorKey)
	if _, err := v.Open(http.Header{}, body); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("challenge with the wrong token: %v", err)
	}
}

func TestVerifierEvents(t *testing.T) {
	s := feishuemu.Sender{VerificationToken: "tok", EncryptKey: "key", AppID: "cli_a"}
	v := NewVerifier("cli_a", "tok", "key")
	seal := func(s feishuemu.Sender, env map[string]any) (http.Header, []byte) {
		plain, _ := json.Marshal(env)
		enc, err := s.Encrypt(plain)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]string{"encrypt": enc})
		h := http.Header{}
		h.Set("X-Lark-Request-Timestamp", "1")
		h.Set("X-Lark-Request-Nonce", "n")
		h.Set("X-Lark-Signature", s.Sign("1", "n", body))
		return h, body
	}
	ev := s.Envelope("im.message.receive_v1", map[string]any{"x": 1})
	h, body := seal(s, ev)
	got, err := v.Open(h, body)
	if err != nil || got.Header.EventType != "im.message.receive_v1" || got.Header.EventID == "" || string(got.Event) != `{"x":1}` {
		t.Fatalf("Open = %+v, %v", got, err)
	}
	// Missing signature on an event.
	h.Del("X-Lark-Signature")
	if _, err := v.Open(h, body); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("unsigned event: %v", err)
	}
	tests := []struct {
		name string
		edit func(map[string]any)
		want error
	}{
		{"wrong token", func(e map[string]any) { e["header"].(map[string]any)["token"] = "tok2" }, ErrUnauthorized},
		{"token prefix", func(e map[string]any) { e["header"].(map[string]any)["token"] = "to" }, ErrUnauthorized},
		{"other app", func(e map[string]any) { e["header"].(map[string]any)["app_id"] = "cli_b" }, ErrUnauthorized},
		{"no event id", func(e map[string]any) { delete(e["header"].(map[string]any), "event_id") }, ErrMalformed},
		{"event not an object", func(e map[string]any) { e["event"] = "text" }, ErrMalformed},
	}
	for _, tt := range tests {
		e := s.Envelope("im.message.receive_v1", map[string]any{"x": 1})
		tt.edit(e)
		h, body := seal(s, e)
		if _, err := v.Open(h, body); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

// fakeBot answers every event with err.
type fakeBot struct{ err error }

func (f fakeBot) HandleMessage(context.Context, bot.Message) error { return f.err }
func (f fakeBot) HandleClick(context.Context, bot.Click) (bot.Answer, error) {
	return bot.Answer{}, f.err
}

func TestWebhookStatusForBotErrors(t *testing.T) {
	s := feishuemu.Sender{VerificationToken: "tok", AppID: "cli_a"}
	for _, tt := range []struct {
		err    error
		status int
	}{
		{nil, 200},
		{bot.ErrBusy, 503},
		{bot.ErrClosed, 503},
		{errors.New("boom"), 500},
	} {
		for _, typ := range []string{"im.message.receive_v1", "card.action.trigger"} {
			w := NewWebhook(NewVerifier("cli_a", "tok", ""), fakeBot{tt.err}, discard(), nil, nil)
			srv := httptest.NewServer(NewRouter(Routes{EventPath: "/e", CardPath: "/c", Webhook: w,
				Ready: func(context.Context) error { return nil }, Metrics: nil}))
			event := map[string]any{ // a readable event of each type
				"sender":   map[string]any{"sender_id": map[string]any{"open_id": "ou_1"}, "sender_type": "user"},
				"message":  map[string]any{"message_id": "om_1", "chat_id": "oc_1", "chat_type": "p2p", "message_type": "text", "content": `{"text":"/help"}`, "create_time": "1718000000000"},
				"operator": map[string]any{"open_id": "ou_1"}, "action": map[string]any{"value": map[string]any{}},
				"context": map[string]any{"open_chat_id": "oc_1", "open_message_id": "om_1"},
			}
			r, err := s.Post(context.Background(), srv.URL+"/e", s.Envelope(typ, event))
			srv.Close()
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tt.status {
				t.Errorf("%s with bot error %v: status %d, want %d", typ, tt.err, r.Status, tt.status)
			}
		}
	}
}

func FuzzVerifierOpen(f *testing.F) {
	s := feishuemu.Sender{VerificationToken: "tok", EncryptKey: "key", AppID: "cli_a"}
	plain, _ := json.Marshal(s.Envelope("im.message.receive_v1", map[string]any{"x": 1}))
	enc, _ := s.Encrypt(plain)
	sealed := []byte(`{"encrypt":"` + enc + `"}`)
	f.Add(sealed, s.Sign("1", "n", sealed))
	f.Add([]byte(`{"encrypt":"`+vectorEncrypt+`"}`), vectorSig)
	f.Add([]byte(`{"type":"url_verification","token":"tok","challenge":"c"}`), "")
	f.Add([]byte(`{"encrypt":""}`), "")
	f.Add([]byte(`null`), "x")
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		v := NewVerifier("cli_a", "tok", "key")
		h := http.Header{}
		h.Set("X-Lark-Request-Timestamp", "1")
		h.Set("X-Lark-Request-Nonce", "n")
		h.Set("X-Lark-Signature", sig)
		env, err := v.Open(h, body)
		if err != nil {
			if !errors.Is(err, ErrUnauthorized) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		// Whatever got through was signed with the key (or is a challenge
		// carrying the token).
		if !env.IsChallenge() && sig != s.Sign("1", "n", body) {
			t.Fatalf("accepted an event with signature %q", sig)
		}
	})
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestVerifierNoDecryptionOracle: without a valid signature, every body
// but a url_verification with the right token gets the same 401, whether
// it decrypts to an event, to something that is not JSON, or not at all.
func TestVerifierNoDecryptionOracle(t *testing.T) {
	s := feishuemu.Sender{VerificationToken: "tok", EncryptKey: "key", AppID: "cli_a"}
	v := NewVerifier("cli_a", "tok", "key")
	encrypted := func(plain string) []byte {
		enc, err := s.Encrypt([]byte(plain))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]string{"encrypt": enc})
		return body
	}
	event, _ := json.Marshal(s.Envelope("im.message.receive_v1", map[string]any{"x": 1}))
	bodies := map[string][]byte{
		"event":                  encrypted(string(event)),
		"not JSON inside":        encrypted("not json at all"),
		"JSON array inside":      encrypted("[1,2,3]"),
		"challenge, wrong token": encrypted(`{"type":"url_verification","token":"nope","challenge":"c"}`),
		"not base64":             []byte(`{"encrypt":"%%%"}`),
		"short ciphertext":       []byte(`{"encrypt":"AAAA"}`),
	}
	for name, body := range bodies {
		for _, sig := range []string{"", "0000", s.Sign("2", "n", body)} { // none, wrong, for other headers
			h := http.Header{}
			h.Set("X-Lark-Request-Timestamp", "1")
			h.Set("X-Lark-Request-Nonce", "n")
			if sig != "" {
				h.Set("X-Lark-Signature", sig)
			}
			if _, err := v.Open(h, body); !errors.Is(err, ErrUnauthorized) {
				t.Errorf("%s with signature %q: %v, want ErrUnauthorized", name, sig, err)
			}
		}
	}
	// The one unsigned body that is answered.
	h := http.Header{}
	env, err := v.Open(h, encrypted(`{"type":"url_verification","token":"tok","challenge":"c1"}`))
	if err != nil || env.Challenge != "c1" {
		t.Errorf("unsigned challenge with the right token: %+v, %v", env, err)
	}
}
