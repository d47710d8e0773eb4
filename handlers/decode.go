package handlers

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	json "github.com/goccy/go-json"
	larkcore "github.com/larksuite/oapi-sdk-go/v3/core"
	"github.com/larksuite/oapi-sdk-go/v3/event/dispatcher/callback"
	larkim "github.com/larksuite/oapi-sdk-go/v3/service/im/v1"

	"okrbot/bot"
)

// ErrBadEvent reports an event body that cannot be read.
var ErrBadEvent = errors.New("malformed event")

// wireMessage is the part of im.message.receive_v1 the bot reads, in the
// SDK's field names: decoding only these keeps the ack path lean. It is
// decoded with goccy/go-json, which is faster than encoding/json but has
// panicked on malformed input (see the fuzz corpus of FuzzVerifierOpen): it
// only ever sees an event that passed Verifier.Open, where encoding/json
// has already checked that it is well-formed JSON, from Feishu.
type wireMessage struct {
	Sender struct {
		SenderID struct {
			OpenID *string `json:"open_id"`
		} `json:"sender_id"`
		SenderType *string `json:"sender_type"`
	} `json:"sender"`
	Message *struct {
		MessageID   *string `json:"message_id"`
		ChatID      *string `json:"chat_id"`
		ChatType    *string `json:"chat_type"`
		MessageType *string `json:"message_type"`
		Content     *string `json:"content"`
		CreateTime  *string `json:"create_time"`
		Mentions    []struct {
			Key *string `json:"key"`
			ID  struct {
				OpenID *string `json:"open_id"`
			} `json:"id"`
		} `json:"mentions"`
	} `json:"message"`
}

// DecodeMessage reads the body of an im.message.receive_v1 event into the
// bot's Message, as the webhook receives it.
func DecodeMessage(eventID string, raw json.RawMessage) (bot.Message, error) {
	var w wireMessage
	if err := json.Unmarshal(raw, &w); err != nil {
		return bot.Message{}, fmt.Errorf("%w: %w", ErrBadEvent, err)
	}
	if w.Message == nil || w.Sender.SenderType == nil {
		return bot.Message{}, fmt.Errorf("%w: message or sender missing", ErrBadEvent)
	}
	m := w.Message
	data := &larkim.P2MessageReceiveV1Data{
		Sender: &larkim.EventSender{SenderId: &larkim.UserId{OpenId: w.Sender.SenderID.OpenID}, SenderType: w.Sender.SenderType},
		Message: &larkim.EventMessage{MessageId: m.MessageID, ChatId: m.ChatID, ChatType: m.ChatType,
			MessageType: m.MessageType, Content: m.Content, CreateTime: m.CreateTime},
	}
	for _, mn := range m.Mentions {
		data.Message.Mentions = append(data.Message.Mentions, &larkim.MentionEvent{Key: mn.Key, Id: &larkim.UserId{OpenId: mn.ID.OpenID}})
	}
	return MessageFromSDK(eventID, data)
}

// MessageFromSDK turns the SDK's decoded message event into the bot's
// Message.
func MessageFromSDK(eventID string, data *larkim.P2MessageReceiveV1Data) (bot.Message, error) {
	if data == nil || data.Message == nil || data.Sender == nil {
		return bot.Message{}, fmt.Errorf("%w: message or sender missing", ErrBadEvent)
	}
	m := data.Message
	msg := bot.Message{
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
	if eventID == "" || msg.MessageID == "" || msg.ChatID == "" {
		return bot.Message{}, fmt.Errorf("%w: event_id, message_id or chat_id missing", ErrBadEvent)
	}
	ms, err := strconv.ParseInt(larkcore.StringValue(m.CreateTime), 10, 64)
	if err != nil {
		return bot.Message{}, fmt.Errorf("%w: create_time: %w", ErrBadEvent, err)
	}
	msg.CreateTime = time.UnixMilli(ms)
	for _, mn := range m.Mentions {
		if mn == nil {
			continue
		}
		men := bot.Mention{Key: larkcore.StringValue(mn.Key)}
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
			return bot.Message{}, fmt.Errorf("%w: content: %w", ErrBadEvent, err)
		}
		msg.Text = content.Text
	}
	return msg, nil
}

// DecodeClick reads the body of a card.action.trigger callback into the
// bot's Click.
func DecodeClick(eventID string, raw json.RawMessage) (bot.Click, error) {
	var ev callback.CardActionTriggerRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		return bot.Click{}, fmt.Errorf("%w: %w", ErrBadEvent, err)
	}
	return ClickFromSDK(eventID, &ev)
}

// ClickFromSDK turns the SDK's decoded callback into the bot's Click.
func ClickFromSDK(eventID string, ev *callback.CardActionTriggerRequest) (bot.Click, error) {
	if ev == nil || ev.Action == nil || ev.Operator == nil || ev.Context == nil {
		return bot.Click{}, fmt.Errorf("%w: action, operator or context missing", ErrBadEvent)
	}
	return bot.Click{
		EventID: eventID, Operator: ev.Operator.OpenID, MessageID: ev.Context.OpenMessageID,
		ChatID: ev.Context.OpenChatID, Token: ev.Token, Value: ev.Action.Value, Option: ev.Action.Option,
	}, nil
}

// AnswerToSDK turns the bot's answer into the callback response Feishu
// expects: {"toast": …, "card": {"type": "raw", "data": …}}.
func AnswerToSDK(a bot.Answer) *callback.CardActionTriggerResponse {
	resp := &callback.CardActionTriggerResponse{Toast: &callback.Toast{
		Type: a.Toast.Kind, Content: a.Toast.Text.EN,
		I18nContent: map[string]string{"zh_cn": a.Toast.Text.ZH, "en_us": a.Toast.Text.EN},
	}}
	if a.Card != nil {
		resp.Card = &callback.Card{Type: "raw", Data: *a.Card}
	}
	return resp
}
