package feishuemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// MaxCardBytes is Feishu's limit on a card's JSON content (30 KB).
const MaxCardBytes = 30 * 1024

// MaxTextBytes is Feishu's limit on a text message's content (150 KB).
const MaxTextBytes = 150 * 1024

// CardError is why a card was refused, in the terms of Feishu's
// "Failed to create card content, ext=ErrCode: ..." message (docs/feishu.md §4.6).
type CardError struct {
	ErrCode int    // 200621 parse error / unknown property, 200861 unsupported tag
	Path    string // "ROOT -> body -> elements -> [3](tag: note)"
	Msg     string
	Value   string
}

// Error renders the error as Feishu's 230099 msg does.
func (c *CardError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Failed to create card content, ext=ErrCode: %d; ", c.ErrCode)
	if c.Path != "" {
		fmt.Fprintf(&b, "ErrPath: %s; ", c.Path)
	}
	fmt.Fprintf(&b, "ErrMsg: %s; ", c.Msg)
	if c.Value != "" {
		fmt.Fprintf(&b, "ErrorValue: %s; ", c.Value)
	}
	return b.String()
}

const parseErrMsg = "parse card json err, please check whether the card json is correct"

// cardTopLevel reports whether k is a property a JSON 2.0 card may have;
// Feishu rejects any other (2.0 validation is strict, unlike 1.0).
func cardTopLevel(k string) bool {
	switch k {
	case "schema", "config", "card_link", "header", "body":
		return true
	}
	return false
}

// ParseCard decodes and validates card content the way the IM APIs do and
// returns the card object. It checks only structure, not size.
func ParseCard(content []byte) (map[string]any, *CardError) {
	dec := json.NewDecoder(bytes.NewReader(content))
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, &CardError{ErrCode: 200621, Msg: parseErrMsg, Value: "invalid json"}
	}
	card, ok := v.(map[string]any)
	if !ok {
		return nil, &CardError{ErrCode: 200621, Msg: parseErrMsg, Value: "the card must be a JSON object"}
	}
	if err := ValidateCard(card); err != nil {
		return nil, err
	}
	return card, nil
}

// ValidateCard checks a card object as Feishu checks JSON 2.0 cards:
// "schema" must be "2.0"; only schema, config, card_link, header and body at
// the top level; body.elements an array; no "note" or "action" tag anywhere
// (removed in 2.0); buttons' behaviors objects whose callback value, when
// present, is an object.
func ValidateCard(card map[string]any) *CardError {
	if s, ok := card["schema"].(string); !ok || s != "2.0" {
		return &CardError{ErrCode: 200621, Path: "ROOT -> schema", Msg: parseErrMsg,
			Value: fmt.Sprintf("schema must be \"2.0\" (got %s); this platform accepts only JSON 2.0 cards", jsonText(card["schema"]))}
	}
	for _, k := range sortedKeys(card) {
		if !cardTopLevel(k) {
			return &CardError{ErrCode: 200621, Path: "ROOT", Msg: parseErrMsg, Value: "unknown property, property: " + k}
		}
	}
	for _, k := range []string{"config", "card_link", "header"} {
		if v, ok := card[k]; ok {
			if _, isObj := v.(map[string]any); !isObj {
				return &CardError{ErrCode: 200621, Path: "ROOT -> " + k, Msg: parseErrMsg, Value: k + " must be an object"}
			}
		}
	}
	body, ok := card["body"].(map[string]any)
	if !ok {
		return &CardError{ErrCode: 200621, Path: "ROOT -> body", Msg: parseErrMsg, Value: "body is required and must be an object"}
	}
	if _, ok := body["elements"].([]any); !ok {
		return &CardError{ErrCode: 200621, Path: "ROOT -> body -> elements", Msg: parseErrMsg, Value: "body.elements is required and must be an array"}
	}
	var found *CardError
	walkCard(body, "ROOT -> body", func(path string, el map[string]any) bool {
		tag, _ := el["tag"].(string)
		switch tag {
		case "note", "action":
			found = &CardError{ErrCode: 200861, Path: path, Msg: "cards of schema V2 no longer support this capability", Value: "unsupported tag " + tag}
			return false
		case "button":
			if err := checkBehaviors(path, el); err != nil {
				found = err
				return false
			}
		}
		return true
	})
	return found
}

func checkBehaviors(path string, button map[string]any) *CardError {
	raw, ok := button["behaviors"]
	if !ok {
		return nil
	}
	list, ok := raw.([]any)
	if !ok {
		return &CardError{ErrCode: 200621, Path: path + " -> behaviors", Msg: parseErrMsg, Value: "behaviors must be an array"}
	}
	for i, b := range list {
		obj, ok := b.(map[string]any)
		p := fmt.Sprintf("%s -> behaviors -> [%d]", path, i)
		if !ok {
			return &CardError{ErrCode: 200621, Path: p, Msg: parseErrMsg, Value: "a behavior must be an object"}
		}
		if v, has := obj["value"]; has {
			if _, isObj := v.(map[string]any); !isObj {
				return &CardError{ErrCode: 200621, Path: p + " -> value", Msg: parseErrMsg,
					Value: "the callback value must be an object (the SDK cannot decode other values)"}
			}
		}
	}
	return nil
}

// walkCard visits every object that has a "tag", in document order, with
// its path in Feishu's ErrPath notation. visit returns false to stop.
func walkCard(v any, path string, visit func(path string, el map[string]any) bool) bool {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range docOrder(x) {
			child := x[k]
			switch c := child.(type) {
			case []any:
				for i, item := range c {
					seg := fmt.Sprintf("%s -> %s -> [%d]", path, k, i)
					if m, ok := item.(map[string]any); ok {
						if tag, ok := m["tag"].(string); ok {
							seg += "(tag: " + tag + ")"
							if !visit(seg, m) {
								return false
							}
						}
					}
					if !walkCard(item, seg, visit) {
						return false
					}
				}
			case map[string]any:
				seg := path + " -> " + k
				if _, ok := c["tag"].(string); ok {
					if !visit(seg, c) {
						return false
					}
				}
				if !walkCard(c, seg, visit) {
					return false
				}
			}
		}
	case []any:
		for i, item := range x {
			if !walkCard(item, fmt.Sprintf("%s -> [%d]", path, i), visit) {
				return false
			}
		}
	}
	return true
}

// docOrder orders an object's keys so that container contents come in the
// order a reader sees them: "body" and "elements" and "columns" first (Go
// maps have no order, and these hold the visible sequence), the rest sorted.
func docOrder(m map[string]any) []string {
	rank := func(k string) int {
		switch k {
		case "header":
			return 0
		case "body":
			return 1
		case "elements":
			return 2
		case "columns":
			return 3
		}
		return 4
	}
	keys := sortedKeys(m)
	sort.SliceStable(keys, func(i, j int) bool { return rank(keys[i]) < rank(keys[j]) })
	return keys
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func jsonText(v any) string {
	if v == nil {
		return "nothing"
	}
	return string(marshal(v))
}

// Button is a button found in a card.
type Button struct {
	Text   string // text.content
	TextZh string // text.i18n_content.zh_cn
	TextEn string // text.i18n_content.en_us
	// Value is the first callback behavior's value (nil for a button that
	// only opens a URL).
	Value map[string]any
	URL   string // the open_url behavior's default_url, if any
	Name  string // the button's name, delivered as action.name
	Type  string // the button's style (primary, danger, …)
}

// Buttons returns every button of the card in document order (body.elements,
// columns, forms, panels…).
func Buttons(card map[string]any) []Button {
	var out []Button
	walkCard(card, "ROOT", func(_ string, el map[string]any) bool {
		if el["tag"] != "button" {
			return true
		}
		var b Button
		b.Name, _ = el["name"].(string)
		b.Type, _ = el["type"].(string)
		if t, ok := el["text"].(map[string]any); ok {
			b.Text, _ = t["content"].(string)
			if i18n, ok := t["i18n_content"].(map[string]any); ok {
				b.TextZh, _ = i18n["zh_cn"].(string)
				b.TextEn, _ = i18n["en_us"].(string)
			}
		}
		list, _ := el["behaviors"].([]any)
		for _, raw := range list {
			beh, _ := raw.(map[string]any)
			switch beh["type"] {
			case "callback":
				if v, ok := beh["value"].(map[string]any); ok && b.Value == nil {
					b.Value = deepCopyMap(v)
				}
			case "open_url":
				if b.URL == "" {
					b.URL, _ = beh["default_url"].(string)
				}
			}
		}
		out = append(out, b)
		return true
	})
	return out
}

// ButtonValues returns every callback button's behaviors[].value in document
// order, for tests and UIs that need to press buttons.
func ButtonValues(card map[string]any) []map[string]any {
	var out []map[string]any
	for _, b := range Buttons(card) {
		if b.Value != nil {
			out = append(out, b.Value)
		}
	}
	return out
}

// CardTexts returns every "content" string of the card (markdown, plain_text
// and lark_md texts, in document order) — handy to assert what a card says.
func CardTexts(card map[string]any) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if c, ok := x["content"].(string); ok {
				out = append(out, c)
			}
			if i18n, ok := x["i18n_content"].(map[string]any); ok {
				for _, k := range sortedKeys(i18n) {
					if s, ok := i18n[k].(string); ok {
						out = append(out, s)
					}
				}
			}
			for _, k := range docOrder(x) {
				if k != "content" && k != "i18n_content" {
					walk(x[k])
				}
			}
		case []any:
			for _, item := range x {
				walk(item)
			}
		}
	}
	walk(card)
	return out
}

// deepCopyMap copies a decoded JSON object so that callers cannot mutate the
// emulator's state (or race with it) through a returned card.
func deepCopyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = deepCopy(v)
	}
	return out
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return deepCopyMap(x)
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			out[i] = deepCopy(item)
		}
		return out
	}
	return v
}
