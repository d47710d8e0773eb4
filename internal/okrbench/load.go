package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"okrbot/internal/feishuemu"
)

// gen builds distinct im.message.receive_v1 events and seals them the way
// Feishu pushes them: AES-encrypted {"encrypt": ...} bodies with
// X-Lark-Request-Timestamp/-Nonce/-Signature (feishuemu.Sender does the
// cryptography).
type gen struct {
	s      feishuemu.Sender
	prefix string // random per run, so ids never repeat across runs
	n      atomic.Uint64
}

func newGen() *gen {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &gen{
		s:      feishuemu.Sender{VerificationToken: verificationToken, EncryptKey: encryptKey, AppID: appID, TenantKey: feishuemu.DefaultTenantKey},
		prefix: hex.EncodeToString(b),
	}
}

// id returns a fresh 32-hex id.
func (g *gen) id() string { return fmt.Sprintf("%s%016x", g.prefix, g.n.Add(1)) }

// messageID returns a fresh "om_" message id.
func (g *gen) messageID() string { return "om_" + g.id() }

// chatIDs returns n chat ids.
func (g *gen) chatIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "oc_" + g.id()
	}
	return out
}

type envHeader struct {
	EventID    string `json:"event_id"`
	EventType  string `json:"event_type"`
	CreateTime string `json:"create_time"`
	Token      string `json:"token"`
	AppID      string `json:"app_id"`
	TenantKey  string `json:"tenant_key"`
}

type senderID struct {
	OpenID  string `json:"open_id"`
	UnionID string `json:"union_id"`
}

type eventSender struct {
	SenderID   senderID `json:"sender_id"`
	SenderType string   `json:"sender_type"`
	TenantKey  string   `json:"tenant_key"`
}

type eventMessage struct {
	MessageID   string `json:"message_id"`
	CreateTime  string `json:"create_time"`
	UpdateTime  string `json:"update_time"`
	ChatID      string `json:"chat_id"`
	ChatType    string `json:"chat_type"`
	MessageType string `json:"message_type"`
	Content     string `json:"content"`
}

type receiveEvent struct {
	Sender  eventSender  `json:"sender"`
	Message eventMessage `json:"message"`
}

type envelope struct {
	Schema string       `json:"schema"`
	Header envHeader    `json:"header"`
	Event  receiveEvent `json:"event"`
}

// message returns the plaintext envelope of a text message from the
// operator: a group message (chatType "group") that does not mention the
// bot, or a p2p message.
func (g *gen) message(chatID, chatType, text string) []byte {
	b, _ := g.messageWithID(chatID, chatType, text)
	return b
}

// messageWithID is message, also returning the new message's id.
func (g *gen) messageWithID(chatID, chatType, text string) ([]byte, string) {
	id := g.messageID()
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	content, _ := json.Marshal(map[string]string{"text": text})
	b, _ := json.Marshal(envelope{
		Schema: "2.0",
		Header: envHeader{
			EventID: g.id(), EventType: "im.message.receive_v1", CreateTime: now,
			Token: verificationToken, AppID: appID, TenantKey: feishuemu.DefaultTenantKey,
		},
		Event: receiveEvent{
			Sender: eventSender{
				SenderID:   senderID{OpenID: operator, UnionID: "on_0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"},
				SenderType: "user", TenantKey: feishuemu.DefaultTenantKey,
			},
			Message: eventMessage{
				MessageID: id, CreateTime: now, UpdateTime: now,
				ChatID: chatID, ChatType: chatType, MessageType: "text", Content: string(content),
			},
		},
	})
	return b, id
}

// seal encrypts and signs a plaintext envelope with a fresh timestamp,
// nonce and IV.
func (g *gen) seal(plain []byte) ([]byte, http.Header, error) {
	enc, err := g.s.Encrypt(plain)
	if err != nil {
		return nil, nil, err
	}
	body := []byte(`{"encrypt":"` + enc + `"}`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce := g.id()[16:]
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Lark-Request-Timestamp", ts)
	h.Set("X-Lark-Request-Nonce", nonce)
	h.Set("X-Lark-Signature", g.s.Sign(ts, nonce, body))
	return body, h, nil
}

// newClient returns an HTTP/1.1 client that keeps conns connections open.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        conns * 2,
			MaxIdleConnsPerHost: conns * 2,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		},
	}
}

// loadResult is what a closed-loop run saw.
type loadResult struct {
	ok       int // 200 answers
	statuses map[int]int
	errs     int
	firstErr string
	elapsed  time.Duration
	lat      []time.Duration // of the 200 answers
}

func (r *loadResult) add(o loadResult) {
	r.ok += o.ok
	r.errs += o.errs
	if r.firstErr == "" {
		r.firstErr = o.firstErr
	}
	r.elapsed += o.elapsed
	r.lat = append(r.lat, o.lat...)
	if r.statuses == nil {
		r.statuses = map[int]int{}
	}
	for k, v := range o.statuses {
		r.statuses[k] += v
	}
}

func (r loadResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

// non200 is the count of answers other than 200.
func (r loadResult) non200() int {
	n := 0
	for k, v := range r.statuses {
		if k != http.StatusOK {
			n += v
		}
	}
	return n
}

// closedLoop posts with conc workers, each sending its next request as soon
// as the previous one is answered, until maxN requests were started or dur
// has passed (or ctx ends). next(i) builds request i.
func closedLoop(ctx context.Context, c *http.Client, url string, conc, maxN int, dur time.Duration,
	next func(i int) ([]byte, http.Header, error)) loadResult {
	var (
		mu  sync.Mutex
		res = loadResult{statuses: map[int]int{}}
		seq atomic.Int64
		wg  sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(dur)
	for range conc {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 4096)
			statuses := map[int]int{}
			errs, firstErr := 0, ""
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := int(seq.Add(1) - 1)
				if i >= maxN {
					break
				}
				body, h, err := next(i)
				if err != nil {
					errs++
					firstErr = cmp.Or(firstErr, err.Error())
					continue
				}
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
				if err != nil {
					errs++
					firstErr = cmp.Or(firstErr, err.Error())
					continue
				}
				req.Header = h
				t0 := time.Now()
				resp, err := c.Do(req)
				if err != nil {
					errs++
					firstErr = cmp.Or(firstErr, err.Error())
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				d := time.Since(t0)
				statuses[resp.StatusCode]++
				if resp.StatusCode == http.StatusOK {
					lat = append(lat, d)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res.lat = append(res.lat, lat...)
			for k, v := range statuses {
				res.statuses[k] += v
			}
			res.errs += errs
			if res.firstErr == "" {
				res.firstErr = firstErr
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.ok = res.statuses[http.StatusOK]
	return res
}
