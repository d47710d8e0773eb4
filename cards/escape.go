package cards

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// EscapeMarkdown makes untrusted text safe to place inside a card's markdown:
// the characters that are live syntax in Feishu markdown are written as HTML
// entities (docs/feishu.md §4.7), so the text cannot produce a mention (<at>), a tag
// (<font>, <a>, <link>, …), a link [x](y), an emoji :CODE:, emphasis, code,
// a heading, a quote or a table. Control characters and line breaks (U+2028/9 too)
// become spaces (the result is one line), Unicode format characters (bidi
// overrides and isolates, zero-width characters) are dropped so that typed
// text cannot reorder the bot's own words, and invalid UTF-8 becomes U+FFFD.
// Decoding the entities gives back the text.
func EscapeMarkdown(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<', '>', '*', '_', '~', '`', '[', ']', '(', ')', '#', ':', '|', '!', '\\':
			b.WriteString("&#")
			b.WriteString(strconv.Itoa(int(r)))
			b.WriteByte(';')
		default:
			if r = flat(r); r >= 0 {
				b.WriteRune(r)
			}
		}
	}
	return b.String()
}

// flat turns control characters and line or paragraph separators into a
// space, so that untrusted text stays on one line, and drops format
// characters (category Cf: U+202A–202E, U+2066–2069, U+200B–200F, U+FEFF …),
// so that it cannot turn the card's text around. It returns -1 to drop r.
func flat(r rune) rune {
	switch {
	case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
		return ' '
	case unicode.Is(unicode.Cf, r):
		return -1
	}
	return r
}

// Length limits (in runes) for untrusted values, applied before escaping so
// that every card stays far below MaxBytes whatever it is given.
const (
	limitShort = 64  // ids, months, rule types
	limitName  = 100 // names, open_ids, log ids
	limitLine  = 200 // typed commands, technical detail
	limitMsg   = 500 // Feishu's msg
)

// clip shortens s to at most n runes, marking a cut with "…".
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for i = range s {
		if count == n-1 {
			break
		}
		count++
	}
	return s[:i] + "…"
}

// esc trims untrusted s, clips it to n runes and escapes it for markdown.
func esc(s string, n int) string { return EscapeMarkdown(clip(strings.TrimSpace(s), n)) }

// plain clips untrusted s for a plain_text object (not parsed as markdown)
// and turns control characters into spaces.
func plain(s string, n int) string {
	return strings.Map(flat, strings.ToValidUTF8(clip(s, n), "\uFFFD"))
}

// isOpenID reports whether s is a well-formed open_id (^ou_[0-9a-zA-Z_]+$),
// which may be written into markdown as is (in a mention or code span).
func isOpenID(s string) bool {
	if len(s) <= 3 || len(s) > limitName || !strings.HasPrefix(s, "ou_") {
		return false
	}
	for _, r := range s[3:] {
		if r != '_' && (r > unicode.MaxASCII || !unicode.IsLetter(r) && !unicode.IsDigit(r)) {
			return false
		}
	}
	return true
}

// mention is markdown that @-mentions a well-formed open_id and shows any
// other value as escaped text.
func mention(openID string) string {
	if isOpenID(openID) {
		return "<at id=" + openID + "></at>"
	}
	return esc(openID, limitName)
}

// showOpenID is markdown that shows an open_id so it can be copied: a
// well-formed one in a code span, anything else escaped.
func showOpenID(openID string) string {
	if isOpenID(openID) {
		return "`" + openID + "`"
	}
	return esc(openID, limitName)
}
