package bot

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	larkcore "github.com/larksuite/oapi-sdk-go/v3/core"
	larkim "github.com/larksuite/oapi-sdk-go/v3/service/im/v1"
)

// EventHeader is the schema 2.0 envelope header of a verified event.
type EventHeader struct {
	EventID    string `json:"event_id"`
	EventType  string `json:"event_type"`
	CreateTime string `json:"create_time"`
	Token      string `json:"token"`
	AppID      string `json:"app_id"`
	TenantKey  string `json:"tenant_key"`
}

// Event types the bot handles.
const (
	EventMessageReceive = "im.message.receive_v1"
	EventCardAction     = "card.action.trigger"
)

// ErrBadEvent reports an event body the bot cannot read.
var ErrBadEvent = errors.New("bot: malformed event")

// Message is a chat message addressed to the bot.
type Message struct {
	EventID      string
	MessageID    string
	ChatID       string
	ChatType     string // "p2p" or "group"
	SenderOpenID string
	SenderType   string // "user" for people
	MessageType  string // "text", "post", …
	Text         string // text messages: content.text, mention placeholders included
	Mentions     []Mention
	CreateTime   time.Time
}

// Mention is one @-mention in a message.
type Mention struct {
	Key    string // placeholder in Text, e.g. "@_user_1"
	OpenID string
}

// parseMessageEvent reads the event body of im.message.receive_v1.
func parseMessageEvent(eventID string, raw json.RawMessage) (Message, error) {
	var data larkim.P2MessageReceiveV1Data
	if err := json.Unmarshal(raw, &data); err != nil {
		return Message{}, fmt.Errorf("%w: %w", ErrBadEvent, err)
	}
	if data.Message == nil || data.Sender == nil {
		return Message{}, fmt.Errorf("%w: message or sender missing", ErrBadEvent)
	}
	m := data.Message
	msg := Message{
		EventID:     eventID,
		MessageID:   larkcore.StringValue(m.MessageId),
		ChatID:      larkcore.StringValue(m.ChatId),
		ChatType:    larkcore.StringValue(m.ChatType),
		SenderType:  larkcore.StringValue(data.Sender.SenderType),
		MessageType: larkcore.StringValue(m.MessageType),
	}
	if data.Sender.SenderId != nil {
		msg.SenderOpenID = larkcore.StringValue(data.Sender.SenderId.OpenId)
	}
	if msg.MessageID == "" || msg.ChatID == "" {
		return Message{}, fmt.Errorf("%w: message_id or chat_id missing", ErrBadEvent)
	}
	ms, err := strconv.ParseInt(larkcore.StringValue(m.CreateTime), 10, 64)
	if err != nil {
		return Message{}, fmt.Errorf("%w: create_time: %w", ErrBadEvent, err)
	}
	msg.CreateTime = time.UnixMilli(ms)
	for _, mn := range m.Mentions {
		if mn == nil {
			continue
		}
		men := Mention{Key: larkcore.StringValue(mn.Key)}
		if mn.Id != nil {
			men.OpenID = larkcore.StringValue(mn.Id.OpenId)
		}
		msg.Mentions = append(msg.Mentions, men)
	}
	if msg.MessageType == "text" {
		var content struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal([]byte(larkcore.StringValue(m.Content)), &content); err != nil {
			return Message{}, fmt.Errorf("%w: content: %w", ErrBadEvent, err)
		}
		msg.Text = content.Text
	}
	return msg, nil
}

// mentions reports whether openID is among the message's mentions.
func (m Message) mentions(openID string) bool {
	for _, mn := range m.Mentions {
		if mn.OpenID != "" && mn.OpenID == openID {
			return true
		}
	}
	return false
}

// commandText is the message text with mention placeholders removed.
func (m Message) commandText() string {
	keys := make([]string, len(m.Mentions))
	for i, mn := range m.Mentions {
		keys[i] = mn.Key
	}
	return Normalize(StripMentions(m.Text, keys))
}
