package sandbox

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"okrbot/internal/feishuemu"
)

// webFiles are the page's assets: plain HTML, CSS and JavaScript, no build
// step, nothing fetched from elsewhere.
//
//go:embed web
var webFiles embed.FS

// Limits of the page's API.
const (
	maxAPIBody    = 64 << 10 // a JSON request from the page
	maxTextRunes  = 2000     // one chat message typed on the page
	longPoll      = 25 * time.Second
	busyPoll      = 250 * time.Millisecond // while the bot works, so "typing…" clears
	trafficShown  = 200                    // newest entries of the traffic panel
	slowAPI       = 3 * time.Second        // the "slow API" switch
	pageCSP       = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	jsonMediaType = "application/json"
)

// routes is the one mux of the sandbox's port.
func (s *sandbox) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/open-apis/", s.emu)
	// The long connection: where the bot asks for a URL, and the URL.
	mux.Handle(feishuemu.WSEndpointPath, s.emu)
	mux.Handle(feishuemu.WSPath, s.emu)
	for _, p := range []string{s.cfg.Server.EventPath, s.cfg.Server.CardPath, "/healthz", "/readyz", "/metrics"} {
		mux.Handle(p, s.app.Handler)
	}
	mux.HandleFunc("GET /sandbox/api/state", s.handleState)
	mux.HandleFunc("POST /sandbox/api/send", s.handleSend)
	mux.HandleFunc("POST /sandbox/api/click", s.handleClick)
	mux.HandleFunc("POST /sandbox/api/fault", s.handleFault)

	web, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	assets := http.StripPrefix("/assets/", http.FileServerFS(web))
	mux.Handle("GET /assets/", pageHeaders(assets))
	mux.Handle("GET /{$}", pageHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, web, "index.html")
	})))
	return mux
}

// pageHeaders adds the headers of the page and its assets: a strict content
// security policy (no inline script, nothing from elsewhere) and no caching,
// so that a rebuilt binary's page is what the browser shows.
func pageHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", pageCSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// --- state ---

// stateView is everything the page shows, as GET /sandbox/api/state
// answers it.
type stateView struct {
	// Version is the emulator's change counter; pass it back as ?after= to
	// wait for the next change.
	Version uint64 `json:"version"`
	// Mode is how the chat reaches the bot: "webhook" (signed pushes) or
	// "websocket" (frames over the long connection).
	Mode     string        `json:"mode"`
	Bot      botView       `json:"bot"`
	People   []person      `json:"people"`
	Group    chatView      `json:"group"`
	Messages []messageView `json:"messages"`
	// Traffic is the newest API calls and pushes (in websocket mode:
	// long-connection frames instead of pushes), oldest first.
	Traffic []trafficView `json:"traffic"`
	Faults  faultView     `json:"faults"`
	Tenant  tenantView    `json:"tenant"`
	// Working reports that the bot has acknowledged events it has not
	// finished.
	Working bool `json:"working"`
	// MaxText is the longest message the page may send, in characters
	// (Unicode code points, after trimming spaces).
	MaxText int `json:"max_text"`
}

// botView names the bot.
type botView struct {
	OpenID string `json:"open_id"`
	Name   string `json:"name"`
}

// chatView names a chat.
type chatView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// mentionView is one @-mention in a user message.
type mentionView struct {
	Name   string `json:"name"`
	OpenID string `json:"open_id"`
}

// messageView is one chat message: a user's text or a bot card in its
// current state.
type messageView struct {
	ID       string         `json:"id"`
	ChatID   string         `json:"chat_id"`
	ChatType string         `json:"chat_type"`
	FromBot  bool           `json:"from_bot"`
	Sender   string         `json:"sender"` // open_id
	Text     string         `json:"text,omitempty"`
	Mentions []mentionView  `json:"mentions,omitempty"`
	Card     map[string]any `json:"card,omitempty"`
	ParentID string         `json:"parent_id,omitempty"`
	Time     int64          `json:"time"` // ms since the epoch
	Updates  int            `json:"updates,omitempty"`
	// Delivery is, for user messages, how the push to the bot went:
	// "sending", "ok", or why it failed.
	Delivery string `json:"delivery,omitempty"`
	// Awaiting marks a user message the bot took and has not answered yet.
	Awaiting bool `json:"awaiting,omitempty"`
}

// trafficView is one line of the traffic panel: an API call the bot made
// (kind "api"), a push from Feishu to the bot ("event", "callback"), or, in
// websocket mode, a long-connection frame or connection event ("frame").
type trafficView struct {
	Kind    string `json:"kind"`
	Time    int64  `json:"time"` // ms since the epoch, when it started
	Method  string `json:"method"`
	Path    string `json:"path"`
	API     string `json:"api,omitempty"`        // calls: the emulator's API name
	Event   string `json:"event,omitempty"`      // pushes: the event type
	Status  int    `json:"status"`               // 0: in flight or no answer
	Code    *int   `json:"code,omitempty"`       // calls: Feishu's code once answered
	LogID   string `json:"log_id,omitempty"`     // calls
	Attempt int    `json:"attempt,omitempty"`    // pushes: 2+ for redeliveries
	Error   string `json:"error,omitempty"`      // pushes: transport failure or skip reason
	Millis  int64  `json:"ms"`                   // duration
	Pending bool   `json:"pending,omitempty"`    // calls still in flight
	Message string `json:"message_id,omitempty"` // pushes: the message posted or clicked

	// Frames (kind "frame", from the emulator's WSFrames).
	Dir   string `json:"dir,omitempty"`   // "in" from the bot, "out" to it, "" for connection events
	Frame string `json:"frame,omitempty"` // "event", "ack", "open", "close", "refused", …
	Conn  string `json:"conn,omitempty"`  // the connection's device_id
	Part  int    `json:"part,omitempty"`  // data frames: 0-based part
	Parts int    `json:"parts,omitempty"` // data frames: how many parts
	Size  int    `json:"size,omitempty"`  // bytes
	Note  string `json:"note,omitempty"`  // why a connection closed or was refused
	WSMsg string `json:"ws_message_id,omitempty"`
}

// faultView is what the fault switches have armed.
type faultView struct {
	// Armed are the faults waiting for the next period creates, in order.
	Armed []string `json:"armed"`
	Slow  bool     `json:"slow"`
	// Revoked reports that the tenant tokens were revoked ("Revoke token")
	// and the bot has not fetched a new one yet: its next API call answers
	// 99991663, then it fetches one.
	Revoked bool `json:"revoked"`
}

// tokensRevoked reports that the emulator has issued tenant tokens and none
// of them is valid any more. The sandbox's tokens live for hours and the
// bot renews its token before it expires, so in practice this is the state
// "Revoke token" leaves until the bot's next token request.
func tokensRevoked(emu *feishuemu.Emulator) bool {
	return emu.TokenFetches() > 0 && len(emu.Tokens()) == 0
}

// tenantView summarises the emulated tenant.
type tenantView struct {
	AppID   string `json:"app_id"`
	Rules   int    `json:"rules"`
	Periods int    `json:"periods"`
	// DefaultRule is okr.default_period_rule_id ("": the bot offers the
	// rules as buttons).
	DefaultRule string `json:"default_rule"`
}

// handleState answers the page's state. With ?after=V it first waits (long
// poll, at most 25 s) until the emulator's version passes V; while the bot
// works it answers within 250 ms so that the page's "typing…" clears.
func (s *sandbox) handleState(w http.ResponseWriter, r *http.Request) {
	v := s.emu.Version()
	if a := r.URL.Query().Get("after"); a != "" {
		after, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "after must be a version number")
			return
		}
		wait := longPoll
		if s.app.Bot.Pending() > 0 {
			wait = busyPoll
		}
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		stop := context.AfterFunc(s.live, cancel)
		v = s.emu.Wait(ctx, after)
		stop()
		cancel()
	}
	writeJSON(w, http.StatusOK, s.state(v))
}

// state snapshots the emulator for the page; v is the version read before.
func (s *sandbox) state(v uint64) stateView {
	opts := s.emu.Options()
	working := s.app.Bot.Pending() > 0
	st := stateView{
		Version: v,
		Mode:    s.cfg.Feishu.Mode,
		Bot:     botView{OpenID: opts.BotOpenID, Name: opts.BotName},
		People:  s.people,
		Group:   chatView{ID: GroupChatID, Name: "HR Operations"},
		Tenant:  tenantView{AppID: opts.AppID, Rules: len(opts.Rules), Periods: len(opts.Periods), DefaultRule: s.cfg.OKR.DefaultPeriodRuleID},
		Working: working,
		MaxText: maxTextRunes,
	}

	deliveries := s.emu.Deliveries()
	pushed := map[string]string{} // message id → outcome of its last push
	for _, d := range deliveries {
		if d.Kind != "event" {
			continue
		}
		switch {
		case d.OK():
			pushed[d.MessageID] = "ok"
		case d.Skipped != "":
			pushed[d.MessageID] = "not delivered: " + d.Skipped
		case d.Err != "":
			pushed[d.MessageID] = "not delivered: " + d.Err
		default:
			pushed[d.MessageID] = fmt.Sprintf("not delivered: the bot answered HTTP %d", d.Status)
		}
	}
	msgs := s.emu.Messages("")
	answered := map[string]bool{}
	for _, m := range msgs {
		if m.FromBot && m.ParentID != "" {
			answered[m.ParentID] = true
		}
	}
	st.Messages = make([]messageView, 0, len(msgs))
	for _, m := range msgs {
		mv := messageView{
			ID: m.ID, ChatID: m.ChatID, ChatType: m.ChatType, FromBot: m.FromBot, Sender: m.SenderOpenID,
			Card: m.Card, ParentID: m.ParentID, Time: m.CreateTime.UnixMilli(), Updates: m.Updates,
		}
		if m.MsgType == "text" {
			mv.Text = m.Text
		}
		for _, mm := range m.Mentions {
			mv.Mentions = append(mv.Mentions, mentionView{Name: mm.Name, OpenID: mm.OpenID})
		}
		if !m.FromBot {
			mv.Delivery = pushed[m.ID]
			if mv.Delivery == "" {
				mv.Delivery = "sending"
			}
			mv.Awaiting = mv.Delivery == "ok" && working && !answered[m.ID]
		}
		st.Messages = append(st.Messages, mv)
	}

	st.Traffic = s.traffic(deliveries)
	s.mu.Lock()
	armed := s.emu.PendingFaults(feishuemu.APICreatePeriod)
	if armed < len(s.armed) {
		s.armed = s.armed[len(s.armed)-armed:] // faults are used oldest first
	}
	st.Faults = faultView{Armed: slices.Clone(s.armed), Slow: s.slow, Revoked: tokensRevoked(s.emu)}
	s.mu.Unlock()
	if st.Faults.Armed == nil {
		st.Faults.Armed = []string{}
	}
	return st
}

// traffic merges the bot's API calls and Feishu's pushes to the bot in the
// order they started, and keeps the newest.
func (s *sandbox) traffic(deliveries []feishuemu.Delivery) []trafficView {
	calls := s.emu.Calls()
	out := make([]trafficView, 0, len(calls)+len(deliveries))
	for _, c := range calls {
		t := trafficView{
			Kind: "api", Time: c.Time.UnixMilli(), Method: c.Method, Path: c.Path, API: c.API,
			Status: c.Status, LogID: c.LogID, Millis: c.Duration.Milliseconds(),
		}
		if c.Status != 0 {
			code := c.Code
			t.Code = &code
		} else {
			t.Pending = c.Duration == 0 // answered calls have a duration even without a status
		}
		out = append(out, t)
	}
	if s.cfg.Feishu.Mode == ModeWebSocket {
		out = append(out, s.frames()...)
		deliveries = nil // the frames show them
	}
	for _, d := range deliveries {
		path := s.cfg.Server.EventPath
		if d.Kind == "callback" {
			path = s.cfg.Server.CardPath
		}
		t := trafficView{
			Kind: d.Kind, Time: d.Time.UnixMilli(), Method: http.MethodPost, Path: path, Event: d.EventType,
			Status: d.Status, Attempt: d.Attempt, Millis: d.Duration.Milliseconds(), Message: d.MessageID,
		}
		if d.Skipped != "" {
			t.Error = d.Skipped
		} else if d.Err != "" {
			t.Error = d.Err
		}
		out = append(out, t)
	}
	slices.SortStableFunc(out, func(a, b trafficView) int {
		switch {
		case a.Time < b.Time:
			return -1
		case a.Time > b.Time:
			return 1
		}
		return 0
	})
	if len(out) > trafficShown {
		out = out[len(out)-trafficShown:]
	}
	return out
}

// frames are the long connection's traffic for the panel: data frames,
// ACKs and connection events; pings and pongs (one pair per PingInterval)
// are left out.
func (s *sandbox) frames() []trafficView {
	var out []trafficView
	for _, f := range s.emu.WSFrames() {
		if f.Type == "ping" || f.Type == "pong" {
			continue
		}
		t := trafficView{
			Kind: "frame", Time: f.Time.UnixMilli(), Method: "WS", Path: feishuemu.WSPath,
			Dir: f.Dir, Frame: f.Type, Conn: f.ConnID, Part: f.Part, Parts: f.Parts, Size: f.Size,
			Note: f.Note, WSMsg: f.MessageID,
		}
		switch f.Type {
		case "ack":
			t.Status = f.Code
		case "refused":
			t.Status = f.Code
			t.Error = f.Note
		case "open", "event":
			t.Status = 0
		}
		out = append(out, t)
	}
	return out
}

// --- send ---

// sendRequest is POST /sandbox/api/send: a chat message typed on the page.
type sendRequest struct {
	Text string `json:"text"`
	As   string `json:"as"`   // open_id of one of the people
	Chat string `json:"chat"` // "p2p" (the sender's direct chat with the bot) or "group"
	// Mention @-mentions the bot (group chats).
	Mention bool `json:"mention"`
}

// handleSend records the message and delivers it to the bot in the
// background, as Feishu does: signed and encrypted im.message.receive_v1.
// It answers 202 with the new message's id.
func (s *sandbox) handleSend(w http.ResponseWriter, r *http.Request) {
	var in sendRequest
	if !readJSON(w, r, &in) {
		return
	}
	text := strings.TrimSpace(in.Text)
	switch {
	case text == "":
		writeError(w, http.StatusBadRequest, "text is empty")
		return
	case len([]rune(text)) > maxTextRunes:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("text is longer than %d characters", maxTextRunes))
		return
	}
	p, ok := s.person(in.As)
	if !ok {
		writeError(w, http.StatusBadRequest, "as must be the open_id of one of the sandbox's people")
		return
	}
	um := feishuemu.UserMessage{SenderOpenID: p.OpenID, Text: text, MessageID: "om_" + randHex(16)}
	switch in.Chat {
	case "p2p", "":
		um.ChatID, um.ChatType = p.P2PChat, "p2p"
	case "group":
		um.ChatID, um.ChatType, um.MentionBot = GroupChatID, "group", in.Mention
	default:
		writeError(w, http.StatusBadRequest, `chat must be "p2p" or "group"`)
		return
	}

	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "the sandbox is shutting down")
		return
	}
	s.sends.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.sends.Done()
		ctx, cancel := context.WithTimeout(s.bg, deliveryTimeout)
		defer cancel()
		d, err := s.emu.PostMessage(ctx, um)
		if err != nil || !d.OK() {
			s.log.Warn("sandbox: message not delivered", "message_id", um.MessageID, "status", d.Status,
				"err", errText(err, d.Err), "skipped", d.Skipped)
		}
	}()
	writeJSON(w, http.StatusAccepted, map[string]string{"message_id": um.MessageID})
}

// --- click ---

// clickRequest is POST /sandbox/api/click: a button pressed on a card.
type clickRequest struct {
	MessageID string `json:"message_id"`
	// Value is the button's callback value, as the Feishu client sends it.
	Value map[string]any `json:"value"`
	Name  string         `json:"name"`
	As    string         `json:"as"`
}

// clickResponse is what the Feishu client made of the bot's answer.
type clickResponse struct {
	Status  int            `json:"status"`
	Toast   map[string]any `json:"toast,omitempty"`
	Updated bool           `json:"updated"`
	// Error is the Feishu client's error code when the answer was unusable
	// (e.g. "200671", "200341"), Detail says why.
	Error  string `json:"error,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// handleClick delivers card.action.trigger to the bot and applies its
// answer (toast, card replaced in place), as a Feishu client does.
func (s *sandbox) handleClick(w http.ResponseWriter, r *http.Request) {
	var in clickRequest
	if !readJSON(w, r, &in) {
		return
	}
	p, ok := s.person(in.As)
	if !ok {
		writeError(w, http.StatusBadRequest, "as must be the open_id of one of the sandbox's people")
		return
	}
	if in.Value == nil {
		writeError(w, http.StatusBadRequest, "value is required: the button's callback value")
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), clickTimeout)
	defer cancel()
	res, err := s.emu.Click(ctx, feishuemu.Click{MessageID: in.MessageID, OperatorOpenID: p.OpenID, Value: in.Value, Name: in.Name})
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, context.DeadlineExceeded) {
			status = http.StatusGatewayTimeout
		}
		writeError(w, status, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, clickResponse{Status: res.Status, Toast: res.Toast, Updated: res.Updated, Error: res.Err, Detail: res.Detail})
}

// --- faults ---

// faultRequest is POST /sandbox/api/fault.
type faultRequest struct {
	// Action is "fail" (the next period create answers Code), "hangup" (the
	// next create's connection is reset), "revoke" (every tenant token
	// becomes invalid), "slow" (every API answers 3 s late while On) or
	// "clear" (no faults, no delay).
	Action string `json:"action"`
	Code   int    `json:"code"`
	On     bool   `json:"on"`
}

// failCode reports whether the page offers code for the next create: the
// codes of the Create Period API (docs/contract.md §5), the rate limit, and one code
// okrbot does not know.
func failCode(code int) bool {
	switch code {
	case 1009999, 1001001, 1001002, 1001003, 1001004, 1000403, 1001008, 1001009, feishuemu.CodeRateLimited, 1234567:
		return true
	}
	return false
}

// handleFault arms a fault in the emulator.
func (s *sandbox) handleFault(w http.ResponseWriter, r *http.Request) {
	var in faultRequest
	if !readJSON(w, r, &in) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch in.Action {
	case "fail":
		if !failCode(in.Code) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("code %d is not one the sandbox offers", in.Code))
			return
		}
		f := feishuemu.Fault{API: feishuemu.APICreatePeriod, Code: in.Code}
		label := fmt.Sprintf("code %d · HTTP %d", in.Code, feishuemu.CodeStatus(in.Code))
		if in.Code == feishuemu.CodeRateLimited {
			f.Status, f.RateLimitReset = http.StatusTooManyRequests, 2
			label = fmt.Sprintf("code %d · HTTP 429 rate limit", in.Code)
		}
		s.emu.Inject(f)
		s.armed = append(s.armed, label)
	case "hangup":
		s.emu.Inject(feishuemu.Fault{API: feishuemu.APICreatePeriod, Hangup: true})
		s.armed = append(s.armed, "connection reset")
	case "revoke":
		s.emu.RevokeTokens()
	case "slow":
		d := time.Duration(0)
		if in.On {
			d = slowAPI
		}
		s.emu.SetLatency("", d)
		s.slow = in.On
	case "clear":
		s.emu.ClearFaults()
		s.emu.SetLatency("", 0)
		s.armed, s.slow = nil, false
	default:
		writeError(w, http.StatusBadRequest, `action must be "fail", "hangup", "revoke", "slow" or "clear"`)
		return
	}
	s.log.Info("sandbox fault", "action", in.Action, "code", in.Code, "on", in.On)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// --- JSON helpers ---

// readJSON decodes a JSON request body into v. It insists on the JSON
// media type, which a cross-site form cannot send without the browser
// asking first, and answers the error itself when it returns false.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != jsonMediaType {
		writeError(w, http.StatusUnsupportedMediaType, "the body must be application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "the body is not the expected JSON: "+err.Error())
		return false
	}
	return true
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding the answer failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError answers {"error": msg} with status.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// errText is err's text, or fallback when err is nil.
func errText(err error, fallback string) string {
	if err != nil {
		return err.Error()
	}
	return fallback
}
