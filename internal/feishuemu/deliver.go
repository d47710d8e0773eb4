package feishuemu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// SetBotEndpoints sets where events (im.message.receive_v1) and card
// callbacks (card.action.trigger) are delivered.
func (e *Emulator) SetBotEndpoints(eventURL, cardURL string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.eventURL, e.cardURL = eventURL, cardURL
	e.bumpLocked()
}

// UserMessage is a text message a user sends in a chat with the bot.
type UserMessage struct {
	ChatID       string // default DefaultP2PChatID or DefaultGroupChatID by ChatType
	ChatType     string // "p2p" (default, or the known type of ChatID) or "group"
	SenderOpenID string // default DefaultUserOpenID
	SenderType   string // default "user"; e.g. "app" to simulate another bot
	// Text is what the user typed, e.g. "/newperiod 2022-01". "@Name" of a
	// mentioned user (or the bot) is replaced by its "@_user_N" key in the
	// event, as Feishu does.
	Text string
	// MentionBot @-mentions the bot: "@BotName" in Text becomes "@_user_1",
	// or the placeholder is prefixed when Text does not name the bot; the
	// event's mentions[] carries the bot's open_id.
	MentionBot bool
	// Mentions are other mentioned users. With Key empty a key is assigned
	// and "@Name" in Text replaced (or the key appended); with Key set, Text
	// must already contain the key.
	Mentions   []Mention
	ParentID   string    // the message replied to, if any
	CreateTime time.Time // zero → the emulator's Now; message.create_time in ms
	// MessageID, when it names a message already posted, re-sends that very
	// message (same content and create_time) under a new event id, as
	// Feishu's at-least-once delivery sometimes does; the other fields are
	// then ignored. Empty means a new message with a new id.
	MessageID string
}

// Mention is an @-mention in a user message.
type Mention struct{ Key, OpenID, Name string }

// Delivery is one push of an event or callback to the bot.
type Delivery struct {
	Kind      string // "event" or "callback"
	EventID   string
	EventType string
	MessageID string // the message posted, or the card clicked
	Attempt   int    // 1 for the first push, 2+ for redeliveries
	Time      time.Time
	Status    int    // the bot's HTTP status; 0 when there was no answer
	Body      []byte // the bot's answer
	// Err describes a transport failure (timeout, refused connection).
	Err string
	// Skipped says why the event was not pushed at all (the app lacks the
	// scope that would deliver it, or no URL is set); empty when it was.
	Skipped  string
	Duration time.Duration
	// Transport is DeliveryWebhook or DeliveryWebSocket: how the push went
	// (or would have gone). Over the long connection Status is the ACK's
	// code and Body the ACK's data, base64-decoded.
	Transport string
	// Frames is how many data frames carried the push over the long
	// connection (0 for webhooks).
	Frames int
	// ConnID is the long connection used (its device_id).
	ConnID string
}

// OK reports whether Feishu would count the delivery as a success.
func (d Delivery) OK() bool { return d.Skipped == "" && d.Err == "" && d.Status == 200 }

type storedEvent struct {
	kind      string
	eventType string
	messageID string
	plain     []byte // the decrypted envelope, byte-identical on every attempt
	attempts  int
}

// Deliveries returns every push so far, in order.
func (e *Emulator) Deliveries() []Delivery {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Delivery, len(e.deliveries))
	for i, d := range e.deliveries {
		d.Body = append([]byte(nil), d.Body...)
		out[i] = d
	}
	return out
}

func unionID(openID string) string {
	sum := sha256.Sum256([]byte(openID))
	return "on_" + hex.EncodeToString(sum[:16])
}

// ErrNoEndpoint is returned when a delivery has nowhere to go.
var ErrNoEndpoint = errors.New("feishuemu: no bot endpoint; call SetBotEndpoints")

// PostMessage records a user message and delivers im.message.receive_v1
// (schema 2.0, docs/feishu.md §2.3/§2.4) to the event URL, signed and encrypted
// as configured, or in DeliveryWebSocket mode as plain JSON over one of the
// bot's long connections (no connection is a failed push). The error
// reports a transport failure or a missing URL; a non-200 answer is not an
// error (see Delivery.Status). With Options.Redelivery set, a failed push
// is retried in the background.
func (e *Emulator) PostMessage(ctx context.Context, um UserMessage) (Delivery, error) {
	e.mu.Lock()
	m, isNew := e.msgByID[um.MessageID], false
	if m != nil && m.event == nil {
		e.mu.Unlock()
		return Delivery{}, fmt.Errorf("feishuemu: message %q was not sent by a user", um.MessageID)
	}
	if m == nil {
		m, isNew = e.newUserMessageLocked(um), true
	}
	now := e.now()
	env := e.sender("").envelopeAt("im.message.receive_v1", m.event, msString(now))
	eventID := env["header"].(map[string]any)["event_id"].(string)
	ev := &storedEvent{kind: "event", eventType: "im.message.receive_v1", messageID: m.ID, plain: marshal(env)}
	e.events[eventID] = ev
	if isNew {
		e.addMessageLocked(m)
	}
	skip, err := e.skipReasonLocked(m), error(nil)
	// Over the long connection a missing connection is a failed push (and
	// redelivered), not a skipped one: Feishu keeps the event for the bot.
	if skip == "" && e.ws.mode == DeliveryWebhook && e.eventURL == "" {
		skip, err = "no event URL set", ErrNoEndpoint
	}
	if skip != "" {
		d := Delivery{Kind: "event", EventID: eventID, EventType: ev.eventType, MessageID: m.ID, Time: now, Skipped: skip, Transport: e.ws.mode}
		e.deliveries = append(e.deliveries, d)
		e.bumpLocked()
		e.mu.Unlock()
		return d, err
	}
	e.mu.Unlock()

	d, err := e.deliver(ctx, eventID)
	if !d.OK() && ctx.Err() == nil {
		e.scheduleRedelivery(eventID, 0)
	}
	return d, err
}

// newUserMessageLocked builds a user message and its receive_v1 event.
func (e *Emulator) newUserMessageLocked(um UserMessage) *message {
	if um.ChatType == "" {
		um.ChatType = e.chats[um.ChatID]
	}
	if um.ChatType == "" {
		um.ChatType = "p2p"
	}
	if um.ChatID == "" {
		um.ChatID = DefaultP2PChatID
		if um.ChatType == "group" {
			um.ChatID = DefaultGroupChatID
		}
	}
	if um.SenderOpenID == "" {
		um.SenderOpenID = DefaultUserOpenID
	}
	if um.SenderType == "" {
		um.SenderType = "user"
	}
	if um.MessageID == "" {
		um.MessageID = newMessageID()
	}
	created := um.CreateTime
	if created.IsZero() {
		created = e.now()
	}

	typed, wire := um.Text, um.Text
	var mentions []map[string]any
	var stored []Mention
	add := func(key, openID, name, kind string, explicit, prefix bool) {
		if key == "" {
			key = fmt.Sprintf("@_user_%d", len(mentions)+1)
		}
		display := "@" + name
		switch {
		case explicit:
			typed = strings.Replace(typed, key, display, 1)
		case strings.Contains(wire, display):
			wire = strings.Replace(wire, display, key, 1)
		case prefix:
			wire, typed = strings.TrimSpace(key+" "+wire), strings.TrimSpace(display+" "+typed)
		default:
			wire, typed = strings.TrimSpace(wire+" "+key), strings.TrimSpace(typed+" "+display)
		}
		mentions = append(mentions, map[string]any{
			"key":            key,
			"id":             map[string]any{"open_id": openID, "union_id": unionID(openID), "user_id": ""},
			"mentioned_type": kind,
			"name":           name,
			"tenant_key":     e.opts.TenantKey,
		})
		stored = append(stored, Mention{Key: key, OpenID: openID, Name: name})
	}
	if um.MentionBot {
		add("", e.opts.BotOpenID, e.opts.BotName, "bot", false, true)
	}
	for _, mm := range um.Mentions {
		add(mm.Key, mm.OpenID, mm.Name, "user", mm.Key != "", false)
	}

	msg := map[string]any{
		"message_id":   um.MessageID,
		"create_time":  msString(created),
		"update_time":  msString(created),
		"chat_id":      um.ChatID,
		"chat_type":    um.ChatType,
		"message_type": "text",
		"content":      string(marshal(map[string]string{"text": wire})),
	}
	if len(mentions) > 0 {
		list := make([]any, len(mentions))
		for i, x := range mentions {
			list[i] = x
		}
		msg["mentions"] = list
	}
	m := &message{Message: Message{
		ID: um.MessageID, ChatID: um.ChatID, ChatType: um.ChatType, SenderOpenID: um.SenderOpenID,
		SenderType: um.SenderType, MsgType: "text", Text: typed, Content: msg["content"].(string),
		Mentions: stored, CreateTime: created, UpdateTime: created,
	}}
	if um.ParentID != "" {
		m.ParentID, m.RootID = um.ParentID, um.ParentID
		if p, ok := e.msgByID[um.ParentID]; ok && p.RootID != "" {
			m.RootID = p.RootID
		}
		msg["parent_id"], msg["root_id"] = m.ParentID, m.RootID
	}
	// The event is built once and kept: a re-send of the same message must
	// carry the same message body (JSON objects, so no Go map order issue
	// after marshalling: encoding/json sorts keys).
	m.event = map[string]any{
		"sender": map[string]any{
			"sender_id": map[string]any{
				"open_id":  um.SenderOpenID,
				"union_id": unionID(um.SenderOpenID),
			},
			"sender_type": um.SenderType,
			"tenant_key":  e.opts.TenantKey,
		},
		"message": msg,
	}
	return m
}

// skipReasonLocked applies Feishu's delivery rules (docs/feishu.md §2.1): which
// messages reach the bot depends on the app's scopes.
func (e *Emulator) skipReasonLocked(m *message) string {
	mentionsBot := false
	for _, mm := range m.Mentions {
		mentionsBot = mentionsBot || mm.OpenID == e.opts.BotOpenID
	}
	if m.SenderType != "user" && !e.hasAnyScopeLocked("im:message.group_at_msg.include_bot:readonly") {
		return "sent by a bot and the app lacks im:message.group_at_msg.include_bot:readonly"
	}
	if m.ChatType == "p2p" {
		if !e.hasAnyScopeLocked("im:message.p2p_msg:readonly", "im:message.p2p_msg") {
			return "p2p message and the app lacks im:message.p2p_msg:readonly"
		}
		return ""
	}
	if mentionsBot {
		if !e.hasAnyScopeLocked("im:message.group_at_msg:readonly", "im:message.group_at_msg", "im:message.group_msg", "im:message.group_msg:readonly") {
			return "group message and the app lacks im:message.group_at_msg:readonly"
		}
		return ""
	}
	if !e.hasAnyScopeLocked("im:message.group_msg", "im:message.group_msg:readonly") {
		return "group message without an @-mention of the bot and the app lacks im:message.group_msg"
	}
	return ""
}

// sender returns the Sender for a delivery kind ("callback" or events).
func (e *Emulator) sender(kind string) Sender {
	s := Sender{
		VerificationToken: e.opts.VerificationToken, EncryptKey: e.opts.EncryptKey,
		AppID: e.opts.AppID, TenantKey: e.opts.TenantKey, Client: e.eventHTTP,
	}
	if kind == "callback" {
		s.Client = e.cardHTTP
	}
	return s
}

// deliver pushes a stored event once, by the current delivery mode, and
// records the attempt. It is the emulator's one transport point: first
// pushes, redeliveries and card callbacks all go through it.
func (e *Emulator) deliver(ctx context.Context, eventID string) (Delivery, error) {
	return e.deliverVia(ctx, eventID, "", nil)
}

// deliverVia is deliver with the mode forced ("" = the current one) and,
// over the long connection, the connection chosen (nil = the next one in
// turn).
func (e *Emulator) deliverVia(ctx context.Context, eventID, mode string, conn *wsConn) (Delivery, error) {
	e.mu.Lock()
	ev, ok := e.events[eventID]
	if !ok {
		e.mu.Unlock()
		return Delivery{}, fmt.Errorf("feishuemu: unknown event %q", eventID)
	}
	ev.attempts++
	if mode == "" {
		mode = e.ws.mode
	}
	target := e.eventURL
	timeout := e.opts.EventTimeout
	if ev.kind == "callback" {
		target, timeout = e.cardURL, e.opts.CallbackTimeout
	}
	if mode == DeliveryWebSocket && conn == nil {
		conn = e.pickConnLocked()
	}
	d := Delivery{Kind: ev.kind, EventID: eventID, EventType: ev.eventType, MessageID: ev.messageID, Attempt: ev.attempts, Time: e.now(), Transport: mode}
	plain := ev.plain
	e.mu.Unlock()

	var err error
	started := time.Now()
	switch {
	case mode == DeliveryWebSocket && conn == nil:
		err = errWSNoConn
	case mode == DeliveryWebSocket:
		// Plain JSON: the connection itself is authenticated, so Feishu
		// neither encrypts nor signs what it carries.
		d.ConnID = conn.id
		d.Status, d.Body, d.Frames, err = e.pushWS(ctx, conn, plain, timeout)
	case target == "":
		d.Skipped, err = "no URL set", ErrNoEndpoint
	default:
		var resp Response
		resp, err = e.sender(ev.kind).postPlain(ctx, target, plain)
		d.Status, d.Body = resp.Status, resp.Body
	}
	if d.Skipped == "" {
		d.Duration = time.Since(started)
	}
	if err != nil && d.Skipped == "" {
		d.Err = err.Error()
	}
	e.mu.Lock()
	e.deliveries = append(e.deliveries, d)
	e.bumpLocked()
	e.mu.Unlock()
	return d, err
}

// scheduleRedelivery redelivers a failed event after Options.Redelivery[n],
// and keeps going down the schedule until a push succeeds.
func (e *Emulator) scheduleRedelivery(eventID string, n int) {
	e.mu.Lock()
	if e.closed || n >= len(e.opts.Redelivery) {
		e.mu.Unlock()
		return
	}
	delay := e.opts.Redelivery[n]
	e.background.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.background.Done()
		if !sleep(e.closeCtx, delay) {
			return
		}
		if d, _ := e.deliver(e.closeCtx, eventID); !d.OK() && e.closeCtx.Err() == nil {
			e.scheduleRedelivery(eventID, n+1)
		}
	}()
}

// Redeliver pushes an event again: the same decrypted envelope (same
// event_id and create_time) with a fresh timestamp, nonce, IV and signature
// (over the long connection: fresh frames with a new message_id).
// A callback event can be replayed too (its answer is then not applied).
func (e *Emulator) Redeliver(ctx context.Context, eventID string) (Delivery, error) {
	return e.deliver(ctx, eventID)
}

// EventBody returns the decrypted envelope of a delivered event, as sent.
func (e *Emulator) EventBody(eventID string) ([]byte, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ev, ok := e.events[eventID]
	if !ok {
		return nil, false
	}
	return append([]byte(nil), ev.plain...), true
}

// Click is a user pressing a button on a bot card.
type Click struct {
	MessageID      string // the bot card message clicked
	OperatorOpenID string // default DefaultUserOpenID
	// Value is delivered as action.value: the button's behaviors[].value
	// (see ButtonValues). It is not checked against the card, so tests can
	// send forged values.
	Value map[string]any
	Tag   string // default "button"
	Name  string // the component's name (action.name), optional
}

// ClickResult is what the Feishu client made of the bot's callback answer.
type ClickResult struct {
	EventID string
	Token   string // the "c-" update token issued with the callback
	Status  int
	Body    []byte
	Toast   map[string]any // the answer's toast, if any
	// Updated reports that a raw card in the answer replaced the message's
	// card.
	Updated bool
	// Reverted reports that a delayed update made before the answer was
	// undone, as Feishu does when card/update races the callback answer.
	Reverted bool
	// Err is the client-side error code when the answer was unusable:
	// "200671" non-200, "200672" bad body, "200673" invalid card, "200830"
	// a 2.0 card replaced by a 1.0 one, "200341" no answer in time, "200342"
	// no connection, "200080" another transport error.
	Err string
	// Detail explains Err.
	Detail string
}

// Click delivers card.action.trigger to the card URL (or, in
// DeliveryWebSocket mode, over a long connection), as a Feishu client
// does when a button is pressed: a fresh "c-" update token (30 min, 2 uses),
// header.create_time in µs, context.open_message_id/open_chat_id. The
// answer must come within the callback timeout (3 s). A
// {"card":{"type":"raw","data":{...}}} answer is validated and replaces the
// card. The error is for problems on the emulator's side (unknown message,
// no URL, ctx done); the bot's failures are in ClickResult.Err.
func (e *Emulator) Click(ctx context.Context, c Click) (res ClickResult, err error) {
	if c.OperatorOpenID == "" {
		c.OperatorOpenID = DefaultUserOpenID
	}
	if c.Tag == "" {
		c.Tag = "button"
	}
	e.mu.Lock()
	m, ok := e.msgByID[c.MessageID]
	switch {
	case !ok:
		e.mu.Unlock()
		return ClickResult{}, fmt.Errorf("feishuemu: unknown message %q", c.MessageID)
	case !m.FromBot || m.MsgType != "interactive" || m.Deleted:
		e.mu.Unlock()
		return ClickResult{}, fmt.Errorf("feishuemu: message %q is not a card the bot sent", c.MessageID)
	case e.ws.mode == DeliveryWebhook && e.cardURL == "":
		e.mu.Unlock()
		return ClickResult{}, ErrNoEndpoint
	}
	now := e.now()
	token := "c-" + randHex(20)
	e.cardTokens[token] = &cardToken{messageID: m.ID, issued: now}
	action := map[string]any{"value": deepCopyMap(c.Value), "tag": c.Tag}
	if c.Name != "" {
		action["name"] = c.Name
	}
	event := map[string]any{
		"operator": map[string]any{
			"tenant_key": e.opts.TenantKey, "open_id": c.OperatorOpenID, "union_id": unionID(c.OperatorOpenID),
		},
		"token":  token,
		"action": action,
		"host":   "im_message",
		"context": map[string]any{
			"open_message_id": m.ID, "open_chat_id": m.ChatID,
		},
	}
	env := e.sender("callback").envelopeAt("card.action.trigger", event, strconv.FormatInt(now.UnixMicro(), 10))
	eventID := env["header"].(map[string]any)["event_id"].(string)
	e.events[eventID] = &storedEvent{kind: "callback", eventType: "card.action.trigger", messageID: m.ID, plain: marshal(env)}
	before, beforeContent := deepCopyMap(m.Card), m.Content
	m.clicksInFlight++
	e.bumpLocked()
	e.mu.Unlock()

	d, err := e.deliver(ctx, eventID)
	res = ClickResult{EventID: eventID, Token: token, Status: d.Status, Body: d.Body}

	e.mu.Lock()
	defer e.mu.Unlock()
	m.clicksInFlight--
	// Runs after the answer is applied; res is a named result so that
	// Reverted reaches the caller.
	defer func() {
		if !res.Updated && m.earlyUpdate {
			m.Card, m.Content = before, beforeContent
			m.Updates++
			m.UpdateTime = e.now()
			res.Reverted = true
		}
		if m.clicksInFlight == 0 {
			m.earlyUpdate = false
		}
		e.bumpLocked()
	}()
	if err != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		res.Err, res.Detail = transportCode(err), err.Error()
		return res, nil
	}
	if d.Status != 200 {
		how := "HTTP"
		if d.Transport == DeliveryWebSocket {
			how = "with ACK code"
		}
		res.Err, res.Detail = "200671", fmt.Sprintf("the callback answered %s %d", how, d.Status)
		return res, nil
	}
	e.applyCallbackAnswerLocked(m, &res)
	return res, nil
}

// transportCode maps a delivery error to the Feishu client's error code.
func transportCode(err error) string {
	var ue *url.Error
	switch {
	case errors.As(err, &ue) && ue.Timeout(), errors.Is(err, errWSTimeout):
		return "200341"
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, errWSNoConn):
		return "200342"
	}
	return "200080"
}

// applyCallbackAnswerLocked interprets a 200 answer to card.action.trigger.
func (e *Emulator) applyCallbackAnswerLocked(m *message, res *ClickResult) {
	body := bytes.TrimSpace(res.Body)
	if len(body) == 0 || string(body) == "null" {
		return
	}
	var ans map[string]json.RawMessage
	if err := json.Unmarshal(body, &ans); err != nil {
		res.Err, res.Detail = "200672", "the answer is not a JSON object: "+err.Error()
		return
	}
	if raw, ok := ans["toast"]; ok && string(raw) != "null" {
		var toast map[string]any
		if json.Unmarshal(raw, &toast) != nil {
			res.Err, res.Detail = "200672", "toast must be an object"
			return
		}
		res.Toast = toast
	}
	raw, ok := ans["card"]
	if !ok || string(raw) == "null" {
		return
	}
	var card struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if json.Unmarshal(raw, &card) != nil {
		res.Err, res.Detail = "200672", "card must be an object"
		return
	}
	switch card.Type {
	case "raw":
	case "template":
		res.Err, res.Detail = "200673", "template cards are not supported by the emulator"
		return
	default:
		res.Err, res.Detail = "200672", fmt.Sprintf("card.type must be raw or template, got %q", card.Type)
		return
	}
	var data map[string]any
	if json.Unmarshal(card.Data, &data) != nil || data == nil {
		res.Err, res.Detail = "200673", "card.data must be a card object"
		return
	}
	if s, _ := data["schema"].(string); s != "2.0" {
		res.Err, res.Detail = "200830", "a JSON 2.0 card cannot be updated to a JSON 1.0 card"
		return
	}
	content := marshal(data)
	if len(content) > MaxCardBytes {
		res.Err, res.Detail = "200673", "the card is larger than 30 KB"
		return
	}
	if cerr := ValidateCard(data); cerr != nil {
		res.Err, res.Detail = "200673", cerr.Error()
		return
	}
	e.replaceCardLocked(m, data, string(content))
	res.Updated = true
}
