// Package cards builds the bot's Feishu interactive cards (Card JSON 2.0).
//
// Every card has "schema":"2.0", a config with update_multi and an i18n
// summary, a header, and its elements under body.elements; it never uses the
// note or action tags that JSON 2.0 rejects. Every text object carries
// content (English) and i18n_content with zh_cn and en_us.
//
// Trust convention: a Text argument is written by the bot and may use
// markdown; a string argument (anything a user typed or a value from Feishu)
// is untrusted and is clipped and escaped (EscapeMarkdown) or shown as
// plain_text, so it cannot inject mentions, links, tags or emoji.
//
// The package is pure: no network, no mutable package state, stdlib only.
package cards

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// MaxBytes is Feishu's limit on an encoded card (30 KB).
const MaxBytes = 30 * 1024

// ErrTooLarge is wrapped by Encode when a card exceeds MaxBytes.
var ErrTooLarge = errors.New("cards: card exceeds 30 KB")

// errEmpty is returned when encoding the zero Card, which has no header.
var errEmpty = errors.New("cards: empty card (use a builder)")

// Text is one piece of card text in the two languages the bot speaks.
type Text struct{ ZH, EN string }

// IsZero reports whether t has no text in either language.
func (t Text) IsZero() bool { return t.ZH == "" && t.EN == "" }

// filled returns t with a missing language taken from the other one, so
// that both i18n entries are non-empty whenever either is.
func (t Text) filled() Text {
	if t.ZH == "" {
		t.ZH = t.EN
	}
	if t.EN == "" {
		t.EN = t.ZH
	}
	return t
}

// tf formats zh and en with args; a Text argument contributes its own
// language to each side, any other argument the same value to both.
func tf(zh, en string, args ...any) Text {
	za := make([]any, len(args))
	ea := make([]any, len(args))
	for i, a := range args {
		if t, ok := a.(Text); ok {
			t = t.filled()
			za[i], ea[i] = t.ZH, t.EN
		} else {
			za[i], ea[i] = a, a
		}
	}
	return Text{fmt.Sprintf(zh, za...), fmt.Sprintf(en, ea...)}
}

// same is a Text that reads the same in both languages.
func same(s string) Text { return Text{s, s} }

// lines joins the non-zero texts with newlines, per language.
func lines(ts ...Text) Text {
	var zh, en []string
	for _, t := range ts {
		if t.IsZero() {
			continue
		}
		t = t.filled()
		zh, en = append(zh, t.ZH), append(en, t.EN)
	}
	return Text{strings.Join(zh, "\n"), strings.Join(en, "\n")}
}

// Value is carried by a button back to the bot in the callback's
// action.value: a flat string map chosen by the bot (nil = no button).
type Value map[string]string

// Card is one Card JSON 2.0 document. Build it with the functions of this
// package; the zero Card does not encode.
type Card struct {
	template        string
	title, subtitle Text
	elements        []any
}

// Header colours (header.template).
const (
	blue   = "blue"
	green  = "green"
	orange = "orange"
	red    = "red"
)

func newCard(template string, title, subtitle Text, elements ...any) Card {
	els := make([]any, 0, len(elements))
	for _, e := range elements {
		if e != nil {
			els = append(els, e)
		}
	}
	return Card{template: template, title: title, subtitle: subtitle, elements: els}
}

// WithNote returns c with a bot-made note line added at the end.
func WithNote(c Card, t Text) Card {
	c.elements = append(append([]any(nil), c.elements...), note(t))
	return c
}

// Wire shapes of Card JSON 2.0. Only properties Feishu documents are used:
// JSON 2.0 rejects unknown ones.
type (
	i18n struct {
		ZH string `json:"zh_cn"`
		EN string `json:"en_us"`
	}
	textObj struct {
		Tag     string `json:"tag"`
		Content string `json:"content"`
		I18n    i18n   `json:"i18n_content"`
	}
	summaryObj struct {
		Content string `json:"content"`
		I18n    i18n   `json:"i18n_content"`
	}
	wireCard struct {
		Schema string `json:"schema"`
		Config struct {
			UpdateMulti bool       `json:"update_multi"`
			Summary     summaryObj `json:"summary"`
		} `json:"config"`
		Header struct {
			Title    textObj  `json:"title"`
			Subtitle *textObj `json:"subtitle,omitempty"`
			Template string   `json:"template"`
		} `json:"header"`
		Body struct {
			Elements []any `json:"elements"`
		} `json:"body"`
	}
	markdownEl struct {
		Tag      string `json:"tag"`
		Content  string `json:"content"`
		I18n     i18n   `json:"i18n_content"`
		TextSize string `json:"text_size,omitempty"`
	}
	hrEl struct {
		Tag string `json:"tag"`
	}
	behavior struct {
		Type  string `json:"type"`
		Value Value  `json:"value"`
	}
	buttonEl struct {
		Tag       string     `json:"tag"`
		ElementID string     `json:"element_id"`
		Name      string     `json:"name"`
		Type      string     `json:"type"`
		Text      textObj    `json:"text"`
		Behaviors []behavior `json:"behaviors"`
	}
	columnEl struct {
		Tag      string `json:"tag"`
		Width    string `json:"width"`
		Weight   int    `json:"weight,omitempty"`
		Elements []any  `json:"elements"`
	}
	columnSetEl struct {
		Tag               string     `json:"tag"`
		FlexMode          string     `json:"flex_mode"`
		HorizontalSpacing string     `json:"horizontal_spacing"`
		Columns           []columnEl `json:"columns"`
	}
)

func toI18n(t Text) i18n { t = t.filled(); return i18n{ZH: t.ZH, EN: t.EN} }

func plainText(t Text) textObj {
	t = t.filled()
	return textObj{Tag: "plain_text", Content: t.EN, I18n: toI18n(t)}
}

// MarshalJSON renders the card object, e.g. for a callback answer
// {"card":{"type":"raw","data":card}}. It does not check the size; Encode does.
func (c Card) MarshalJSON() ([]byte, error) {
	if c.title.IsZero() {
		return nil, errEmpty
	}
	var w wireCard
	w.Schema = "2.0"
	w.Config.UpdateMulti = true
	t := c.title.filled()
	w.Config.Summary = summaryObj{Content: t.EN, I18n: toI18n(t)}
	w.Header.Title = plainText(c.title)
	if !c.subtitle.IsZero() {
		s := plainText(c.subtitle)
		w.Header.Subtitle = &s
	}
	w.Header.Template = c.template
	w.Body.Elements = c.elements
	if w.Body.Elements == nil {
		w.Body.Elements = []any{}
	}
	return marshal(w)
}

// Encode returns the card as JSON text for an IM message's content field.
// A card over MaxBytes gives an error wrapping ErrTooLarge.
func (c Card) Encode() (string, error) {
	b, err := c.MarshalJSON()
	if err != nil {
		return "", err
	}
	if len(b) > MaxBytes {
		return "", fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), MaxBytes)
	}
	return string(b), nil
}

// marshal is json.Marshal without HTML escaping: the entities that
// EscapeMarkdown writes stay five bytes instead of ten.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// --- element builders ---

func md(t Text) markdownEl {
	t = t.filled()
	return markdownEl{Tag: "markdown", Content: t.EN, I18n: toI18n(t)}
}

// note is small grey text (JSON 2.0 has no note element).
func note(t Text) markdownEl {
	m := md(t)
	m.TextSize = "notation"
	return m
}

func hr() hrEl { return hrEl{Tag: "hr"} }

// Button types.
const (
	btnPrimary = "primary"
	btnDefault = "default"
)

// button makes a callback button; id must start with a letter, be at most
// 20 characters and be unique in its card. A nil value gives no button.
func button(id, typ string, label Text, v Value) *buttonEl {
	if v == nil {
		return nil
	}
	return &buttonEl{
		Tag: "button", ElementID: id, Name: id, Type: typ,
		Text:      plainText(label),
		Behaviors: []behavior{{Type: "callback", Value: v}},
	}
}

// buttonRow lays buttons side by side; nil buttons are skipped and no
// buttons give nil (which newCard drops).
func buttonRow(bs ...*buttonEl) any {
	var cols []columnEl
	for _, b := range bs {
		if b != nil {
			cols = append(cols, column(0, b))
		}
	}
	switch len(cols) {
	case 0:
		return nil
	case 1:
		return cols[0].Elements[0]
	}
	return columnSet(cols...)
}

// column is one column of a column_set: weight 0 means auto width.
func column(weight int, els ...any) columnEl {
	if weight == 0 {
		return columnEl{Tag: "column", Width: "auto", Elements: els}
	}
	return columnEl{Tag: "column", Width: "weighted", Weight: weight, Elements: els}
}

func columnSet(cols ...columnEl) columnSetEl {
	return columnSetEl{Tag: "column_set", FlexMode: "none", HorizontalSpacing: "8px", Columns: cols}
}

// tableRow is one row of a table: one markdown cell per weight.
func tableRow(weights []int, cells ...Text) columnSetEl {
	cols := make([]columnEl, len(cells))
	for i, c := range cells {
		cols[i] = column(weights[i], md(c))
	}
	return columnSet(cols...)
}

// table lays out a header row (labels in bold) and one row per entry, cut
// to fit; more counts entries the caller already left out.
func table(weights []int, header []Text, rows [][]Text, more int) []any {
	body := make([]any, len(rows))
	for i, r := range rows {
		body[i] = tableRow(weights, r...)
	}
	body, dropped := fit(body)
	labels := make([]Text, len(header))
	for i, h := range header {
		labels[i] = bold(h)
	}
	els := append([]any{tableRow(weights, labels...)}, body...)
	return append(els, moreLine(max(more, 0)+dropped, Text{}))
}

// moreLine is the note under a list that was cut: "and N more not shown",
// plus an optional hint; nil when nothing was left out.
func moreLine(n int, hint Text) any {
	if n <= 0 {
		return nil
	}
	return note(lines(tf("……另有 %d 项未显示。", "…and %d more not shown", n), hint))
}

func bold(t Text) Text { return tf("**%s**", "**%s**", t) }

// field is one labelled fact of a card: label in bold, value below it.
type field struct {
	label, value Text
}

func (f field) text() Text { return lines(bold(f.label), f.value) }

// grid lays fields out two to a row.
func grid(fs ...field) []any {
	var rows []any
	for i := 0; i < len(fs); i += 2 {
		if i+1 == len(fs) {
			rows = append(rows, md(fs[i].text()))
			break
		}
		rows = append(rows, tableRow([]int{1, 1}, fs[i].text(), fs[i+1].text()))
	}
	return rows
}

// List limits: Feishu allows about 200 components per card and 30 KB.
const (
	maxRows    = 20
	rowsBudget = 20 * 1024
)

// fit keeps the leading rows that stay within maxRows and rowsBudget bytes
// and reports how many it left out.
func fit(rows []any) (kept []any, dropped int) {
	size := 0
	for i, r := range rows {
		b, err := marshal(r)
		if err != nil || i == maxRows || size+len(b) > rowsBudget {
			return rows[:i], len(rows) - i
		}
		size += len(b)
	}
	return rows, 0
}
