package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"

	"okrbot/internal/testkit"
)

// BenchmarkWebhookAck measures how long the bot takes to acknowledge a
// signed, encrypted event over HTTP: read, verify the signature, decrypt,
// check the token, claim the message id, queue. docs/contract.md §3 allows 0.5 s.
// The events are group messages that do not mention the bot, so the queued
// work is light and the queue never fills.
//
//	go test ./handlers -run '^$' -bench WebhookAck -benchtime 2000x
func BenchmarkWebhookAck(b *testing.B) {
	env := testkit.New(b)
	s := env.Sender()
	bodies := make([][]byte, b.N)
	headers := make([]http.Header, b.N)
	for i := range bodies {
		ev := messageEvent(fmt.Sprintf("om_bench%08d", i), "hello")
		ev["message"].(map[string]any)["chat_type"] = "group"
		plain, _ := json.Marshal(s.Envelope("im.message.receive_v1", ev))
		enc, err := s.Encrypt(plain)
		if err != nil {
			b.Fatal(err)
		}
		bodies[i], _ = json.Marshal(map[string]string{"encrypt": enc})
		h := http.Header{}
		h.Set("X-Lark-Request-Timestamp", "1718000000")
		h.Set("X-Lark-Request-Nonce", "bench")
		h.Set("X-Lark-Signature", s.Sign("1718000000", "bench", bodies[i]))
		headers[i] = h
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		r, err := s.PostRaw(context.Background(), env.EventURL(), bodies[i], headers[i])
		lat = append(lat, time.Since(start))
		if err != nil || r.Status != 200 {
			b.Fatalf("event %d: %v %d %s", i, err, r.Status, r.Body)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
	env.Settle(b)
}
