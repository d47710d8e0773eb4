package cards

import (
	"html"
	"strings"
	"testing"
	"unicode"
)

func TestEscapeMarkdown(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"2022-01", "2022-01"},
		{"7301234567890123456", "7301234567890123456"},
		{"周期 2022 年", "周期 2022 年"},
		{"<at id=all></at>", "&#60;at id=all&#62;&#60;/at&#62;"},
		{"[x](http://evil)", "&#91;x&#93;&#40;http&#58;//evil&#41;"},
		{"<font color=red>", "&#60;font color=red&#62;"},
		{":DONE:", "&#58;DONE&#58;"},
		{"**bold** _it_ ~~s~~ `c`", "&#42;&#42;bold&#42;&#42; &#95;it&#95; &#126;&#126;s&#126;&#126; &#96;c&#96;"},
		{"# h | t ! \\", "&#35; h &#124; t &#33; &#92;"},
		{"&#60;at&#62; &amp;", "&amp;&#35;60;at&amp;&#35;62; &amp;amp;"},
		{"a\nb\r\nc\td\u2028e\u2029f", "a b  c d e f"},
		{"bad\xffutf8", "bad\uFFFDutf8"},
	}
	for _, tt := range tests {
		if got := EscapeMarkdown(tt.in); got != tt.want {
			t.Errorf("EscapeMarkdown(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// formatTests are texts with Unicode format characters (category Cf) that
// would turn the card's own words around or hide characters: escaping and
// plain text drop them.
var formatTests = []struct {
	name, in, want string // want: the text without them (before escaping)
}{
	{"RLO", "abc\u202edef", "abcdef"},
	{"LRE RLE PDF LRO", "\u202aa\u202bb\u202cc\u202dd", "abcd"},
	{"isolates", "\u2066x\u2067y\u2068z\u2069", "xyz"},
	{"zero width", "a\u200bb\u200cc\u200dd", "abcd"},
	{"marks", "a\u200eb\u200fc", "abc"},
	{"BOM", "\ufeff2022-01", "2022-01"},
	{"word joiner, soft hyphen", "a\u2060b\u00adc", "abc"},
	{"only format", "\u202e\u2066\u200b\ufeff", ""},
	{"spoofed extension", "invoice\u202efdp.exe", "invoicefdp.exe"},
	{"around a mention", "\u202e<at id=all></at>\u202c", "<at id=all></at>"},
	{"kept: CJK and emoji", "周期 ✅ é", "周期 ✅ é"},
}

func TestEscapeDropsFormatCharacters(t *testing.T) {
	for _, tt := range formatTests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := EscapeMarkdown(tt.in), EscapeMarkdown(tt.want); got != want {
				t.Errorf("EscapeMarkdown(%q) = %q, want %q", tt.in, got, want)
			}
			if got := esc("  "+tt.in+"  ", limitLine); got != EscapeMarkdown(tt.want) {
				t.Errorf("esc(%q) = %q", tt.in, got)
			}
			if got := plain(tt.in, limitLine); got != tt.want {
				t.Errorf("plain(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestCardsDropFormatCharacters: a bidi override typed into a command, a
// month or a name reaches no card text, markdown or plain.
func TestCardsDropFormatCharacters(t *testing.T) {
	for _, tt := range formatTests {
		for name, c := range allCards(tt.in) {
			_, en := allTexts(t, c)
			zh, _ := allTexts(t, c)
			for _, text := range append(en, zh...) {
				if i := strings.IndexFunc(text, func(r rune) bool { return unicode.Is(unicode.Cf, r) }); i >= 0 {
					t.Errorf("%s/%s: %q keeps a format character", tt.name, name, text)
				}
			}
		}
	}
}

func TestPlain(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"<at id=all></at>", 100, "<at id=all></at>"}, // plain_text is not parsed
		{"a\nb\x00c\u2028d", 100, "a b c d"},
		{"bad\xffutf8", 100, "bad\uFFFDutf8"},
		{"abcdef", 4, "abc…"},
		{"\u202eabc", 100, "abc"},
	}
	for _, tt := range tests {
		if got := plain(tt.in, tt.n); got != tt.want {
			t.Errorf("plain(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

// injections are markdown constructs hostile text tries to produce.
var injections = []string{
	"<at id=all></at>", "<at ids=ou_1,ou_2></at>", "<at id=ou_1>x</at>", "[x](http://evil)", "![i](img_v2_x)",
	"<font color=red>x</font>", "<a href='http://evil'>x</a>", "<link url=\"http://evil\">x</link>", ":DONE:",
	"**x**", "<person id=ou_1></person>", "&#60;at id=all&#62;", "<text_tag color=red>x</text_tag>", "<br>",
	"<\u200bat id=all></at>", "[x]\u200d(http://evil)", ":\ufeffDONE:", "\u202e)live//:ptth(]x[",
}

// breaksLine reports the runes EscapeMarkdown must turn into spaces.
func breaksLine(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }

// checkEscaped asserts the injection property of one escaped string.
func checkEscaped(t *testing.T, in, out string) {
	t.Helper()
	for _, bad := range []string{"<at", "<a ", "<font", "<link", "](", "<", ">", "[", "]", "(", ")", "*", "`", "\n"} {
		if strings.Contains(out, bad) {
			t.Fatalf("EscapeMarkdown(%q) = %q contains %q", in, out, bad)
		}
	}
	// Only entities are left where a ':' stood, so no emoji code survives.
	if strings.Contains(out, ":") {
		t.Fatalf("EscapeMarkdown(%q) = %q contains ':'", in, out)
	}
	for _, r := range out {
		if breaksLine(r) || unicode.Is(unicode.Cf, r) {
			t.Fatalf("EscapeMarkdown(%q) = %q contains control or format character %U", in, out, r)
		}
	}
	// Every entity decodes back to the text: control characters read as
	// spaces, format characters are gone and each invalid byte reads as
	// U+FFFD (as ranging over in yields).
	var want strings.Builder
	for _, r := range in {
		switch {
		case breaksLine(r):
			r = ' '
		case unicode.Is(unicode.Cf, r):
			continue
		}
		want.WriteRune(r)
	}
	if got := html.UnescapeString(out); got != want.String() {
		t.Fatalf("unescape(EscapeMarkdown(%q)) = %q, want %q", in, got, want.String())
	}
}
func TestEscapeMarkdownInjection(t *testing.T) {
	for _, in := range injections {
		checkEscaped(t, in, EscapeMarkdown(in))
		// Whatever is around it, escaped text never becomes live.
		checkEscaped(t, "x"+in+"y", EscapeMarkdown("x"+in+"y"))
	}
}

func FuzzEscapeMarkdown(f *testing.F) {
	for _, in := range injections {
		f.Add(in)
	}
	f.Add("")
	f.Add("2022-01")
	f.Add("a\n# b\r\n> c\x00\xff")
	f.Add("\u202e<at id=all></at>\u2066\u200b\ufeff")
	f.Fuzz(func(t *testing.T, in string) {
		checkEscaped(t, in, EscapeMarkdown(in))
	})
}

func TestClip(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "ab…"},
		{"周期规则", 3, "周期…"},
		{"", 1, ""},
	}
	for _, tt := range tests {
		if got := clip(tt.in, tt.n); got != tt.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestIsOpenID(t *testing.T) {
	for s, want := range map[string]bool{
		"ou_4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d": true,
		"ou_A_b_9":                            true,
		"ou_":                                 false,
		"on_abc":                              false,
		"ou_abc def":                          false,
		"ou_abc></at><at id=all":              false,
		"ou_ábc":                              false,
		"ou_" + strings.Repeat("a", 200):      false,
	} {
		if got := isOpenID(s); got != want {
			t.Errorf("isOpenID(%q) = %v", s, got)
		}
	}
}
