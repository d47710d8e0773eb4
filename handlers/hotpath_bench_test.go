package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/larksuite/oapi-sdk-go/v3/core/httpserverext"
	"github.com/larksuite/oapi-sdk-go/v3/event/dispatcher"
	larkim "github.com/larksuite/oapi-sdk-go/v3/service/im/v1"

	"okrbot/bot"
	"okrbot/cards"
	"okrbot/handlers"
	"okrbot/internal/feishuemu"
	"okrbot/internal/okr"
	"okrbot/internal/store"
)

// The ack path in process, request in, status out, with no network: what
// every event costs the bot before it is acknowledged. The SDK's own
// webhook handler (httpserverext + EventDispatcher) runs on the same
// bodies beside it.
//
//	go test ./handlers -run '^$' -bench HotPath -benchmem

const (
	hpApp   = "cli_hotpath00000001"
	hpToken = "hotpath-verification-token"
	hpKey   = "hotpath-encrypt-key"
	hpSelf  = "ou_hotpathbot0000000000000000001"
)

// nopPlatform answers every Open Platform call at once.
type nopPlatform struct{}

func (nopPlatform) CreatePeriod(context.Context, string, okr.Month) (okr.Created, error) {
	return okr.Created{PeriodID: "1"}, nil
}
func (nopPlatform) ListRules(context.Context) ([]okr.Rule, error) {
	return []okr.Rule{{ID: "1", Type: "month", Length: 1, FirstMonth: 1}}, nil
}
func (nopPlatform) ListPeriods(context.Context, int) ([]okr.Period, bool, error) {
	return nil, false, nil
}
func (nopPlatform) PatchPeriod(context.Context, string, okr.Status) (string, error) { return "", nil }
func (nopPlatform) Reply(context.Context, string, string, cards.Card) (string, error) {
	return "om_reply", nil
}
func (nopPlatform) PatchCard(context.Context, string, cards.Card) error  { return nil }
func (nopPlatform) UpdateCard(context.Context, string, cards.Card) error { return nil }
func (nopPlatform) BotOpenID(context.Context) (string, error)            { return hpSelf, nil }

// sealedEvents makes n signed, encrypted message events; mention decides
// whether they are addressed to the bot (p2p) or group chatter it drops.
func sealedEvents(b *testing.B, n int, addressed bool) ([][]byte, []http.Header) {
	s := feishuemu.Sender{VerificationToken: hpToken, EncryptKey: hpKey, AppID: hpApp}
	bodies, headers := make([][]byte, n), make([]http.Header, n)
	for i := range n {
		content, _ := json.Marshal(map[string]string{"text": "hello there, nothing for the bot"})
		chatType := "group"
		if addressed {
			chatType = "p2p"
			content, _ = json.Marshal(map[string]string{"text": "/help"})
		}
		ev := map[string]any{
			"sender": map[string]any{"sender_id": map[string]any{"open_id": "ou_user0000000000000000000000001",
				"union_id": "on_x", "user_id": "u1"}, "sender_type": "user", "tenant_key": "t1"},
			"message": map[string]any{
				"message_id": fmt.Sprintf("om_hotpath%08d", i), "chat_id": fmt.Sprintf("oc_chat%04d", i%500),
				"chat_type": chatType, "message_type": "text", "content": string(content),
				"create_time": fmt.Sprint(time.Now().UnixMilli()),
			},
		}
		plain, _ := json.Marshal(s.Envelope("im.message.receive_v1", ev))
		enc, err := s.Encrypt(plain)
		if err != nil {
			b.Fatal(err)
		}
		bodies[i], _ = json.Marshal(map[string]string{"encrypt": enc})
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("X-Lark-Request-Timestamp", "1718000000")
		h.Set("X-Lark-Request-Nonce", "bench")
		h.Set("X-Lark-Signature", s.Sign("1718000000", "bench", bodies[i]))
		headers[i] = h
	}
	return bodies, headers
}

func serve(b *testing.B, h http.Handler, bodies [][]byte, headers []http.Header) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		req := httptest.NewRequest(http.MethodPost, "/webhook/event", bytes.NewReader(bodies[i%len(bodies)]))
		req.Header = headers[i%len(bodies)]
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

func okrbotHandler(b *testing.B) (http.Handler, func()) {
	st := store.NewMemory(nil)
	log := slog.New(slog.DiscardHandler)
	bt := bot.New(bot.Settings{Operators: []string{"ou_user0000000000000000000000001"}, ButtonKey: []byte("k"),
		QueueSize: 1 << 20, ChatQueue: 1 << 20},
		bot.Deps{Periods: nopPlatform{}, Messenger: nopPlatform{}, Identity: nopPlatform{}, Store: st, Log: log})
	wh := handlers.NewWebhook(handlers.NewVerifier(hpApp, hpToken, hpKey), bt, log, handlers.NewMetrics(), nil)
	r := handlers.NewRouter(handlers.Routes{Webhook: wh, EventPath: "/webhook/event", CardPath: "/webhook/card",
		Ready: func(context.Context) error { return nil }})
	return r, func() {
		_ = bt.Shutdown(context.Background())
		_ = st.Close()
	}
}

func sdkHandler() http.Handler {
	d := dispatcher.NewEventDispatcher(hpToken, hpKey).
		OnP2MessageReceiveV1(func(context.Context, *larkim.P2MessageReceiveV1) error { return nil })
	return http.HandlerFunc(httpserverext.NewEventHandlerFunc(d))
}

// BenchmarkHotPath: bare is group chatter the bot verifies, decrypts,
// reads and drops; addressed is a p2p command that is also remembered
// (dedup) and queued.
func BenchmarkHotPath(b *testing.B) {
	for _, addressed := range []bool{false, true} {
		name := "bare"
		if addressed {
			name = "addressed"
		}
		b.Run(name+"/okrbot", func(b *testing.B) {
			h, stop := okrbotHandler(b)
			defer stop()
			bodies, headers := sealedEvents(b, min(b.N, 200_000), addressed)
			serve(b, h, bodies, headers)
		})
		b.Run(name+"/sdk", func(b *testing.B) {
			bodies, headers := sealedEvents(b, min(b.N, 200_000), addressed)
			serve(b, sdkHandler(), bodies, headers)
		})
	}
}
