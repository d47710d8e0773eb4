package cards

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// This file holds the Card JSON 2.0 validator the other tests run over
// every card, and small helpers to look inside cards.

var (
	elementIDRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,19}$`)
	templates   = map[string]bool{"blue": true, "wathet": true, "turquoise": true, "green": true, "yellow": true,
		"orange": true, "red": true, "carmine": true, "violet": true, "purple": true, "indigo": true, "grey": true, "default": true}
	textTags = map[string]bool{"plain_text": true, "lark_md": true, "markdown": true}
	// buttonTypes and buttonSizes are the values JSON 2.0 takes (docs/feishu.md §4.4).
	buttonTypes = map[string]bool{"default": true, "primary": true, "danger": true, "text": true, "primary_text": true,
		"danger_text": true, "primary_filled": true, "danger_filled": true, "laser": true}
	buttonSizes = map[string]bool{"tiny": true, "small": true, "medium": true, "large": true}
	// liveInjections must never appear in markdown built from hostile input.
	liveInjections = []string{"<at id=all", "<at ids", "<a ", "<font", "<link", "](", ":DONE:", "<person", "http://evil"}
)

// maxComponents is Feishu's limit on the components of one card (docs/feishu.md §4.3).
const maxComponents = 200

// decode encodes c and parses it back, failing the test on any error.
func decode(t testing.TB, c Card) map[string]any {
	t.Helper()
	s, err := c.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("card is not JSON: %v\n%s", err, s)
	}
	return m
}

// validate asserts that c obeys the rules Feishu enforces on Card JSON 2.0
// and the rules of this package. hostile says whether the card was built
// from hostile input, whose markdown must then carry no live injection.
func validate(t testing.TB, c Card, hostile bool) {
	t.Helper()
	s, err := c.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if len(s) > MaxBytes {
		t.Errorf("card is %d bytes, over %d", len(s), MaxBytes)
	}
	m := decode(t, c)
	for k := range m {
		switch k {
		case "schema", "config", "header", "body":
		default:
			t.Errorf("top-level key %q not allowed", k)
		}
	}
	if m["schema"] != "2.0" {
		t.Errorf("schema = %v, want 2.0", m["schema"])
	}
	cfg, _ := m["config"].(map[string]any)
	if cfg["update_multi"] != true {
		t.Errorf("config.update_multi = %v, want true", cfg["update_multi"])
	}
	checkI18n(t, "config.summary", cfg["summary"])
	hdr, _ := m["header"].(map[string]any)
	if !templates[str(hdr["template"])] {
		t.Errorf("header.template %q is not a Feishu colour", hdr["template"])
	}
	checkText(t, "header.title", hdr["title"])
	if sub, ok := hdr["subtitle"]; ok {
		checkText(t, "header.subtitle", sub)
	}
	body, _ := m["body"].(map[string]any)
	if _, ok := body["elements"].([]any); !ok {
		t.Fatalf("body.elements missing or not an array: %v", body)
	}

	ids := map[string]bool{}
	components := 0
	walk(m, "ROOT", func(path string, obj map[string]any) {
		tag := str(obj["tag"])
		if tag != "" && tag != "plain_text" && tag != "lark_md" {
			components++
		}
		// No text may carry a format character (bidi override or isolate,
		// zero-width character): the bot's own text has none, and untrusted
		// text has them dropped.
		if _, ok := obj["i18n_content"]; ok {
			for _, text := range texts(obj) {
				if i := strings.IndexFunc(text, func(r rune) bool { return unicode.Is(unicode.Cf, r) }); i >= 0 {
					t.Errorf("%s: text carries format character %U: %q", path, []rune(text[i:])[0], text)
				}
			}
		}
		switch {
		case tag == "note" || tag == "action":
			t.Errorf("%s: tag %q is not allowed in JSON 2.0", path, tag)
		case textTags[tag]:
			checkText(t, path, obj)
			if hostile && tag != "plain_text" {
				for _, text := range texts(obj) {
					for _, bad := range liveInjections {
						if strings.Contains(text, bad) {
							t.Errorf("%s: markdown carries live %q: %q", path, bad, text)
						}
					}
				}
			}
		case tag == "button":
			id := str(obj["element_id"])
			if !elementIDRe.MatchString(id) {
				t.Errorf("%s: bad element_id %q", path, id)
			}
			if ids[id] {
				t.Errorf("%s: duplicate element_id %q", path, id)
			}
			ids[id] = true
			if size, ok := obj["size"]; ok && !buttonSizes[str(size)] {
				t.Errorf("%s: button size %v", path, size)
			}
			if !buttonTypes[str(obj["type"])] {
				t.Errorf("%s: button type %q", path, obj["type"])
			}
			if str(obj["name"]) == "" || str(obj["type"]) == "" {
				t.Errorf("%s: button without name or type: %v", path, obj)
			}
			if txt, _ := obj["text"].(map[string]any); str(txt["tag"]) != "plain_text" {
				t.Errorf("%s: button text must be plain_text: %v", path, obj["text"])
			}
			bs, _ := obj["behaviors"].([]any)
			if len(bs) == 0 {
				t.Errorf("%s: button without behaviors", path)
			}
			for _, b := range bs {
				bm, _ := b.(map[string]any)
				if _, ok := bm["value"].(map[string]any); bm["type"] != "callback" || !ok {
					t.Errorf("%s: behavior must be a callback with an object value: %v", path, b)
				}
			}
		}
	})
	if components > maxComponents {
		t.Errorf("card has %d components, over %d", components, maxComponents)
	}
}

// checkText asserts v is a text object with content and both i18n entries.
func checkText(t testing.TB, path string, v any) {
	t.Helper()
	obj, ok := v.(map[string]any)
	if !ok {
		t.Errorf("%s: not a text object: %v", path, v)
		return
	}
	if !textTags[str(obj["tag"])] {
		t.Errorf("%s: text object tag %q", path, obj["tag"])
	}
	checkI18n(t, path, obj)
}

func checkI18n(t testing.TB, path string, v any) {
	t.Helper()
	obj, _ := v.(map[string]any)
	if str(obj["content"]) == "" {
		t.Errorf("%s: empty content: %v", path, v)
	}
	in, _ := obj["i18n_content"].(map[string]any)
	if str(in["zh_cn"]) == "" || str(in["en_us"]) == "" {
		t.Errorf("%s: i18n_content needs zh_cn and en_us: %v", path, v)
	}
}

// walk calls fn on every object in v, depth first.
func walk(v any, path string, fn func(path string, obj map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		fn(path, x)
		for k, c := range x {
			walk(c, path+"."+k, fn)
		}
	case []any:
		for i, c := range x {
			walk(c, path+"["+strconv.Itoa(i)+"]", fn)
		}
	}
}

func str(v any) string { s, _ := v.(string); return s }

// texts returns content and both i18n entries of a text object.
func texts(obj map[string]any) []string {
	in, _ := obj["i18n_content"].(map[string]any)
	return []string{str(obj["content"]), str(in["zh_cn"]), str(in["en_us"])}
}

// allTexts returns every text of a card, each language separately.
func allTexts(t testing.TB, c Card) (zh, en []string) {
	t.Helper()
	walk(decode(t, c), "ROOT", func(_ string, obj map[string]any) {
		if in, ok := obj["i18n_content"].(map[string]any); ok {
			zh, en = append(zh, str(in["zh_cn"])), append(en, str(in["en_us"]))
		}
	})
	return zh, en
}

// shows reports whether some text of the card, in the language, contains sub.
func shows(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// buttons returns the card's buttons by element_id.
func buttons(t testing.TB, c Card) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	walk(decode(t, c), "ROOT", func(_ string, obj map[string]any) {
		if obj["tag"] == "button" {
			out[str(obj["element_id"])] = obj
		}
	})
	return out
}

// buttonValue returns the callback value of a button.
func buttonValue(b map[string]any) map[string]any {
	bs, _ := b["behaviors"].([]any)
	if len(bs) == 0 {
		return nil
	}
	bm, _ := bs[0].(map[string]any)
	v, _ := bm["value"].(map[string]any)
	return v
}

func headerTemplate(t testing.TB, c Card) string {
	hdr, _ := decode(t, c)["header"].(map[string]any)
	return str(hdr["template"])
}
