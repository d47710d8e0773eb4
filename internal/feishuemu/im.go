package feishuemu

import (
	"encoding/json"
	"strings"
	"time"
)

// Message is a chat message: one a user sent to the bot (PostMessage) or one
// the bot sent (reply/send).
type Message struct {
	ID           string // "om_" + 32 hex
	ChatID       string
	ChatType     string // "p2p" or "group"
	ParentID     string // for replies: the replied message
	RootID       string // for replies: the root of the reply chain
	FromBot      bool
	SenderOpenID string // the user's open_id; the bot's open_id for bot messages
	SenderType   string // "user", "app", …; "app" for the bot's own messages
	MsgType      string // "text" or "interactive"
	// Text is, for text messages, the text as typed (with "@Name" for
	// mentions, not the "@_user_N" placeholders the event carries).
	Text string
	// Card is, for interactive messages, the current card (after PATCH,
	// delayed updates and callback answers).
	Card map[string]any
	// Content is the message content JSON as last set.
	Content    string
	Mentions   []Mention // user messages: who was mentioned (bot included)
	UUID       string
	CreateTime time.Time
	UpdateTime time.Time
	Updates    int  // times the card was replaced
	Deleted    bool // recalled (RecallMessage)
}

type message struct {
	Message
	event map[string]any // user messages: the receive_v1 "event", reused when re-sent
	// Delayed card updates that arrive while a callback is still unanswered
	// are undone when the answer comes (Feishu: "更新后立即复原").
	clicksInFlight int
	earlyUpdate    bool
}

type uuidEntry struct {
	messageID string
	at        time.Time
}

type cardToken struct {
	messageID string
	issued    time.Time
	uses      int
}

// Card update token limits (docs/feishu.md §3.6).
const (
	CardTokenTTL  = 30 * time.Minute
	CardTokenUses = 2
)

// uuidWindow is how long a reply/send uuid deduplicates.
const uuidWindow = time.Hour

// messageEditWindow is how long a sent card may be updated.
const messageEditWindow = 14 * 24 * time.Hour

func (m *message) snapshot() Message {
	c := m.Message
	c.Card = deepCopyMap(m.Card)
	c.Mentions = append([]Mention(nil), m.Mentions...)
	return c
}

// Messages returns the messages of a chat in order; "" returns all chats.
func (e *Emulator) Messages(chatID string) []Message {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Message
	for _, m := range e.messages {
		if chatID == "" || m.ChatID == chatID {
			out = append(out, m.snapshot())
		}
	}
	return out
}

// Message returns one message by id.
func (e *Emulator) Message(id string) (Message, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.msgByID[id]
	if !ok {
		return Message{}, false
	}
	return m.snapshot(), true
}

// Replies returns the messages the bot sent (replies and sends), in order.
func (e *Emulator) Replies() []Message {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Message
	for _, m := range e.messages {
		if m.FromBot {
			out = append(out, m.snapshot())
		}
	}
	return out
}

// RecallMessage marks a message as recalled: replies to it and updates of it
// then answer 230011. It reports whether the message exists.
func (e *Emulator) RecallMessage(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.msgByID[id]
	if ok {
		m.Deleted = true
		e.bumpLocked()
	}
	return ok
}

// Chats returns the ids of the chats that have messages, in order of their
// first message.
func (e *Emulator) Chats() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, m := range e.messages {
		if !seen[m.ChatID] {
			seen[m.ChatID] = true
			out = append(out, m.ChatID)
		}
	}
	return out
}

func (e *Emulator) addMessageLocked(m *message) {
	e.messages = append(e.messages, m)
	e.msgByID[m.ID] = m
	if _, ok := e.chats[m.ChatID]; !ok && m.ChatType != "" {
		e.chats[m.ChatID] = m.ChatType
	}
	e.bumpLocked()
}

func newMessageID() string { return "om_" + randHex(16) }

// outgoing is a parsed reply/send body.
type outgoing struct {
	msgType string
	content string
	text    string
	card    map[string]any
	uuid    string
}

// parseOutgoing checks msg_type, content and uuid of a reply or send.
func parseOutgoing(req *request, msgType, content *string, uuid string) (outgoing, *answer) {
	bad := func(code int, msg string) (outgoing, *answer) {
		a := errAnswer(req.logID, code, msg, nil)
		return outgoing{}, &a
	}
	if msgType == nil || content == nil {
		return bad(CodeIMInvalidParam, "invalid param: msg_type and content are required")
	}
	if len(uuid) > 50 {
		return bad(CodeIMInvalidParam, "invalid param: uuid is longer than 50 characters")
	}
	o := outgoing{msgType: *msgType, content: *content, uuid: uuid}
	switch *msgType {
	case "text":
		if len(*content) > MaxTextBytes {
			return bad(CodeIMTooLong, "")
		}
		var t struct {
			Text *string `json:"text"`
		}
		if json.Unmarshal([]byte(*content), &t) != nil || t.Text == nil {
			return bad(CodeIMInvalidParam, `invalid param: text content must be a JSON string like {"text":"..."}`)
		}
		o.text = *t.Text
	case "interactive":
		card, a := parseCardContent(req, *content)
		if a != nil {
			return outgoing{}, a
		}
		o.card = card
	default:
		return bad(CodeIMInvalidParam, "invalid param: the emulator accepts msg_type text or interactive")
	}
	return o, nil
}

// parseCardContent validates interactive content for the IM APIs:
// 230025 when over 30 KB, 230099 with the card error otherwise.
func parseCardContent(req *request, content string) (map[string]any, *answer) {
	if len(content) > MaxCardBytes {
		a := errAnswer(req.logID, CodeIMTooLong, "", nil)
		return nil, &a
	}
	card, cerr := ParseCard([]byte(content))
	if cerr != nil {
		a := errAnswer(req.logID, CodeIMCardInvalid, cerr.Error(), nil)
		return nil, &a
	}
	return card, nil
}

// messageData is the "data" of a reply/send answer (docs/feishu.md §4.1).
func (e *Emulator) messageData(m *message) map[string]any {
	d := map[string]any{
		"message_id":  m.ID,
		"msg_type":    m.MsgType,
		"create_time": msString(m.CreateTime),
		"update_time": msString(m.UpdateTime),
		"deleted":     m.Deleted,
		"updated":     m.Updates > 0,
		"chat_id":     m.ChatID,
		"sender": map[string]any{
			"id": e.opts.AppID, "id_type": "app_id", "sender_type": "app", "tenant_key": e.opts.TenantKey,
		},
		"body": map[string]any{"content": m.Content},
	}
	if m.ParentID != "" {
		d["parent_id"] = m.ParentID
		d["root_id"] = m.RootID
	}
	return d
}

// sendLocked stores a bot message, or returns the original one for a uuid
// seen within the last hour (Feishu: at most one message per uuid per hour;
// the emulator answers the duplicate with the original, code 0).
func (e *Emulator) sendLocked(o outgoing, chatID string, parent *message) answer {
	now := e.now()
	if o.uuid != "" {
		if u, ok := e.uuids[o.uuid]; ok && now.Sub(u.at) < uuidWindow {
			if orig, ok := e.msgByID[u.messageID]; ok {
				return okAnswer("success", e.messageData(orig))
			}
		}
	}
	m := &message{Message: Message{
		ID: newMessageID(), ChatID: chatID, ChatType: e.chats[chatID], FromBot: true,
		SenderOpenID: e.opts.BotOpenID, SenderType: "app", MsgType: o.msgType, Text: o.text,
		Card: o.card, Content: o.content, UUID: o.uuid, CreateTime: now, UpdateTime: now,
	}}
	if m.ChatType == "" {
		m.ChatType = "group"
	}
	if parent != nil {
		m.ParentID = parent.ID
		m.RootID = parent.RootID
		if m.RootID == "" {
			m.RootID = parent.ID
		}
	}
	e.addMessageLocked(m)
	if o.uuid != "" {
		e.uuids[o.uuid] = uuidEntry{messageID: m.ID, at: now}
	}
	return okAnswer("success", e.messageData(m))
}

// lookupLocked finds a message for reply/patch: 230001 for an id that is not
// a message id, 230011 for one that does not exist (any more).
func (e *Emulator) lookupLocked(req *request, id string) (*message, *answer) {
	if !strings.HasPrefix(id, "om_") {
		a := errAnswer(req.logID, CodeIMInvalidParam, "invalid param: message_id", nil)
		return nil, &a
	}
	m, ok := e.msgByID[id]
	if !ok || m.Deleted {
		a := errAnswer(req.logID, CodeIMRecalled, "", nil)
		return nil, &a
	}
	return m, nil
}

// handleReply serves POST /open-apis/im/v1/messages/{message_id}/reply.
func (e *Emulator) handleReply(req *request) answer {
	if a := e.authorize(req); a != nil {
		return *a
	}
	var in struct {
		MsgType       *string `json:"msg_type"`
		Content       *string `json:"content"`
		UUID          string  `json:"uuid"`
		ReplyInThread bool    `json:"reply_in_thread"`
	}
	if json.Unmarshal(req.body, &in) != nil {
		return errAnswer(req.logID, CodeIMInvalidParam, "invalid param: body is not JSON", nil)
	}
	o, a := parseOutgoing(req, in.MsgType, in.Content, in.UUID)
	if a != nil {
		return *a
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	parent, a := e.lookupLocked(req, req.pathID)
	if a != nil {
		return *a
	}
	return e.sendLocked(o, parent.ChatID, parent)
}

// handleSend serves POST /open-apis/im/v1/messages?receive_id_type=chat_id.
// Only chat ids are supported as receivers.
func (e *Emulator) handleSend(req *request) answer {
	if a := e.authorize(req); a != nil {
		return *a
	}
	if t := req.r.URL.Query().Get("receive_id_type"); t != "chat_id" {
		return errAnswer(req.logID, CodeIMInvalidParam, "invalid param: receive_id_type (the emulator supports chat_id)", nil)
	}
	var in struct {
		ReceiveID string  `json:"receive_id"`
		MsgType   *string `json:"msg_type"`
		Content   *string `json:"content"`
		UUID      string  `json:"uuid"`
	}
	if json.Unmarshal(req.body, &in) != nil {
		return errAnswer(req.logID, CodeIMInvalidParam, "invalid param: body is not JSON", nil)
	}
	if !strings.HasPrefix(in.ReceiveID, "oc_") {
		return errAnswer(req.logID, CodeIMInvalidParam, "invalid param: receive_id must be a chat id", nil)
	}
	o, a := parseOutgoing(req, in.MsgType, in.Content, in.UUID)
	if a != nil {
		return *a
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sendLocked(o, in.ReceiveID, nil)
}

// handlePatchMessage serves PATCH /open-apis/im/v1/messages/{message_id}:
// only cards the bot sent, within 14 days, validated like a new card.
func (e *Emulator) handlePatchMessage(req *request) answer {
	if a := e.authorize(req); a != nil {
		return *a
	}
	var in struct {
		Content *string `json:"content"`
	}
	if json.Unmarshal(req.body, &in) != nil || in.Content == nil {
		return errAnswer(req.logID, CodeIMInvalidParam, "invalid param: content is required", nil)
	}
	e.mu.Lock()
	m, a := e.lookupLocked(req, req.pathID)
	if a == nil {
		switch {
		case !m.FromBot:
			b := errAnswer(req.logID, CodeIMNoPermission, "the message was not sent by this app", nil)
			a = &b
		case m.MsgType != "interactive":
			b := errAnswer(req.logID, CodeIMInvalidParam, "invalid param: only interactive messages can be patched", nil)
			a = &b
		case e.now().Sub(m.CreateTime) > messageEditWindow:
			b := errAnswer(req.logID, CodeIMTooOld, "", nil)
			a = &b
		}
	}
	e.mu.Unlock()
	if a != nil {
		return *a
	}
	card, a := parseCardContent(req, *in.Content)
	if a != nil {
		return *a
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.replaceCardLocked(m, card, *in.Content)
	return okAnswer("success", map[string]any{})
}

func (e *Emulator) replaceCardLocked(m *message, card map[string]any, content string) {
	m.Card = card
	m.Content = content
	m.Updates++
	m.UpdateTime = e.now()
	e.bumpLocked()
}

// handleCardUpdate serves POST /open-apis/interactive/v1/card/update, the
// delayed update with a callback's "c-" token (30 min, 2 uses).
func (e *Emulator) handleCardUpdate(req *request) answer {
	if a := e.authorize(req); a != nil {
		return *a
	}
	var in struct {
		Token string         `json:"token"`
		Card  map[string]any `json:"card"`
	}
	if json.Unmarshal(req.body, &in) != nil {
		return errAnswer(req.logID, 100030, "", nil)
	}
	if !strings.HasPrefix(in.Token, "c-") {
		return errAnswer(req.logID, CodeCardTokenFormat, "", nil)
	}
	if in.Card == nil {
		return errAnswer(req.logID, CodeCardFormatInvalid, "card is required and must be an object", nil)
	}
	// open_ids belongs to the update request (1.0 non-shared cards), not to
	// the card itself.
	delete(in.Card, "open_ids")
	if in.Card["type"] == "template" {
		return errAnswer(req.logID, CodeCardFormatInvalid, "card format invalid: template cards are not supported by the emulator", nil)
	}
	content := marshal(in.Card)
	if len(content) > MaxCardBytes {
		return errAnswer(req.logID, 100000, "", nil)
	}
	if cerr := ValidateCard(in.Card); cerr != nil {
		return errAnswer(req.logID, CodeCardFormatInvalid, "card format invalid, "+cerr.Error(), nil)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.cardTokens[in.Token]
	switch {
	case !ok:
		return errAnswer(req.logID, CodeCardTokenFormat, "invalid token: unknown token", nil)
	case e.now().Sub(t.issued) > CardTokenTTL:
		return errAnswer(req.logID, CodeCardTokenExpired, "", nil)
	case t.uses >= CardTokenUses:
		return errAnswer(req.logID, CodeCardTokenUsedUp, "", nil)
	}
	m, ok := e.msgByID[t.messageID]
	if !ok || m.Deleted {
		return errAnswer(req.logID, 200000, "", nil)
	}
	t.uses++
	if m.clicksInFlight > 0 {
		m.earlyUpdate = true
	}
	e.replaceCardLocked(m, in.Card, string(content))
	return answer{status: 200, body: marshal(map[string]any{"code": 0, "msg": "ok"})}
}
