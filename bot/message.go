package bot

import (
	"time"

	"okrbot/cards"
)

// Message is a chat message addressed to the bot, as a receiver decoded it
// from im.message.receive_v1.
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

// Click is one press of a button (or choice in a menu) on a card the bot
// sent, as a receiver decoded it from card.action.trigger.
type Click struct {
	EventID   string
	Operator  string // open_id of who pressed
	MessageID string // the card's message
	ChatID    string // the chat the card is in (context.open_chat_id)
	Token     string // the delayed-update token
	Value     map[string]any
	Option    string // the chosen option of a menu; empty for a button
}

// Answer is the bot's answer to a click: a toast, and a card that replaces
// the clicked one in place (nil keeps the card).
type Answer struct {
	Toast Toast
	Card  *cards.Card
}

// Toast is a short notice shown to whoever clicked.
type Toast struct {
	Kind string // "info", "success", "warning" or "error"
	Text cards.Text
}

// toast builds an Answer without a card.
func toast(kind, zh, en string) Answer {
	return Answer{Toast: Toast{Kind: kind, Text: cards.Text{ZH: zh, EN: en}}}
}

// withCard builds an Answer that replaces the card.
func withCard(card cards.Card, kind, zh, en string) Answer {
	a := toast(kind, zh, en)
	a.Card = &card
	return a
}
