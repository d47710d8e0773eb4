package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"okrbot/internal/feishuemu"
)

// extraRuleIDs are monthly period rules added to the emulator's default
// three, so that every /newperiod of a run can name a distinct (month,
// rule) pair: 1,572 months (1970–2100) per rule.
var extraRuleIDs = func() []string {
	out := make([]string, 12)
	for i := range out {
		out[i] = fmt.Sprintf("72900000000000001%02d", i+1)
	}
	return out
}()

// monthlyRules are the rule ids a monthly start month fits: the default
// monthly rule and the extra ones.
var monthlyRules = append([]string{monthlyRuleID}, extraRuleIDs...)

func emuOptions() feishuemu.Options {
	rules := feishuemu.DefaultRules()
	for _, id := range extraRuleIDs {
		rules = append(rules, feishuemu.Rule{ID: id, Type: "month", Length: 1, FirstMonth: 1})
	}
	return feishuemu.Options{
		AppID: appID, AppSecret: appSecret,
		VerificationToken: verificationToken, EncryptKey: encryptKey,
		Rules: rules,
	}
}

// emuHost serves a feishuemu.Emulator on loopback for one okrbot process
// and watches the traffic on the way through:
//
//   - the arrival time of each reply (POST .../messages/{id}/reply) answered
//     200, keyed by the message replied to;
//   - every create (POST /open-apis/okr/v1/periods) by its (rule, month);
//   - the TCP connections the bot opens.
//
// Creates are answered by a pool of emulators, one per rule, each replaced
// by a fresh one after createsPerEmulator creates: feishuemu checks a
// create against every period it holds (a regexp parse per period), which
// at 1,500 periods costs ~0.6 ms per create under its lock and would make
// the emulator, not the bot, the bottleneck at 2,000/s. The pool emulators
// run the same code with the same rules; the host presents each one's own
// tenant token to it (the bot's token is checked by the main emulator on
// every other call). With stubReplies, replies are answered 200 by the host
// without being validated or stored (the emulator's card validation costs
// ~0.2 ms per reply; the heap test sends tens of thousands).
type emuHost struct {
	main        *feishuemu.Emulator
	srv         *http.Server
	URL         string
	stubReplies bool
	conns       atomic.Int64 // TCP connections accepted (the bot's, to the Open Platform)

	mu         sync.Mutex
	pools      map[string]*poolEmu // by rule id
	creates    map[string]int      // "rule month" → create requests
	createOK   int
	createFail int
	replyAt    map[string]time.Time // message id → first 200 reply arrival
	replyN     int                  // 200 replies (all attempts)
	replyBad   int                  // non-200 replies
}

const createsPerEmulator = 20

// poolEmu is the emulator that currently answers the creates of one rule.
// Each rule has its own, because the emulator's conflict check ignores the
// rule: the same month under two rules would meet as a conflict.
type poolEmu struct {
	em    *feishuemu.Emulator
	token string
	used  int
}

func newEmuHost(stubReplies bool) (*emuHost, error) {
	h := &emuHost{
		main:        feishuemu.New(emuOptions()),
		stubReplies: stubReplies,
		creates:     map[string]int{},
		pools:       map[string]*poolEmu{},
		replyAt:     map[string]time.Time{},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h.URL = "http://" + ln.Addr().String()
	h.srv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				h.conns.Add(1)
			}
		}}
	go func() { _ = h.srv.Serve(ln) }()
	return h, nil
}

func (h *emuHost) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = h.srv.Shutdown(ctx)
	h.main.Close()
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

const (
	messagesPrefix = "/open-apis/im/v1/messages/"
	periodsPath    = "/open-apis/okr/v1/periods"
)

func (h *emuHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && strings.HasPrefix(p, messagesPrefix) && strings.HasSuffix(p, "/reply"):
		id := strings.TrimSuffix(strings.TrimPrefix(p, messagesPrefix), "/reply")
		if h.stubReplies {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_, _ = fmt.Fprintf(w, `{"code":0,"msg":"success","data":{"message_id":"om_stub%s","msg_type":"interactive","chat_id":"oc_stub","body":{"content":"{}"}}}`, strings.TrimPrefix(id, "om_"))
			h.noteReply(id, arrived, http.StatusOK)
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		h.main.ServeHTTP(sw, r)
		h.noteReply(id, arrived, sw.status)
	case r.Method == http.MethodPost && p == periodsPath:
		h.serveCreate(w, r)
	default:
		h.main.ServeHTTP(w, r)
	}
}

func (h *emuHost) noteReply(id string, at time.Time, status int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if status != http.StatusOK {
		h.replyBad++
		return
	}
	h.replyN++
	if _, ok := h.replyAt[id]; !ok {
		h.replyAt[id] = at
	}
}

func (h *emuHost) serveCreate(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	var in struct {
		Rule  string `json:"period_rule_id"`
		Month string `json:"start_month"`
	}
	_ = json.Unmarshal(body, &in)

	h.mu.Lock()
	h.creates[in.Rule+" "+in.Month]++
	pe := h.pools[in.Rule]
	if pe == nil || pe.used >= createsPerEmulator {
		em := feishuemu.New(emuOptions())
		tok, err := emulatorToken(em)
		if err != nil {
			h.mu.Unlock()
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		pe = &poolEmu{em: em, token: tok}
		h.pools[in.Rule] = pe
	}
	em, tok := pe.em, pe.token
	pe.used++
	h.mu.Unlock()

	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	if r.Header.Get("Authorization") != "" {
		r2.Header.Set("Authorization", "Bearer "+tok)
	}
	sw := &statusWriter{ResponseWriter: w}
	em.ServeHTTP(sw, r2)
	h.mu.Lock()
	if sw.status == http.StatusOK {
		h.createOK++
	} else {
		h.createFail++
	}
	h.mu.Unlock()
}

// emulatorToken fetches a tenant token from em in-process.
func emulatorToken(em *feishuemu.Emulator) (string, error) {
	body, _ := json.Marshal(map[string]string{"app_id": appID, "app_secret": appSecret})
	rec := httptest.NewRecorder()
	em.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/open-apis/auth/v3/tenant_access_token/internal", bytes.NewReader(body)))
	var out struct {
		Code  int    `json:"code"`
		Token string `json:"tenant_access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Code != 0 || out.Token == "" {
		return "", fmt.Errorf("emulator token: %d %s", rec.Code, rec.Body.String())
	}
	return out.Token, nil
}

// createStats returns the create requests seen and how many of them
// repeated a (rule, month) already asked for: a second create for one
// command.
func (h *emuHost) createStats() (total, dup, ok, failed int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range h.creates {
		total += n
		dup += n - 1
	}
	return total, dup, h.createOK, h.createFail
}

// replyTime returns when the first successful reply to message id arrived.
func (h *emuHost) replyTime(id string) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.replyAt[id]
	return t, ok
}

// replyCount returns the 200 replies so far (all attempts) and the
// distinct messages replied to.
func (h *emuHost) replyCount() (replies, messages int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.replyN, len(h.replyAt)
}

// waitReplies waits until every id has a reply or until deadline,
// polling every 10 ms (the arrival times are recorded as replies come, so
// the poll does not affect the latencies). It returns how many have one.
func (h *emuHost) waitReplies(ctx context.Context, ids []string, deadline time.Time) int {
	pending := slices.Clone(ids)
	for {
		h.mu.Lock()
		pending = slices.DeleteFunc(pending, func(id string) bool { _, ok := h.replyAt[id]; return ok })
		h.mu.Unlock()
		if len(pending) == 0 || !time.Now().Before(deadline) || !sleepCtx(ctx, 10*time.Millisecond) {
			return len(ids) - len(pending)
		}
	}
}

// waitReplyCount waits until at least n distinct messages were replied to,
// or until deadline.
func (h *emuHost) waitReplyCount(ctx context.Context, n int, deadline time.Time) int {
	for {
		_, got := h.replyCount()
		if got >= n || !time.Now().Before(deadline) || !sleepCtx(ctx, 10*time.Millisecond) {
			return got
		}
	}
}

// sleepCtx sleeps d; it reports false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
